// Managing the ledger with an admin key: budgets (create, edit, delete), API keys (create, shown
// once; revoke) and prices (overrides, repricing). Every action is one call of the API the page
// already reads; what the API refuses is shown next to the form with the API's own words.

import type { Api, ApiKey, Budget, CreatedKey, PriceLists, PriceOverride, RepriceAnswer } from "./api";
import { byId, empty, fill, h, type Child } from "./dom";
import { exactMoney, integer, relative, shortDay, timestamp } from "./format";
import { checked, clearErrors, control, fieldError, numeric, say, setValues, showErrors, submitting, text } from "./forms";

export interface ManageContext {
  api(): Api | null;
  /** Something changed: reload what shows it. */
  changed(what: "budgets" | "keys" | "prices" | "usage"): void;
  /** The id of the key this tab uses (`k_` + the first 20 hex of its SHA-256), when the browser can hash. */
  ownKeyId(): Promise<string | null>;
  range(): { start: string; end: string };
}

const SCOPE_FIELDS = ["service", "model", "operation", "user_id", "project", "repository"] as const;
const LIMITS = ["limit_usd", "limit_tokens", "limit_credits"] as const;
const PRICE_FIELDS = ["input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok", "per_request",
  "credits_per_request"] as const;
const PRICE_HEADS = ["In /MTok", "Out /MTok", "Cache read", "Cache write", "Per request", "Credits"];
const ID_RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit";

// --- budgets ---

export class BudgetEditor {
  private readonly form = byId<HTMLFormElement>("budget-form");
  private readonly title = byId("budget-form-title");
  private readonly status = byId("budgets-status");
  private editing: Budget | null = null;

  constructor(private readonly ctx: ManageContext) {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.save();
    });
    this.form.querySelector("[data-action=cancel]")!.addEventListener("click", () => this.close());
    byId("budget-new").addEventListener("click", () => this.open(null));
  }

  open(budget: Budget | null): void {
    this.editing = budget;
    clearErrors(this.form);
    say(this.status, null);
    this.form.reset();
    const id = control(this.form, "budget_id") as HTMLInputElement;
    id.readOnly = budget !== null;
    this.title.textContent = budget ? `Edit budget ${budget.budget_id}` : "New budget";
    if (budget) {
      const kind = LIMITS.find((k) => budget[k] !== null) ?? "limit_usd";
      setValues(this.form, {
        budget_id: budget.budget_id,
        name: budget.name ?? "",
        period: budget.period,
        limit: String(budget[kind] ?? ""),
        limit_kind: kind,
        thresholds: (budget.thresholds ?? []).map((t) => String(Number((t * 100).toPrecision(12)))).join(", "),
        action_on_limit: budget.action_on_limit,
        fallback_model: budget.fallback_model ?? "",
        timezone: budget.timezone ?? "UTC",
        anchor_day: String(budget.anchor_day ?? 1),
        forecast_alert: Boolean(budget.forecast_alert),
        ...Object.fromEntries(SCOPE_FIELDS.map((f) => [`scope.${f}`, scopeValue(budget.scope[f])])),
      });
    }
    this.form.hidden = false;
    (budget ? control(this.form, "name") : id).focus();
  }

  close(): void {
    this.form.hidden = true;
    this.editing = null;
  }

  private body(): Record<string, unknown> {
    const f = this.form;
    const scope: Record<string, unknown> = {};
    for (const name of SCOPE_FIELDS) if (text(f, `scope.${name}`)) scope[name] = text(f, `scope.${name}`);
    const tags = this.editing?.scope.tags;
    if (tags) scope.tags = tags; // not editable here: kept as they are
    const kind = text(f, "limit_kind");
    const body: Record<string, unknown> = {
      scope,
      period: text(f, "period"),
      ...Object.fromEntries(LIMITS.map((k) => [k, k === kind ? numeric(text(f, "limit")) : null])),
      action_on_limit: text(f, "action_on_limit"),
      fallback_model: text(f, "fallback_model") || null,
      forecast_alert: checked(f, "forecast_alert").length > 0,
    };
    if (text(f, "name")) body.name = text(f, "name");
    if (text(f, "timezone")) body.timezone = text(f, "timezone");
    if (text(f, "anchor_day")) body.anchor_day = numeric(text(f, "anchor_day"));
    const thresholds = text(f, "thresholds").split(/[\s,;]+/).filter(Boolean);
    if (thresholds.length) {
      // Percent here, fractions in the API; what is not a number goes as typed, for the API to say so.
      body.thresholds = thresholds.map((t) => {
        const n = numeric(t.replace(/%$/, ""));
        return typeof n === "number" ? Number((n / 100).toPrecision(12)) : t;
      });
    }
    if (this.editing?.override_until) body.override_until = this.editing.override_until;
    return body;
  }

  private async save(): Promise<void> {
    const api = this.ctx.api();
    if (!api) return;
    clearErrors(this.form);
    const id = text(this.form, "budget_id");
    if (!id) return fieldError(this.form, "budget_id", `Required: ${ID_RULE}.`);
    try {
      await submitting(this.form, () => api.send<Budget>("PUT", `/budgets/${encodeURIComponent(id)}`, this.body()));
    } catch (error) {
      showErrors(this.form, error, "budget");
      return;
    }
    const verb = this.editing ? "Saved" : "Created";
    this.close();
    say(this.status, `${verb} budget ${id}.`);
    this.ctx.changed("budgets");
  }

  async remove(budget: Budget): Promise<void> {
    const api = this.ctx.api();
    if (!api) return;
    await api.send("DELETE", `/budgets/${encodeURIComponent(budget.budget_id)}`);
    if (this.editing?.budget_id === budget.budget_id) this.close();
    say(this.status, `Deleted budget ${budget.budget_id}.`);
    this.ctx.changed("budgets");
  }
}

function scopeValue(value: unknown): string {
  if (value === undefined || value === null) return "";
  return Array.isArray(value) ? value.join(",") : String(value);
}

/** Edit / Delete for one budget; Delete asks once more in place (no browser dialog). */
export function budgetActions(budget: Budget, editor: BudgetEditor): HTMLElement {
  const box = h("div", { class: "row-actions" });
  const idle = (): void => fill(box,
    h("button", { type: "button", "data-action": "edit", on: { click: () => editor.open(budget) } }, "Edit"),
    h("button", { type: "button", "data-action": "delete", on: { click: confirming } }, "Delete"));
  const confirming = (): void => fill(box,
    h("span", { class: "confirm", text: `Delete ${budget.budget_id}?` }),
    h("button", { type: "button", class: "danger", "data-action": "confirm-delete", on: { click: () => void remove() } },
      "Yes, delete"),
    h("button", { type: "button", class: "quiet", on: { click: idle } }, "Keep"));
  const remove = async (): Promise<void> => {
    try {
      await editor.remove(budget);
    } catch (error) {
      fill(box, h("span", { class: "problem", text: `Not deleted: ${error instanceof Error ? error.message : error}` }));
    }
  };
  idle();
  return box;
}

// --- keys ---

export class KeysPanel {
  private readonly form = byId<HTMLFormElement>("key-form-create");
  private readonly created = byId("key-created");
  private readonly createdValue = byId<HTMLInputElement>("key-created-value");
  private readonly status = byId("keys-status");
  private readonly list = byId("keys");

  constructor(private readonly ctx: ManageContext) {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.create();
    });
    byId("key-created-copy").addEventListener("click", () => {
      this.createdValue.select();
      void navigator.clipboard?.writeText(this.createdValue.value).then(() => say(this.status, "Copied."), () => undefined);
    });
    byId("key-created-done").addEventListener("click", () => this.forgetCreated());
  }

  /** Nothing of a created key stays on the page once the admin is done with it. */
  forgetCreated(): void {
    this.createdValue.value = "";
    this.created.hidden = true;
  }

  private async create(): Promise<void> {
    const api = this.ctx.api();
    if (!api) return;
    clearErrors(this.form);
    say(this.status, null);
    this.forgetCreated();
    let key: CreatedKey | null;
    try {
      key = await submitting(this.form, () =>
        api.send<CreatedKey>("POST", "/keys", { name: text(this.form, "name"), scopes: checked(this.form, "scopes") }));
    } catch (error) {
      showErrors(this.form, error, "key");
      return;
    }
    if (!key) return;
    this.form.reset();
    this.createdValue.value = key.key;
    this.created.dataset.keyId = key.key_id;
    this.created.hidden = false;
    this.createdValue.focus();
    this.createdValue.select();
    this.ctx.changed("keys");
  }

  async render(keys: ApiKey[]): Promise<void> {
    const own = await this.ctx.ownKeyId();
    if (!keys.length) {
      fill(this.list, empty("No keys yet."));
      return;
    }
    fill(this.list, h("div", { class: "table-scroll" }, h("table", { class: "ranked keys" },
      h("thead", null, h("tr", null, ["Key id", "Name", "Scopes", "Created", "Last used", ""].map((t) =>
        h("th", { scope: "col", text: t })))),
      h("tbody", null, keys.map((k) => this.row(k, k.key_id === own))))));
  }

  private row(k: ApiKey, own: boolean): HTMLElement {
    const actions = h("td", { class: "row-actions" });
    const idle = (): void => fill(actions, k.revoked_at
      ? h("span", { class: "muted small", title: timestamp(k.revoked_at), text: "revoked" })
      : h("button", { type: "button", "data-action": "revoke", on: { click: confirming } }, "Revoke"));
    const confirming = (): void => fill(actions,
      h("span", { class: "confirm", text: own ? "This page uses this key: revoke it?" : "Revoke?" }),
      h("button", { type: "button", class: "danger", "data-action": "confirm-revoke", on: { click: () => void revoke() } },
        "Yes, revoke"),
      h("button", { type: "button", class: "quiet", on: { click: idle } }, "Keep"));
    const revoke = async (): Promise<void> => {
      const api = this.ctx.api();
      if (!api) return;
      try {
        await api.send("DELETE", `/keys/${encodeURIComponent(k.key_id)}`);
      } catch (error) {
        fill(actions, h("span", { class: "problem", text: `Not revoked: ${error instanceof Error ? error.message : error}` }));
        return;
      }
      say(this.status, `Revoked ${k.key_id} (${k.name}).`);
      this.ctx.changed("keys");
    };
    idle();
    return h("tr", { "data-key-id": k.key_id, class: k.revoked_at ? "revoked" : undefined },
      h("td", null, h("code", { class: "id", text: k.key_id }), own ? h("span", { class: "badge", text: "this page" }) : null),
      h("td", { class: "wrap", text: k.name }),
      h("td", { text: k.scopes.join(" ") }),
      h("td", { class: "nowrap", title: timestamp(k.created_at), text: shortDay(k.created_at.slice(0, 10)) }),
      h("td", { class: "nowrap", title: k.last_used_at ? timestamp(k.last_used_at) : undefined,
        text: k.last_used_at ? relative(k.last_used_at) : "never" }),
      actions);
  }
}

// --- prices ---

export class PricesPanel {
  private readonly form = byId<HTMLFormElement>("price-form");
  private readonly reprice = byId<HTMLFormElement>("reprice-form");
  private readonly status = byId("prices-status");
  private readonly result = byId("reprice-result");
  private readonly list = byId("overrides");

  constructor(private readonly ctx: ManageContext) {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.setPrice();
    });
    this.reprice.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.runReprice();
    });
    for (const name of ["start_date", "end_date"]) {
      const field = control(this.reprice, name);
      field.addEventListener("input", () => (field.dataset.typed = "1"));
    }
  }

  /** The reprice range follows the dashboard's range until someone types in it. */
  followRange(): void {
    const { start, end } = this.ctx.range();
    for (const [name, value] of [["start_date", start], ["end_date", end]]) {
      const field = control(this.reprice, name);
      if (!field.dataset.typed) field.value = value;
    }
  }

  private async setPrice(): Promise<void> {
    const api = this.ctx.api();
    if (!api) return;
    clearErrors(this.form);
    say(this.status, null);
    const service = text(this.form, "service");
    const model = text(this.form, "model_or_operation");
    if (!service || !model) {
      if (!service) fieldError(this.form, "service", "Required: the service, as events name it.");
      if (!model) fieldError(this.form, "model_or_operation", "Required: a model, or an operation priced per request.");
      return;
    }
    const body: Record<string, unknown> = {};
    for (const name of PRICE_FIELDS) {
      const value = numeric(text(this.form, name));
      if (value !== null) body[name] = value;
    }
    if (text(this.form, "valid_from")) body.valid_from = text(this.form, "valid_from");
    let stored: PriceOverride | null;
    try {
      stored = await submitting(this.form, () =>
        api.send<PriceOverride>("PUT", `/prices/${encodeURIComponent(service)}/${encodeURIComponent(model)}`, body));
    } catch (error) {
      showErrors(this.form, error, "price");
      return;
    }
    this.form.reset();
    say(this.status, `Price of ${stored?.service ?? service} ${stored?.model_or_operation ?? model} set` +
      (stored?.valid_from ? `, valid from ${timestamp(stored.valid_from)}` : "") +
      ". Events already stored without a price keep none until they are repriced below.");
    this.ctx.changed("prices");
  }

  private async runReprice(): Promise<void> {
    const api = this.ctx.api();
    if (!api) return;
    clearErrors(this.reprice);
    say(this.result, null);
    let answer: RepriceAnswer | null;
    try {
      answer = await submitting(this.reprice, () => api.send<RepriceAnswer>("POST", "/ai_usage/reprice", {
        start_date: text(this.reprice, "start_date"), end_date: text(this.reprice, "end_date") }));
    } catch (error) {
      showErrors(this.reprice, error, "reprice");
      return;
    }
    if (!answer) return;
    say(this.result, `Looked at ${integer(answer.examined)} unpriced event${answer.examined === 1 ? "" : "s"}: ` +
      `${integer(answer.repriced)} now priced, ${integer(answer.still_unpriced)} still without a price.`);
    this.result.dataset.repriced = String(answer.repriced);
    if (answer.repriced) this.ctx.changed("usage");
  }

  render(lists: PriceLists): void {
    const overrides = [...lists.overrides].sort((a, b) =>
      a.service.localeCompare(b.service) || a.model_or_operation.localeCompare(b.model_or_operation) ||
      a.valid_from.localeCompare(b.valid_from));
    const used = PRICE_FIELDS.map((name, n) => [name, PRICE_HEADS[n]] as const)
      .filter(([name]) => overrides.some((o) => o[name] !== null));
    const body: Child = overrides.length
      ? h("div", { class: "table-scroll" }, h("table", { class: "ranked overrides" },
        h("thead", null, h("tr", null, h("th", { scope: "col", text: "Service" }), h("th", { scope: "col", text: "Model or operation" }),
          h("th", { scope: "col", text: "From" }), used.map(([, head]) => h("th", { scope: "col", class: "num", text: head })))),
        h("tbody", null, overrides.map((o) => h("tr", { "data-override": `${o.service}/${o.model_or_operation}` },
          h("td", { text: o.service }), h("td", { class: "wrap", text: o.model_or_operation }),
          h("td", { class: "nowrap", title: o.valid_from, text: o.valid_from.slice(0, 10) }),
          used.map(([name]) => h("td", { class: "num", text: price(name, o[name]) })))))))
      : empty("No price overrides.", `Token prices come from genai-prices ${lists.genai_prices_version}; ` +
        "set one here for a model it does not know.");
    fill(this.list, h("h3", { class: "sub", text: "Overrides" }), body);
  }
}

function price(name: string, value: number | null): string {
  if (value === null) return "–";
  return name === "credits_per_request" ? String(value) : exactMoney(value); // rates: never rounded
}
