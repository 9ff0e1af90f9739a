// The dashboard's panels, each rendered from one API answer into its container.

import type { Alert, Budget, ReportListing, Summary, Totals, Usage } from "./api";
import { drawSpend, type Series } from "./charts";
import { empty, fill, h, type Child } from "./dom";
import {
  addDays,
  daySpan,
  exactMoney,
  integer,
  longDay,
  money,
  percent,
  relative,
  shortDay,
  sumMoney,
  timestamp,
} from "./format";
import { renderMarkdown } from "./markdown";
import { MAX_SERIES, OTHER } from "./palette";

export const NONE_KEY = "(none)";
const TOP_N = 10;

/** An amount for people (cents), with the API's exact value on hover. */
function usd(value: number | null | undefined): { text: string; title: string } {
  return { text: money(value), title: exactMoney(value) };
}

// --- summary tiles ---

export function renderTiles(root: HTMLElement, summary: Summary, byService: Record<string, Totals>): void {
  const set = (metric: string, text: string, title?: string) => {
    const el = root.querySelector<HTMLElement>(`[data-metric="${metric}"]`);
    if (el) {
      el.textContent = text;
      el.dataset.value = String((summary as unknown as Record<string, number>)[metric]);
      if (title) el.title = title;
    }
  };
  set("total_cost_usd", money(summary.total_cost_usd), exactMoney(summary.total_cost_usd));
  set("total_api_calls", integer(summary.total_api_calls));
  set("events", integer(summary.events));
  set("total_tokens", integer(summary.total_tokens));
  set("unpriced_events", integer(summary.unpriced_events));

  fill(root.querySelector("[data-sub=cost]")!, "avg ", h("span", usd(summary.average_cost_per_call)), " per call");
  fill(
    root.querySelector("[data-sub=tokens]")!,
    `${integer(summary.input_tokens)} in · ${integer(summary.output_tokens)} out`,
    summary.cache_read_tokens ? ` · ${integer(summary.cache_read_tokens)} cache reads` : "",
  );
  const tile = root.querySelector<HTMLElement>("#tile-unpriced")!;
  const sub = root.querySelector<HTMLElement>("[data-sub=unpriced]")!;
  if (summary.unpriced_events > 0) {
    tile.classList.add("attention");
    const where = Object.entries(byService)
      .filter(([, t]) => t.unpriced_events > 0)
      .sort((a, b) => b[1].unpriced_events - a[1].unpriced_events)
      .map(([s, t]) => `${label(s)} (${integer(t.unpriced_events)})`);
    fill(sub, h("span", { class: "flag", "aria-hidden": "true", text: "!" }), " No price known, so not in the total cost",
      where.length ? `: ${where.join(", ")}` : "");
  } else {
    tile.classList.remove("attention");
    fill(sub, "Every event in this range has a price");
  }
}

// --- spend over time ---

export interface SpendInput {
  usage: Usage;
  start: string;
  end: string;
  hourly: boolean;
  colours: Map<string, string>;
}

export function renderSpend(root: HTMLElement, input: SpendInput): void {
  const { usage, start, end, hourly, colours } = input;
  if (usage.summary.events === 0) {
    fill(root, empty(`No usage recorded from ${longDay(start)} to ${longDay(end)}.`,
      "Pick a longer range, another service, or record usage with POST /ai_usage."));
    return;
  }
  const bucketName = hourly ? "hour" : "day";
  const buckets = hourly ? hoursOf(start, end) : daysOf(start, end);
  const index = new Map(buckets.map((b, n) => [b, n]));
  const services = ranked(usage.aggregations.by_service ?? {}).map(([s]) => s);
  const shown = services.slice(0, services.length > MAX_SERIES ? MAX_SERIES - 1 : MAX_SERIES);
  const grouped = new Set(services.slice(shown.length));
  const micros = new Map<string, number[]>();
  for (const name of [...shown, ...(grouped.size ? ["other"] : [])]) micros.set(name, buckets.map(() => 0));
  for (const row of usage.rows) {
    const n = index.get(String(row[bucketName]));
    if (n === undefined) continue;
    const service = String(row.service ?? NONE_KEY);
    const series = micros.get(grouped.has(service) ? "other" : service);
    if (series) series[n] += Math.round(Number(row.cost_usd) * 1e6);
  }
  const series: Series[] = [...micros.entries()].map(([name, values]) => ({
    label: name === "other" ? `${grouped.size} other services` : label(name),
    colour: name === "other" ? OTHER : colours.get(name) ?? OTHER,
    values: values.map((v) => v / 1e6),
  }));
  const totals = buckets.map((_, n) => sumMoney(series.map((s) => s.values[n])));
  const labels = buckets.map((b) => (hourly ? (b.endsWith("T00") ? `${shortDay(b)} 00h` : `${b.slice(11)}h`) : shortDay(b)));
  const titles = buckets.map((b) => (hourly ? `${longDay(b.slice(0, 10))}, ${b.slice(11)}:00–${b.slice(11)}:59 UTC` : longDay(b)));

  const canvas = h("canvas", {
    role: "img",
    "aria-label": `Stacked bar chart of cost per ${bucketName} by service from ${start} to ${end}; the numbers are in the table below.`,
  });
  const total = usage.summary.total_cost_usd;
  const legend = h(
    "table",
    { class: "ranked legend", "aria-label": "Cost by service" },
    h("thead", null, h("tr", null, h("th", { scope: "col", text: "Service" }), h("th", { scope: "col", class: "num", text: "Cost" }),
      h("th", { scope: "col", class: "num", text: "Share" }), h("th", { scope: "col", class: "num calls", text: "Calls" }))),
    h("tbody", null, ranked(usage.aggregations.by_service ?? {}).map(([service, t]) =>
      h("tr", { "data-service": service },
        h("th", { scope: "row" }, h("span", { class: "swatch", style: `background:${colours.get(service) ?? OTHER}`, "aria-hidden": "true" }),
          label(service), unpricedBadge(t)),
        h("td", { class: "num", ...usd(t.cost_usd) }),
        h("td", { class: "num", text: share(t.cost_usd, total) }),
        h("td", { class: "num calls", text: integer(t.api_calls) })))),
  );
  const table = h(
    "details",
    { class: "numbers" },
    h("summary", { text: `Show the numbers per ${bucketName}` }),
    h("div", { class: "table-scroll" },
      h("table", { class: "ranked" },
        h("thead", null, h("tr", null, h("th", { scope: "col", text: hourly ? "Hour (UTC)" : "Day" }),
          series.map((s) => h("th", { scope: "col", class: "num", text: s.label })), h("th", { scope: "col", class: "num", text: "Total" }))),
        h("tbody", null, buckets.map((b, n) => totals[n] === 0 ? null :
          h("tr", null, h("th", { scope: "row", text: hourly ? `${b.slice(0, 10)} ${b.slice(11)}:00` : b }),
            series.map((s) => h("td", { class: "num", ...(s.values[n] ? usd(s.values[n]) : { text: "–" }) })),
            h("td", { class: "num", ...usd(totals[n]) })))))),
  );
  fill(root, h("div", { class: "spend" }, h("div", { class: "chart-box" }, canvas), legend), table);
  drawSpend(canvas, { labels, titles, series, totals });
}

function daysOf(start: string, end: string): string[] {
  return Array.from({ length: daySpan(start, end) }, (_, n) => addDays(start, n));
}

function hoursOf(start: string, end: string): string[] {
  return daysOf(start, end).flatMap((d) => Array.from({ length: 24 }, (_, hour) => `${d}T${String(hour).padStart(2, "0")}`));
}

// --- ranked breakdowns (model, operation, top users / jobs / repositories) ---

export interface RankedOptions {
  what: string; // column heading: "Model", "User", ...
  total: number; // share denominator: the range's total cost
  noneLabel: string;
  attributedOnly?: boolean; // top lists: unattributed usage is a footnote, not a rank
  emptyText: string;
  emptyHint?: string;
}

export function renderRanked(root: HTMLElement, entries: Record<string, Totals> | undefined, o: RankedOptions): void {
  const all = ranked(entries ?? {});
  const none = all.find(([k]) => k === NONE_KEY);
  const list = o.attributedOnly ? all.filter(([k]) => k !== NONE_KEY) : all;
  if (!list.length) {
    fill(root, empty(o.emptyText, none && o.attributedOnly
      ? `All ${money(none[1].cost_usd)} of spend in this range has no ${o.what.toLowerCase()} attached.` : o.emptyHint));
    return;
  }
  const top = list.slice(0, TOP_N);
  const rest = list.slice(TOP_N);
  const max = Math.max(...top.map(([, t]) => t.cost_usd), 0);
  const rows: Child[] = top.map(([key, t], n) =>
    h("tr", { "data-key": key },
      h("td", { class: "rank", text: String(n + 1) }),
      h("th", { scope: "row", class: "name" },
        h("span", { class: "name-line" },
          h("span", { class: key === NONE_KEY ? "label none" : "label", title: key === NONE_KEY ? undefined : key, text: key === NONE_KEY ? o.noneLabel : key }),
          unpricedBadge(t)),
        h("span", { class: "meter", "aria-hidden": "true" }, h("span", { style: `width:${max ? (t.cost_usd / max) * 100 : 0}%` }))),
      h("td", { class: "num", ...usd(t.cost_usd) }),
      h("td", { class: "num", text: share(t.cost_usd, o.total) }),
      h("td", { class: "num calls", text: integer(t.api_calls) })));
  const foot: Child[] = [];
  if (rest.length) {
    const restUnpriced = rest.reduce((a, [, t]) => a + t.unpriced_events, 0);
    foot.push(h("tr", { class: "more" }, h("td"),
      h("th", { scope: "row" }, `${rest.length} more`, unpricedBadge({ unpriced_events: restUnpriced } as Totals)),
      h("td", { class: "num", ...usd(sumMoney(rest.map(([, t]) => t.cost_usd))) }),
      h("td", { class: "num", text: share(sumMoney(rest.map(([, t]) => t.cost_usd)), o.total) }),
      h("td", { class: "num calls", text: integer(rest.reduce((a, [, t]) => a + t.api_calls, 0)) })));
  }
  if (o.attributedOnly && none) {
    foot.push(h("tr", { class: "more" }, h("td"), h("th", { scope: "row", text: `No ${o.what.toLowerCase()}` }),
      h("td", { class: "num", ...usd(none[1].cost_usd) }), h("td", { class: "num", text: share(none[1].cost_usd, o.total) }),
      h("td", { class: "num calls", text: integer(none[1].api_calls) })));
  }
  fill(root, h("table", { class: "ranked" },
    h("thead", null, h("tr", null, h("th", { scope: "col", class: "rank", text: "#" }), h("th", { scope: "col", text: o.what }),
      h("th", { scope: "col", class: "num", text: "Cost" }), h("th", { scope: "col", class: "num", text: "Share" }),
      h("th", { scope: "col", class: "num calls", text: "Calls" }))),
    h("tbody", null, rows),
    foot.length ? h("tfoot", null, foot) : null));
}

// --- budgets ---

const STATE_TEXT: Record<string, string> = { ok: "OK", warning: "Warning", critical: "Critical", exceeded: "Exceeded" };
const STATE_MARK: Record<string, string> = { ok: "✓", warning: "!", critical: "!!", exceeded: "✕" };

/** `actions` gives an admin's Edit / Delete for a budget (none for other keys). */
export function renderBudgets(root: HTMLElement, budgets: Budget[], actions?: (b: Budget) => HTMLElement): void {
  if (!budgets.length) {
    fill(root, empty("No budgets are defined.", actions ? "Add one with New budget." : "An admin can add one."));
    return;
  }
  const order = { exceeded: 0, critical: 1, warning: 2, ok: 3 } as Record<string, number>;
  const sorted = [...budgets].sort((a, b) =>
    (order[a.status?.state ?? "ok"] ?? 4) - (order[b.status?.state ?? "ok"] ?? 4) ||
    (b.status?.utilization ?? 0) - (a.status?.utilization ?? 0));
  fill(root, h("ul", { class: "budgets" }, sorted.map((b) => budgetItem(b, actions?.(b)))),
    h("p", { class: "bar-key" }, h("span", { class: "key-tick", text: "alert thresholds" }),
      h("span", { class: "key-forecast", text: "forecast at the end of the period" })));
}

function budgetItem(b: Budget, actions?: HTMLElement): HTMLElement {
  const s = b.status;
  const state = s?.state ?? "ok";
  const unit = b.limit_usd !== null ? "usd" : b.limit_tokens !== null ? "tokens" : "credits";
  const amount = (v: number | null | undefined) => (unit === "usd" ? money(v) : integer(v));
  const exact = (v: number | null | undefined) => (unit === "usd" ? exactMoney(v) : integer(v));
  const spent = unit === "usd" ? s?.spent_usd : unit === "tokens" ? s?.spent_tokens : s?.spent_credits;
  const limit = unit === "usd" ? s?.limit_usd ?? b.limit_usd : unit === "tokens" ? b.limit_tokens : b.limit_credits;
  const utilization = s?.utilization ?? 0;
  const forecastRatio = s?.forecast_utilization ?? (unit === "usd" && s?.forecast_usd != null && limit ? s.forecast_usd / limit : null);
  const scope = Object.entries(b.scope ?? {}).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : typeof v === "object" ? JSON.stringify(v) : v}`);
  const bar = h("div", {
    class: "bar",
    role: "meter",
    "aria-valuemin": "0",
    "aria-valuemax": "100",
    "aria-valuenow": (utilization * 100).toFixed(1),
    "aria-label": `${b.name}: ${percent(utilization)} of the limit used`,
  },
  h("span", { class: "fill", style: `width:${Math.min(utilization, 1) * 100}%` }),
  (b.thresholds ?? []).filter((t) => t < 1).map((t) => h("span", { class: "tick", style: `left:${t * 100}%`, title: `alert at ${percent(t, 0)}` })),
  forecastRatio != null ? h("span", { class: forecastRatio > 1 ? "forecast over" : "forecast", style: `left:${Math.min(forecastRatio, 1) * 100}%`, title: `forecast ${percent(forecastRatio)}` }) : null);
  return h("li", { class: `budget state-${state}`, "data-budget-id": b.budget_id },
    h("div", { class: "budget-head" },
      h("div", null,
        h("h3", { text: b.name || b.budget_id }),
        h("p", { class: "muted small" }, h("code", { text: b.budget_id }), ` · ${b.period}`, b.timezone && b.timezone !== "UTC" ? ` (${b.timezone})` : "",
          ` · ${scope.length ? scope.join(", ") : "all usage"} · on limit: ${b.action_on_limit}`)),
      h("span", { class: `state state-${state}` }, h("span", { "aria-hidden": "true", text: STATE_MARK[state] ?? "•" }), ` ${STATE_TEXT[state] ?? state}`)),
    bar,
    h("dl", { class: "facts" },
      fact("Used", percent(utilization)),
      fact("Spent", `${amount(spent)} of ${amount(limit)}`, undefined, `${exact(spent)} of ${exact(limit)}`),
      unit === "usd" ? fact("Forecast", s?.forecast_usd != null ? `${money(s.forecast_usd)}${forecastRatio != null ? ` (${percent(forecastRatio)})` : ""}` : "–",
        forecastRatio != null && forecastRatio > 1 ? "over" : undefined, s?.forecast_usd != null ? exactMoney(s.forecast_usd) : undefined) : null,
      unit === "usd" && s?.burn_rate_usd_per_day != null
        ? fact("Burn rate", `${money(s.burn_rate_usd_per_day)}/day`, undefined, `${exactMoney(s.burn_rate_usd_per_day)}/day`) : null,
      s?.forecast_exhausted_at ? fact("Runs out", timestamp(s.forecast_exhausted_at), "over") : null,
      s ? fact("Period ends", timestamp(s.period_end)) : null,
      s?.override_active ? fact("Override", "active") : null),
    actions ?? null);
}

function fact(term: string, value: string, flag?: string, exact?: string): HTMLElement[] {
  return [h("dt", { text: term }), h("dd", { class: flag, title: exact, text: value })];
}

// --- alerts ---

export function renderAlerts(root: HTMLElement, alerts: Alert[]): void {
  if (!alerts.length) {
    fill(root, empty("No alerts in the last 90 days.", "Budget thresholds, forecasts and CloudWatch alarms show up here."));
    return;
  }
  fill(root, h("ol", { class: "alerts" }, alerts.map(alertItem)));
}

function alertItem(a: Alert): HTMLElement {
  let kind: string;
  let title: string;
  let detail: string;
  let exact = "";
  const limit = (v: number | undefined, m = money) => (a.limit_kind && a.limit_kind !== "usd" ? integer(v) : m(v));
  if (a.type === "budget_threshold") {
    kind = "Threshold";
    title = `${a.budget_name ?? a.budget_id} passed ${percent(a.threshold ?? 0, 0)}`;
    const spent = !a.limit_kind || a.limit_kind === "usd" ? money(a.spent_usd)
      : a.limit_kind === "tokens" ? integer(a.spent_tokens) : integer((a.utilization ?? 0) * (a.limit ?? 0));
    detail = `${percent(a.utilization)} used: ${spent} of ${limit(a.limit)}${a.limit_kind && a.limit_kind !== "usd" ? ` ${a.limit_kind}` : ""}`;
    if (!a.limit_kind || a.limit_kind === "usd") exact = `${exactMoney(a.spent_usd)} of ${exactMoney(a.limit)}`;
  } else if (a.type === "budget_forecast") {
    kind = "Forecast";
    title = `${a.budget_name ?? a.budget_id} is forecast to pass its limit`;
    detail = `forecast ${limit(a.forecast)} vs limit ${limit(a.limit)}; ${money(a.spent_usd)} spent so far`;
    exact = `forecast ${limit(a.forecast, exactMoney)} vs limit ${limit(a.limit, exactMoney)}; ${exactMoney(a.spent_usd)} spent`;
  } else if (a.type === "cloudwatch_alarm") {
    kind = "Alarm";
    title = `${a.name ?? "CloudWatch alarm"}: ${a.state ?? "?"}${a.old_state ? ` (was ${a.old_state})` : ""}`;
    detail = a.reason ?? a.metric ?? "";
  } else {
    kind = a.type;
    title = a.budget_name ?? a.alert_id;
    detail = "";
  }
  const severe = a.type === "cloudwatch_alarm" ? a.state === "ALARM" : a.type === "budget_forecast" || (a.threshold ?? 0) >= 1;
  return h("li", { class: severe ? "alert severe" : "alert", "data-budget-id": a.budget_id },
    h("span", { class: `kind kind-${a.type}`, text: kind }),
    h("div", { class: "alert-body" },
      h("p", { class: "alert-title", text: title }),
      h("p", { class: "muted small", title: exact || undefined }, detail, a.period ? [" · ", h("span", { class: "nowrap", text: `period ${a.period.key}` })] : null)),
    h("time", { datetime: a.created_at, title: timestamp(a.created_at), class: "muted small", text: relative(a.created_at) || timestamp(a.created_at) }));
}

// --- reports ---

export interface ReportsView {
  reports: ReportListing[];
  selected: ReportListing | null;
  markdown: string | null;
  error: string | null;
  onSelect: (r: ReportListing) => void;
}

export function renderReports(root: HTMLElement, v: ReportsView): void {
  if (!v.reports.length) {
    fill(root, empty("No reports stored yet.",
      "The report function writes one every day at 06:00 UTC (weekly on Mondays, monthly on the 1st); an admin can make one now with POST /reports {\"kind\": \"daily\"}."));
    return;
  }
  const list = h("ul", { class: "report-list", "aria-label": "Stored reports" }, v.reports.map((r) => {
    const current = v.selected && r.kind === v.selected.kind && r.period === v.selected.period;
    return h("li", null, h("button", {
      type: "button",
      class: current ? "report-pick current" : "report-pick",
      "aria-pressed": current ? "true" : "false",
      "data-report": `${r.kind}/${r.period}`,
      on: { click: () => v.onSelect(r) },
    },
    h("span", { class: "report-kind", text: r.kind }),
    h("span", { class: "report-cost", ...usd(r.total_cost_usd) }),
    h("span", { class: "report-period" }, r.period, r.complete ? null : h("span", { class: "partial", text: " · partial" }))));
  }));
  let body: Child;
  if (v.error) body = empty(v.error);
  else if (v.markdown === null) body = empty("Loading the report…");
  else body = h("article", { class: "markdown", "aria-label": `${v.selected?.kind} report ${v.selected?.period}` }, renderMarkdown(v.markdown, 2));
  fill(root, list, h("div", { class: "report-view" }, body));
}

// --- shared bits ---

export function ranked(entries: Record<string, Totals>): [string, Totals][] {
  return Object.entries(entries).sort((a, b) => b[1].cost_usd - a[1].cost_usd || b[1].api_calls - a[1].api_calls || a[0].localeCompare(b[0]));
}

function label(key: string): string {
  return key === NONE_KEY ? "(none)" : key;
}

function share(part: number, total: number): string {
  return total > 0 ? percent(part / total) : "–";
}

function unpricedBadge(t: Totals): Child {
  return t.unpriced_events > 0
    ? h("span", { class: "badge unpriced", title: "events with no known price: their cost is not counted" }, `${integer(t.unpriced_events)} unpriced`)
    : null;
}
