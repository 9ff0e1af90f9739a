// Number and date formatting. Money for people is cents, with more digits only below a cent:
// "$33.80", "$0.16", "$50.00", "$0.0032" — the rule of `money` in aiusage/money.py and `money_text`
// in shared/reports.py, held to the same cases (tests/fixtures/money-cases.json, `npm test`).
// The API's exact amount is `exactMoney`, shown on hover (title) wherever an amount is shown.

const GROUP = /\B(?=(\d{3})+(?!\d))/g;
const CENT_MICROS = 10_000;

function grouped(whole: string): string {
  return whole.replace(GROUP, ",");
}

/** Whole micro-dollars of a JSON amount: the API's 6 places, half-up (15 digits survive a double). */
function microsOf(value: number): number {
  return Math.round(Number((Math.abs(value) * 1e6).toPrecision(15)));
}

export function money(value: number | null | undefined, signed = false): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  let micros = microsOf(value);
  const sign = micros === 0 ? "" : value < 0 ? "-" : signed ? "+" : "";
  if (micros > 0 && micros < CENT_MICROS) {
    const step = 10 ** Math.max(0, String(micros).length - 2); // two significant digits
    micros = Math.floor((micros + step / 2) / step) * step;
    if (micros < CENT_MICROS) return `${sign}$0.${String(micros).padStart(6, "0").replace(/0+$/, "")}`;
  }
  const cents = Math.floor((micros + CENT_MICROS / 2) / CENT_MICROS);
  return `${sign}$${grouped(String(Math.floor(cents / 100)))}.${String(cents % 100).padStart(2, "0")}`;
}

/** The API's amount with nothing rounded away ("$33.800577", "$0.00283", "$2.50"): hover text and prices. */
export function exactMoney(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const micros = microsOf(value);
  const fraction = String(micros % 1e6).padStart(6, "0").replace(/0+$/, "").padEnd(2, "0");
  return `${micros && value < 0 ? "-" : ""}$${grouped(String(Math.floor(micros / 1e6)))}.${fraction}`;
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
