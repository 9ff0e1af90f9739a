// The aiusage dashboard: a key pasted once or brought by a sign-in link (#key=..., then removed from
// the address bar; kept in sessionStorage for this tab only), a date
// range and service filter (kept in the URL fragment, never the key), and panels filled from
// GET /ai_usage, /budgets, /alerts and /reports. With an admin key (GET /keys answers), the page
// also manages budgets, keys and prices (manage.ts).

import "./style.css";
import { Api, ApiError, type Alert, type ApiKey, type Budget, type PriceLists, type ReportListing, type Totals, type Usage } from "./api";
import { clearSpend } from "./charts";
import { byId, fill, h, problem } from "./dom";
import { addDays, daySpan, integer, isDay, longDay, todayUtc } from "./format";
import { BudgetEditor, budgetActions, KeysPanel, PricesPanel, type ManageContext } from "./manage";
import { serviceColours } from "./palette";
import { ranked, renderAlerts, renderBudgets, renderRanked, renderReports, renderSpend, renderTiles } from "./views";

const KEY_STORAGE = "aiusage.apiKey";
const PRESETS = [1, 7, 30, 90];
const DEFAULT_PRESET = 30;
const MAX_RANGE_DAYS = 400;
const HOURLY_MAX_DAYS = 2;
const ALERTS_SHOWN = 20;
const REPORTS_SHOWN = 8;

interface View {
  start: string;
  end: string;
  preset: number | null; // days ending today, or null for fixed dates
  service: string;
}

const el = {
  connect: byId("connect"),
  keyForm: byId<HTMLFormElement>("key-form"),
  keyInput: byId<HTMLInputElement>("key"),
  keyError: byId("key-error"),
  filters: byId<HTMLFormElement>("filters"),
  start: byId<HTMLInputElement>("start"),
  end: byId<HTMLInputElement>("end"),
  service: byId<HTMLSelectElement>("service"),
  refresh: byId<HTMLButtonElement>("refresh"),
  forget: byId<HTMLButtonElement>("forget"),
  main: byId("main"),
  banner: byId("banner"),
  rangeLabel: byId("range-label"),
  updated: byId("updated"),
  tiles: document.querySelector<HTMLElement>(".tiles")!,
  spend: byId("spend-body"),
  spendNote: byId("spend-note"),
  byModel: byId("by-model"),
  byOperation: byId("by-operation"),
  topUser: byId("top-user"),
  topJob: byId("top-job"),
  topRepository: byId("top-repository"),
  budgets: byId("budgets"),
  budgetsPanel: byId("budgets-panel"),
  alerts: byId("alerts"),
  alertsPanel: byId("alerts-panel"),
  reports: byId("reports"),
  reportsPanel: byId("reports-panel"),
  stats: byId("stats"),
  manage: byId("manage"),
  keysPanel: byId("keys-panel"),
  pricesPanel: byId("prices-panel"),
};

let api: Api | null = null;
let admin = false;
let ownKeyId: Promise<string | null> | null = null;
let view: View = viewFromHash();
let usageRun = 0;
let usageAbort: AbortController | null = null;
let sideAbort: AbortController | null = null;
const knownServices = new Map<string, string[]>(); // range -> services by cost (unfiltered)

// --- the key ---

function storedKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

/** The key of a sign-in link (`#key=...` in the fragment, which no request carries), kept like a pasted one. */
function takeKeyFromHash(): string | null {
  const key = (new URLSearchParams(location.hash.slice(1)).get("key") ?? "").trim();
  if (!key) return null;
  try {
    sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // storage unavailable: the key lives in memory for this page only
  }
  return key;
}

const manage: ManageContext = {
  api: () => api,
  changed: (what) => {
    if (what === "usage") void loadUsage();
    void loadSide();
  },
  ownKeyId: () => ownKeyId ?? Promise.resolve(null),
  range: () => ({ start: view.start, end: view.end }),
};
const budgetEditor = new BudgetEditor(manage);
const keysPanel = new KeysPanel(manage);
const pricesPanel = new PricesPanel(manage);

/** `k_` + the first 20 hex digits of the key's SHA-256: how GET /keys names it (secure contexts only). */
async function keyIdOf(key: string): Promise<string | null> {
  if (!globalThis.crypto?.subtle) return null;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return `k_${[...digest].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 20)}`;
}

function setAdmin(value: boolean): void {
  admin = value;
  for (const node of document.querySelectorAll<HTMLElement>(".admin-only")) node.hidden = !value;
  if (!value) {
    budgetEditor.close();
    keysPanel.forgetCreated();
  }
}

function showConnect(message?: string): void {
  api = null;
  ownKeyId = null;
  setAdmin(false);
  usageAbort?.abort();
  sideAbort?.abort();
  clearSpend();
  el.main.hidden = true;
  el.filters.hidden = true;
  el.connect.hidden = false;
  el.keyError.hidden = !message;
  el.keyError.textContent = message ?? "";
  el.keyInput.value = "";
  el.keyInput.setAttribute("aria-invalid", message ? "true" : "false");
  el.keyInput.focus();
}

function connect(key: string): void {
  api = new Api(key);
  ownKeyId = keyIdOf(key).catch(() => null);
  el.connect.hidden = true;
  el.keyError.hidden = true;
  el.main.hidden = false;
  el.filters.hidden = false;
  syncControls();
  void loadUsage();
  void loadSide();
}

/** A key the API refuses (401) or that may not read (403: every route here needs usage:read) is dropped. */
function rejected(error: unknown): boolean {
  if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 403)) return false;
  try {
    sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage unavailable: nothing was kept
  }
  showConnect(error.status === 401
    ? `The API did not accept that key (401 Unauthorized: ${error.message}). Paste a valid API key.`
    : `That key may not read usage (403 Forbidden: ${error.message}). Paste a key with the usage:read scope.`);
  return true;
}

function explain(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return error.message;
    return `The API answered ${error.status} (${error.code}): ${error.message}`;
  }
  return `Something went wrong: ${error instanceof Error ? error.message : String(error)}`;
}

el.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = el.keyInput.value.trim();
  if (!key) {
    el.keyError.hidden = false;
    el.keyError.textContent = "Paste an API key first.";
    return;
  }
  try {
    sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // private mode without storage: the key lives in memory for this page only
  }
  el.keyInput.value = "";
  connect(key);
});

el.forget.addEventListener("click", () => {
  try {
    sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // nothing kept
  }
  showConnect();
});

// --- the view: range and service, kept in the URL fragment ---

function presetView(days: number, service: string): View {
  const end = todayUtc();
  return { start: addDays(end, -(days - 1)), end, preset: days, service };
}

function viewFromHash(): View {
  const params = new URLSearchParams(location.hash.slice(1));
  const service = (params.get("service") ?? "").trim().toLowerCase();
  const range = /^(\d+)d$/.exec(params.get("range") ?? "");
  if (range && PRESETS.includes(Number(range[1]))) return presetView(Number(range[1]), service);
  const start = params.get("start") ?? "";
  const end = params.get("end") ?? "";
  if (isDay(start) && isDay(end) && start <= end && daySpan(start, end) <= MAX_RANGE_DAYS) {
    return { start, end, preset: null, service };
  }
  return presetView(DEFAULT_PRESET, service);
}

function writeHash(): void {
  const params = new URLSearchParams();
  if (view.preset) params.set("range", `${view.preset}d`);
  else {
    params.set("start", view.start);
    params.set("end", view.end);
  }
  if (view.service) params.set("service", view.service);
  const hash = `#${params.toString()}`;
  if (location.hash !== hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
}

function syncControls(): void {
  el.start.value = view.start;
  el.end.value = view.end;
  el.start.max = view.end;
  el.end.min = view.start;
  for (const button of el.filters.querySelectorAll<HTMLButtonElement>("[data-preset]")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.preset) === view.preset));
  }
  if (![...el.service.options].some((o) => o.value === view.service)) {
    el.service.append(h("option", { value: view.service, text: view.service }));
  }
  el.service.value = view.service;
}

function setView(next: View): void {
  view = next;
  writeHash();
  syncControls();
  void loadUsage();
}

for (const button of el.filters.querySelectorAll<HTMLButtonElement>("[data-preset]")) {
  button.addEventListener("click", () => setView(presetView(Number(button.dataset.preset), view.service)));
}

function onDates(): void {
  const start = el.start.value;
  const end = el.end.value;
  if (!isDay(start) || !isDay(end)) return; // still typing
  if (start > end) return showBanner("The start date is after the end date.");
  if (daySpan(start, end) > MAX_RANGE_DAYS) return showBanner(`Pick at most ${MAX_RANGE_DAYS} days.`);
  const preset = end === todayUtc() && PRESETS.includes(daySpan(start, end)) ? daySpan(start, end) : null;
  setView({ start, end, preset, service: view.service });
}
el.start.addEventListener("change", onDates);
el.end.addEventListener("change", onDates);
el.service.addEventListener("change", () => setView({ ...view, service: el.service.value }));
el.filters.addEventListener("submit", (event) => event.preventDefault());
el.refresh.addEventListener("click", () => {
  if (view.preset) view = presetView(view.preset, view.service); // "today" may have moved on
  syncControls();
  void loadUsage();
  void loadSide();
});
window.addEventListener("hashchange", () => {
  const linked = takeKeyFromHash();
  if (linked) {
    writeHash();
    connect(linked);
    return;
  }
  const next = viewFromHash();
  if (next.start !== view.start || next.end !== view.end || next.service !== view.service) setView(next);
});

function showBanner(message: string | null): void {
  el.banner.hidden = !message;
  el.banner.textContent = message ?? "";
}

// --- usage: tiles, spend over time, breakdowns, top lists ---

async function loadUsage(): Promise<void> {
  if (!api) return;
  const run = ++usageRun;
  usageAbort?.abort();
  usageAbort = new AbortController();
  const signal = usageAbort.signal;
  const { start, end, service } = view;
  const hourly = daySpan(start, end) <= HOURLY_MAX_DAYS;
  const range = { start_date: start, end_date: end };
  const filter = service ? { service } : {};
  showBanner(null);
  el.main.dataset.state = "loading";
  el.main.setAttribute("aria-busy", "true");
  el.main.classList.add("stale");
  el.rangeLabel.textContent = describe(view, hourly);

  const servicesKey = `${start}..${end}`;
  const [usage, services, dims] = await Promise.allSettled([
    api.get<Usage>("/ai_usage", { ...range, ...filter, aggregation: "service,model,operation", group_by: `${hourly ? "hour" : "day"},service` }, signal),
    service && !knownServices.has(servicesKey)
      ? api.get<Usage>("/ai_usage", { ...range, aggregation: "service" }, signal).then((u) => servicesOf(u.aggregations.by_service))
      : Promise.resolve(knownServices.get(servicesKey) ?? null),
    api.get<Usage>("/ai_usage", { ...range, ...filter, aggregation: "user,job,repository" }, signal),
  ]);
  if (run !== usageRun || signal.aborted) return; // a newer view is loading, or the key was forgotten
  const failure = [usage, services, dims].find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  if (failure && rejected(failure.reason)) return;

  el.main.classList.remove("stale");
  el.main.removeAttribute("aria-busy");
  if (usage.status === "rejected") {
    el.main.dataset.state = "error";
    showBanner(explain(usage.reason));
    return;
  }
  const answer = usage.value;
  const byService = answer.aggregations.by_service ?? {};
  let serviceList = services.status === "fulfilled" ? services.value : null;
  if (!service) serviceList = servicesOf(byService);
  if (serviceList) {
    knownServices.set(servicesKey, serviceList);
    fillServiceOptions(serviceList);
  }
  const colours = serviceColours(serviceList ?? servicesOf(byService));
  const total = answer.summary.total_cost_usd;

  renderTiles(el.tiles, answer.summary, byService);
  el.spendNote.textContent = `by service · ${hourly ? "per hour (UTC)" : "per day"}`;
  renderSpend(el.spend, { usage: answer, start, end, hourly, colours });
  renderRanked(el.byModel, answer.aggregations.by_model, {
    what: "Model", total, noneLabel: "(no model)", emptyText: "No usage in this range.",
  });
  renderRanked(el.byOperation, answer.aggregations.by_operation, {
    what: "Operation", total, noneLabel: "(none)", emptyText: "No usage in this range.",
  });
  const top = [
    [el.topUser, "user", "User", "No usage with a user_id in this range."],
    [el.topJob, "job", "Job", "No usage with a job_id in this range."],
    [el.topRepository, "repository", "Repository", "No usage with a repository in this range."],
  ] as const;
  for (const [target, name, what, emptyText] of top) {
    if (dims.status === "rejected") fill(target, problem(explain(dims.reason)));
    else renderRanked(target, dims.value.aggregations[`by_${name}`], { what, total: dims.value.summary.total_cost_usd, noneLabel: "(none)", attributedOnly: true, emptyText });
  }
  const read = [answer, dims.status === "fulfilled" ? dims.value : null].filter((u): u is Usage => u !== null);
  pricesPanel.followRange();
  el.stats.textContent = `This view read ${integer(read.reduce((a, u) => a + u.stats.items_read, 0))} DynamoDB items in ` +
    `${integer(read.reduce((a, u) => a + u.stats.dynamodb_requests, 0))} requests.`;
  el.updated.textContent = `· updated ${new Date().toISOString().slice(11, 19)} UTC`;
  el.main.dataset.view = `${start}..${end}|${service}`;
  el.main.dataset.state = "ready";
}

function servicesOf(byService: Record<string, Totals> | undefined): string[] {
  return ranked(byService ?? {}).map(([s]) => s);
}

function fillServiceOptions(services: string[]): void {
  const names = [...services];
  if (view.service && !names.includes(view.service)) names.push(view.service);
  fill(el.service, h("option", { value: "", text: "All services" }), names.map((s) => h("option", { value: s, text: s })));
  el.service.value = view.service;
}

function describe(v: View, hourly: boolean): string {
  const days = daySpan(v.start, v.end);
  const span = v.start === v.end ? longDay(v.start) : `${longDay(v.start)} – ${longDay(v.end)}`;
  return `${span} (UTC) · ${days} day${days === 1 ? "" : "s"}${hourly ? ", hourly" : ""} · ${v.service ? `service ${v.service}` : "all services"}`;
}

// --- budgets, alerts, reports (not tied to the range) ---

async function loadSide(): Promise<void> {
  if (!api) return;
  sideAbort?.abort();
  sideAbort = new AbortController();
  const signal = sideAbort.signal;
  const client = api;
  for (const panel of [el.budgetsPanel, el.alertsPanel, el.reportsPanel, el.keysPanel, el.pricesPanel]) panel.dataset.state = "loading";
  const [budgets, alerts, reports, keys] = await Promise.allSettled([
    client.get<{ budgets: Budget[] }>("/budgets", {}, signal),
    client.get<{ alerts: Alert[] }>("/alerts", { limit: ALERTS_SHOWN }, signal),
    client.get<{ reports: ReportListing[] }>("/reports", { limit: REPORTS_SHOWN }, signal),
    client.get<{ keys: ApiKey[] }>("/keys", {}, signal), // answers only an admin key: that is the test
  ]);
  if (signal.aborted) return;
  for (const r of [budgets, alerts, reports]) if (r.status === "rejected" && rejected(r.reason)) return;
  if (keys.status === "rejected" && keys.reason instanceof ApiError && keys.reason.status === 401 && rejected(keys.reason)) return;
  setAdmin(keys.status === "fulfilled");
  settle(el.budgetsPanel, el.budgets, budgets, (v) =>
    renderBudgets(el.budgets, v.budgets, admin ? (b) => budgetActions(b, budgetEditor) : undefined));
  settle(el.alertsPanel, el.alerts, alerts, (v) => renderAlerts(el.alerts, v.alerts));
  if (reports.status === "fulfilled") void showReport(reports.value.reports, reports.value.reports[0] ?? null, signal);
  else settle(el.reportsPanel, el.reports, reports, () => undefined);
  if (keys.status === "fulfilled") {
    await keysPanel.render(keys.value.keys);
    el.keysPanel.dataset.state = "ready";
    const prices = await client.get<PriceLists>("/prices", {}, signal).then((v) => ({ status: "fulfilled", value: v }) as const,
      (reason: unknown) => ({ status: "rejected", reason }) as const);
    if (signal.aborted) return;
    settle(el.pricesPanel, byId("overrides"), prices, (v) => pricesPanel.render(v));
  }
}

function settle<T>(panel: HTMLElement, body: HTMLElement, result: PromiseSettledResult<T>, render: (value: T) => void): void {
  if (result.status === "fulfilled") {
    render(result.value);
    panel.dataset.state = "ready";
  } else {
    if (result.reason instanceof DOMException && result.reason.name === "AbortError") return;
    fill(body, problem(explain(result.reason)));
    panel.dataset.state = "error";
  }
}

async function showReport(reports: ReportListing[], selected: ReportListing | null, signal?: AbortSignal): Promise<void> {
  const onSelect = (r: ReportListing) => void showReport(reports, r);
  renderReports(el.reports, { reports, selected, markdown: null, error: null, onSelect });
  if (!selected || !api) {
    el.reportsPanel.dataset.state = "ready";
    return;
  }
  el.reportsPanel.dataset.state = "loading";
  try {
    const path = `/reports/${encodeURIComponent(selected.kind)}/${encodeURIComponent(selected.period)}`;
    const markdown = await api.text(path, { format: "markdown" }, signal);
    renderReports(el.reports, { reports, selected, markdown, error: null, onSelect });
    el.reportsPanel.dataset.state = "ready";
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") return;
    if (rejected(error)) return;
    renderReports(el.reports, { reports, selected, markdown: null, error: explain(error), onSelect });
    el.reportsPanel.dataset.state = "error";
  }
}

// --- start ---

// A sign-in link (`aiusage serve` prints /dashboard#key=aiu_...) keeps the key for this tab;
// writeHash() then rewrites the fragment without it (replaceState: nor in the address bar, nor in history).
const linked = takeKeyFromHash();
writeHash();
const key = linked ?? storedKey();
if (key) connect(key);
else showConnect();
