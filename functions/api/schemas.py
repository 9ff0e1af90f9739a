"""Pydantic models of what the API answers, for the OpenAPI document (`functions/api/openapi.py`).

Request bodies are the input models of `shared/models.py`, which also validate
them. These response models only describe: `shared/` builds the answers as
plain dicts (money already rounded to JSON numbers), so nothing validates or
re-serialises a response against them at run time; the schemathesis fuzz test
checks that real answers conform. Routes name them (`answers.answer`) and only
`openapi.py` imports this module. Money is `float`: a JSON number on the wire.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
KEY_ID_PATTERN = r"^k_[0-9a-f]{20}$"


class _Out(BaseModel):
    """An answer's shape (documentation: nothing validates answers at run time)."""


# --- errors (SPEC 3) -------------------------------------------------------------------------


class ErrorDetail(_Out):
    """One offending field: where it is and what is wrong with it."""

    loc: list[str | int] = Field(
        description='Path to the field, e.g. ["events", 3, "input_tokens"] or ["query", "limit"]'
    )
    msg: str


class ErrorInfo(_Out):
    code: Literal["validation_error", "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict",
                  "payload_too_large", "unsupported_media_type", "internal_error"]
    message: str
    details: list[ErrorDetail]


class Error(_Out):
    """Every error answer. `internal_error` (500) never carries a stack trace or AWS internals."""

    error: ErrorInfo


# --- system ------------------------------------------------------------------------------------


class Health(_Out):
    status: Literal["ok"]


class OpenApiDocument(_Out):
    """This document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# --- usage ---------------------------------------------------------------------------------------


class RecordResult(_Out):
    event_id: str
    status: Literal["created", "duplicate", "conflict"] = Field(
        description="duplicate: this id is stored with the same content; "
        "conflict: with other content (the stored one wins)"
    )
    cost_usd: float = Field(description="Cost of the stored event")
    cost_source: Literal["reported", "computed", "unpriced"]


class RecordAnswer(_Out):
    """A 200 means every event of the body is in DynamoDB (or was already)."""

    accepted: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    conflicts: int = Field(ge=0)
    results: list[RecordResult] = Field(
        description="One per posted event, in order (a Claude Code result gives one per model)"
    )
    received_at: str | None = Field(description="When the newest event of this request was written (null when none "
                                                "was): totals count it once `stats.aggregated_through` passes this")


class UsageBucket(_Out):
    """Totals of one breakdown key or row; money rounded half-up to 6 places."""

    cost_usd: float
    tokens: int = Field(description="input_tokens + output_tokens")
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    api_calls: int = Field(description="Sum of `requests`")
    events: int
    unpriced_events: int


class UsageRow(UsageBucket):
    """A `group_by` row: the dimension values (`day`, `service`, ...; null when unset) and the totals."""

    model_config = ConfigDict(extra="allow")


class UsageTotals(_Out):
    total_cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    total_tokens: int
    total_api_calls: int
    events: int
    unpriced_events: int
    credits: float
    average_cost_per_call: float


class DateRange(_Out):
    start: str = Field(pattern=DATE_PATTERN)
    end: str = Field(pattern=DATE_PATTERN)


class UsageSummary(UsageTotals):
    date_range: DateRange


class UsageQueryEcho(_Out):
    start_date: str
    end_date: str
    aggregation: list[str]
    group_by: list[str]
    filters: dict[str, list[str]]


class ReadStats(_Out):
    """What DynamoDB returned for this answer."""

    items_read: int = Field(ge=0)
    dynamodb_requests: int = Field(ge=0)


class UsageStats(ReadStats):
    """What DynamoDB returned, and how fresh the totals are (they follow the event stream)."""

    aggregated_through: str = Field(description="Every event written before this time is in the totals")
    aggregation_lag_seconds: float = Field(ge=0, description="How far `aggregated_through` is behind now")


class UsageAnswer(_Out):
    summary: UsageSummary
    aggregations: dict[str, dict[str, UsageBucket]] = Field(
        description="`by_<name>` for each name of `aggregation`, keyed by its value (`(none)` when unset)")
    rows: list[UsageRow]
    query: UsageQueryEcho
    stats: UsageStats


class StoredEvent(_Out):
    """A stored event as `GET /ai_usage/events` shows it; optional fields appear when set."""

    event_id: str
    timestamp: str
    service: str
    model: str
    operation: str
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int | None = None
    output_tokens: int
    reasoning_tokens: int
    web_search_requests: int | None = None
    requests: int
    latency_ms: int | None = None
    cost_usd: float | None
    cost_source: str | None
    list_cost_usd: float | None = None
    price_source: str | None = None
    price_version: str | None = None
    service_tier: str | None = None
    credits: float | None = None
    status: str | None = None
    error: str | None = None
    user_id: str | None = None
    project: str | None = None
    job_id: str | None = None
    batch_id: str | None = None
    tags: dict[str, str] | None = None
    received_at: str | None = None
    github: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class EventsPage(_Out):
    events: list[StoredEvent]
    next_token: str | None = Field(description="Pass as `next_token` for the next page; null on the last one")
    stats: ReadStats


class EstimateLine(_Out):
    service: str
    model: str | None
    operation: str
    count: int
    unit_cost_usd: float | None
    total_cost_usd: float | None
    price_source: str | None
    priced: bool


class BudgetImpact(_Out):
    budget_id: str
    remaining_usd: float | None
    would_exceed: bool
    action_on_limit: str


class EstimateAnswer(_Out):
    items: list[EstimateLine]
    total_estimated_cost_usd: float
    unpriced_items: int
    budgets: list[BudgetImpact]


class RepriceAnswer(_Out):
    examined: int
    repriced: int
    still_unpriced: int


# --- prices ----------------------------------------------------------------------------------------


class PriceOverride(_Out):
    service: str
    model_or_operation: str
    valid_from: str
    source: Literal["override"]
    input_per_mtok: float | None
    output_per_mtok: float | None
    cache_read_per_mtok: float | None
    cache_write_per_mtok: float | None
    per_request: float | None
    credits_per_request: float | None


class PerRequestPrice(_Out):
    service: str
    operation: str
    per_request: float
    source: Literal["per-request-table"]
    version: str


class EffectivePrice(_Out):
    """The price an event of this service/model/operation gets now; `source` null: none known (unpriced)."""

    model_config = ConfigDict(extra="allow")
    service: str
    model: str | None
    operation: str
    source: Literal["override", "per-request-table", "genai-prices"] | None
    version: str | None


class PriceList(_Out):
    """Without `model`/`operation`: the overrides and the shipped per-request prices."""

    overrides: list[PriceOverride]
    per_request: list[PerRequestPrice]
    genai_prices_version: str


class EffectivePrices(_Out):
    """With `service` and `model` (or `operation`): the effective price and where it comes from."""

    prices: list[EffectivePrice]


class PriceView(RootModel[PriceList | EffectivePrices]):
    """`GET /prices`: the price lists, or the effective prices of one service and model or operation."""


# --- keys --------------------------------------------------------------------------------------------


class CreatedKey(_Out):
    """The only answer that ever shows the key itself."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    key: str = Field(description="`aiu_` + 43 url-safe characters; store it now, it is never shown again")
    name: str
    scopes: list[Literal["usage:write", "usage:read", "admin"]]
    created_at: str


class KeyInfo(_Out):
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    name: str
    scopes: list[Literal["usage:write", "usage:read", "admin"]]
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class KeyList(_Out):
    keys: list[KeyInfo]


# --- alerts ------------------------------------------------------------------------------------------


class Alert(_Out):
    """A budget threshold, budget forecast or CloudWatch alarm alert; the other fields depend on `type`."""

    model_config = ConfigDict(extra="allow")
    alert_id: str
    type: Literal["budget_threshold", "budget_forecast", "cloudwatch_alarm"]
    created_at: str


class AlertList(_Out):
    alerts: list[Alert]


# --- budgets ----------------------------------------------------------------------------------------------


class BudgetStatus(_Out):
    period_start: str
    period_end: str | None = Field(description="null for the `total` period")
    period_key: str
    spent_usd: float
    spent_tokens: int
    spent_credits: float
    limit_usd: float | None
    limit_tokens: int | None
    limit_credits: float | None
    remaining_usd: float | None
    remaining: float = Field(description="What remains in the limit's unit")
    utilization: float
    state: Literal["ok", "warning", "critical", "exceeded"]
    burn_rate_usd_per_day: float
    forecast_usd: float | None
    forecast_utilization: float | None
    forecast_exhausted_at: str | None
    thresholds_crossed: list[float]
    override_active: bool
    events: int
    spend_as_of: str = Field(description="Spend counts every event written before this time (`aggregated_through`)")
    backfill: Literal["pending", "done"] = Field(
        description="pending: the events recorded before this budget (generation) are still to be counted")


class Budget(_Out):
    budget_id: str
    name: str
    scope: dict[str, Any]
    period: Literal["daily", "weekly", "monthly", "quarterly", "yearly", "total"]
    timezone: str
    anchor_day: int
    limit_usd: float | None
    limit_tokens: int | None
    limit_credits: float | None
    thresholds: list[float]
    forecast_alert: bool
    action_on_limit: Literal["warn", "block", "degrade", "queue"]
    fallback_model: str | None
    override_until: str | None
    created_at: str
    updated_at: str
    status: BudgetStatus


class BudgetList(_Out):
    budgets: list[Budget]


class BudgetDecision(_Out):
    budget_id: str
    remaining_usd: float | None
    utilization: float
    state: Literal["ok", "warning", "critical", "exceeded"]
    action: Literal["allow", "warn", "block", "degrade", "queue"]


class CheckAnswer(_Out):
    allowed: bool
    action: Literal["allow", "warn", "block", "degrade", "queue"]
    fallback_model: str | None
    retry_after: str | None = Field(description="For `queue`: the end of the budget's period")
    estimated_cost_usd: float | None
    budgets: list[BudgetDecision]
    spend_as_of: str = Field(description="The decisions read spend counting every event written before this time")


class HistoryEntry(_Out):
    action: Literal["create", "update", "override", "delete", "reset"]
    principal: str
    at: str
    before: Any
    after: Any


class BudgetHistory(_Out):
    history: list[HistoryEntry]


# --- reports -----------------------------------------------------------------------------------------------


class ReportListing(_Out):
    kind: Literal["daily", "weekly", "monthly"]
    period: str
    start_date: str
    end_date: str
    generated_at: str
    complete: bool
    total_cost_usd: float


class ReportList(_Out):
    reports: list[ReportListing]


class ReportEntry(UsageBucket):
    """A breakdown entry: the key under its dimension's name (`service`, `model`, `user`, ...) and the totals."""

    model_config = ConfigDict(extra="allow")


class ReportChange(_Out):
    previous_period: str
    previous_cost_usd: float
    cost_usd: float
    change_usd: float
    change_percent: float | None


class ReportBudget(_Out):
    budget_id: str
    name: str
    utilization: float
    state: str
    spent_usd: float
    limit_usd: float | None
    period_start: str
    period_end: str | None


class Anomaly(_Out):
    day: str
    scope: Literal["day", "service"]
    service: str | None
    cost_usd: float
    mean_usd: float
    stddev_usd: float
    threshold_usd: float
    history_days: int
    rule: Literal["over_3_stddev", "over_twice_mean"]


class MonthForecast(_Out):
    month: str
    month_to_date_usd: float
    days_elapsed: int
    days_in_month: int
    remaining_days: int
    daily_average_usd: float
    forecast_usd: float


class Report(_Out):
    kind: Literal["daily", "weekly", "monthly"]
    period: str
    start_date: str
    end_date: str
    generated_at: str
    complete: bool
    totals: UsageTotals
    change: ReportChange
    by_service: list[ReportEntry]
    by_model: list[ReportEntry]
    by_operation: list[ReportEntry]
    top_users: list[ReportEntry]
    top_jobs: list[ReportEntry]
    top_repositories: list[ReportEntry]
    budgets: list[ReportBudget]
    anomalies: list[Anomaly]
    forecast: MonthForecast
    stats: ReadStats

