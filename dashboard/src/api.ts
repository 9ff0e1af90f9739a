// The aiusage HTTP API, called from the page with the pasted key as a bearer token.
// The dashboard is served by the same API (GET /dashboard), so requests are same-origin.

/** One offending field of a validation error (SPEC 3): where it is in the request, and why. */
export interface ErrorDetail {
  loc: (string | number)[];
  msg: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

/** The API root: the page lives at <root>/dashboard, whatever stage or base path <root> is. */
export function apiRoot(pathname = location.pathname): string {
  return pathname.replace(/\/dashboard(\/[^/]*)?$/, "");
}

export type Query = Record<string, string | number | undefined | null>;

export class Api {
  constructor(
    private readonly key: string,
    private readonly root = apiRoot(),
  ) {}

  url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const search = params.toString();
    return `${this.root}${path}${search ? `?${search}` : ""}`;
  }

  async get<T>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T> {
    const response = await this.fetch(path, query, signal);
    return (await response.json()) as T;
  }

  async text(path: string, query: Query = {}, signal?: AbortSignal): Promise<string> {
    return (await this.fetch(path, query, signal)).text();
  }

  /** A change (PUT, POST, DELETE) with a JSON body; the answer's JSON, or null for 204. */
  async send<T>(method: "PUT" | "POST" | "DELETE", path: string, body?: unknown): Promise<T | null> {
    const response = await this.fetch(path, {}, undefined, method, body);
    return response.status === 204 ? null : ((await response.json()) as T);
  }

  private async fetch(path: string, query: Query, signal?: AbortSignal, method = "GET", body?: unknown): Promise<Response> {
    let response: Response;
    const headers: Record<string, string> = { Authorization: `Bearer ${this.key}`, Accept: "application/json, text/markdown" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      response = await fetch(this.url(path, query), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
        signal,
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new ApiError(0, "network", "The API could not be reached. Check the connection and press Refresh.");
    }
    if (!response.ok) {
      let code = `http_${response.status}`;
      let message = response.statusText || `HTTP ${response.status}`;
      let details: ErrorDetail[] = [];
      try {
        const answer = (await response.json()) as { error?: { code?: string; message?: string; details?: ErrorDetail[] } };
        code = answer.error?.code ?? code;
        message = answer.error?.message ?? message;
        details = Array.isArray(answer.error?.details) ? answer.error.details : [];
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(response.status, code, message, details);
    }
    return response;
  }
}

// --- response shapes (see shared/query.py, shared/budgets.py, shared/alerts.py, shared/reports.py) ---

export interface Totals {
  cost_usd: number;
  tokens: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  api_calls: number;
  events: number;
  unpriced_events: number;
}

export interface Summary {
  total_cost_usd: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens?: number;
  total_tokens: number;
  total_api_calls: number;
  events: number;
  unpriced_events: number;
  average_cost_per_call: number;
  date_range: { start: string; end: string };
}

export type Row = Totals & Record<string, string | number | null>;

export interface Usage {
  summary: Summary;
  aggregations: Record<string, Record<string, Totals>>;
  rows: Row[];
  stats: { items_read: number; dynamodb_requests: number };
}

export interface BudgetStatus {
  period_start: string;
  period_end: string;
  period_key: string;
  spent_usd: number;
  spent_tokens: number;
  spent_credits?: number;
  limit_usd: number | null;
  limit_tokens: number | null;
  limit_credits: number | null;
  remaining_usd: number | null;
  utilization: number | null;
  state: "ok" | "warning" | "critical" | "exceeded" | string;
  burn_rate_usd_per_day: number | null;
  forecast_usd: number | null;
  forecast_utilization?: number | null;
  forecast_exhausted_at: string | null;
  thresholds_crossed: number[];
  override_active: boolean;
}

export interface Budget {
  budget_id: string;
  name: string;
  scope: Record<string, unknown>;
  period: string;
  timezone: string;
  anchor_day?: number;
  limit_usd: number | null;
  limit_tokens: number | null;
  limit_credits: number | null;
  thresholds: number[];
  forecast_alert?: boolean;
  action_on_limit: string;
  fallback_model?: string | null;
  override_until?: string | null;
  status?: BudgetStatus;
}

export interface ApiKey {
  key_id: string;
  name: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface CreatedKey extends ApiKey {
  key: string;
}

export interface PriceOverride {
  service: string;
  model_or_operation: string;
  valid_from: string;
  input_per_mtok: number | null;
  output_per_mtok: number | null;
  cache_read_per_mtok: number | null;
  cache_write_per_mtok: number | null;
  per_request: number | null;
  credits_per_request: number | null;
}

export interface PriceLists {
  overrides: PriceOverride[];
  per_request: { service: string; operation: string; per_request: number; version: string }[];
  genai_prices_version: string;
}

export interface RepriceAnswer {
  examined: number;
  repriced: number;
  still_unpriced: number;
}

export interface Alert {
  alert_id: string;
  type: "budget_threshold" | "budget_forecast" | "cloudwatch_alarm" | string;
  created_at: string;
  budget_id?: string;
  budget_name?: string;
  threshold?: number | null;
  utilization?: number;
  spent_usd?: number;
  spent_tokens?: number;
  forecast?: number;
  limit?: number;
  limit_kind?: string;
  period?: { key: string; start: string; end: string };
  name?: string;
  state?: string;
  old_state?: string | null;
  reason?: string | null;
  metric?: string | null;
  time?: string | null;
}

export interface ReportListing {
  kind: "daily" | "weekly" | "monthly" | string;
  period: string;
  start_date: string;
  end_date: string;
  generated_at: string;
  complete: boolean;
  total_cost_usd: number;
}
