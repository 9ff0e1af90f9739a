// Number and date formatting. Money follows the API's reports (`money_text` in shared/reports.py):
// the API's amount, already rounded half-up to 6 decimals, shown with trailing zeros dropped but
// at least 2 decimals, so "$31.564437", "$20.00", "$0.00025" — never re-rounded, never hidden.

const GROUP = /\B(?=(\d{3})+(?!\d))/g;

function grouped(whole: string): string {
  return whole.replace(GROUP, ",");
}

export function money(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const negative = value < 0 && Math.abs(value) >= 5e-7;
  const [whole, fraction = ""] = Math.abs(value).toFixed(6).split(".");
  const digits = fraction.replace(/0+$/, "").padEnd(2, "0");
  return `${negative ? "-" : ""}$${grouped(whole)}.${digits}`;
}

/** Axis labels: every tick with the decimals its step needs (at least 2 below $1 steps). */
export function moneyTick(value: number, step: number): string {
  if (step >= 1 && Number.isInteger(step)) return `$${grouped(Math.round(value).toString())}`;
  const stepDecimals = (Number(step.toPrecision(6)).toString().split(".")[1] ?? "").length;
  return `$${value.toFixed(Math.min(6, Math.max(2, stepDecimals)))}`;
}

export function integer(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return (value < 0 ? "-" : "") + grouped(Math.abs(Math.round(value)).toString());
}

export function percent(ratio: number | null | undefined, places = 1): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "–";
  return `${(ratio * 100).toFixed(places)}%`;
}

/** Sum money exactly: in whole micro-dollars (the API's 6 decimals), then back. */
export function sumMoney(values: Iterable<number>): number {
  let micros = 0;
  for (const v of values) micros += Math.round(v * 1e6);
  return micros / 1e6;
}

// --- dates (all UTC, like the API) ---

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY_MS = 86_400_000;

export function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

export function parseDay(day: string): number {
  return Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)));
}

export function dayString(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return dayString(parseDay(day) + days * DAY_MS);
}

/** Inclusive number of days from start to end. */
export function daySpan(start: string, end: string): number {
  return Math.round((parseDay(end) - parseDay(start)) / DAY_MS) + 1;
}

export function isDay(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(value) && dayString(parseDay(value)) === value;
}

export function shortDay(day: string): string {
  return `${MONTHS[Number(day.slice(5, 7)) - 1]} ${Number(day.slice(8, 10))}`;
}

export function longDay(day: string): string {
  return `${shortDay(day)}, ${day.slice(0, 4)}`;
}

/** "2026-11-24T06:02:15Z" -> "Nov 24, 06:02 UTC". */
export function timestamp(value: string | null | undefined): string {
  if (!value) return "–";
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return value;
  const iso = new Date(ms).toISOString();
  return `${shortDay(iso.slice(0, 10))}, ${iso.slice(11, 16)} UTC`;
}

export function relative(value: string | null | undefined, now = Date.now()): string {
  if (!value) return "";
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return "";
  const minutes = Math.round((now - ms) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}
