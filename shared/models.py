"""Pydantic models of what crosses the API: usage events, queries, keys, prices.

Input models forbid unknown fields (a typo must never silently lose data) and
name the offending field in every error. `UsageEvent` is the normalised,
priced event the rest of the core works with.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator, model_validator

from shared.money import MAX_PLACES, decimal_text
from shared.periods import PeriodKind

EVENT_ID_PATTERN = r"^[A-Za-z0-9._:@/-]{1,128}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
SLUG = re.compile(SLUG_PATTERN)
BUDGET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_EVENTS_PER_BATCH = 1000
MAX_METADATA_BYTES = 4096
MAX_FUTURE = timedelta(minutes=5)
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Bounds that keep every stored number and every counter sum inside DynamoDB's
# numbers (38 significant digits, magnitude < 1E126): beyond them a write, or a
# later ADD to a shared aggregate cell, would fail for everyone writing to it.
MAX_COUNT = 10**15  # tokens, requests, milliseconds... in one event
MAX_USD = Decimal(10**9)  # one event's cost, one price per million tokens or request
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # no timestamp or date before this (periods, TTL, history windows)
LATEST_DATE = date(9998, 12, 31)  # the last date a query may name (its next day and month must exist)

Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
Text128 = Annotated[str, StringConstraints(max_length=128)]
# Amounts are stored exactly (shared/money.py): a reported amount may have MAX_PLACES decimal places, and a
# price 17, so that a cost computed from it (per million tokens, halved for batch) has no more than MAX_PLACES.
Money = Annotated[Decimal, Field(ge=0, le=MAX_USD, allow_inf_nan=False, max_digits=38, decimal_places=MAX_PLACES)]
PRICE_PLACES = 17
Price = Annotated[Decimal, Field(ge=0, le=MAX_USD, allow_inf_nan=False, max_digits=38, decimal_places=PRICE_PLACES)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
ServiceTier = Literal["standard", "batch", "flex", "priority"]


def lower_slug(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def parse_timestamp(value: Any) -> datetime:
    """RFC 3339 with an offset -> aware UTC datetime."""
    parsed: datetime | None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) and len(value) > 10 else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError("must be an RFC 3339 timestamp with offset, e.g. 2026-11-21T09:30:00Z")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("must carry a UTC offset (Z or +HH:MM)")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-14:00
        raise ValueError("is out of range") from None
    if utc < EARLIEST:
        raise ValueError("must not be before 2000-01-01T00:00:00Z")
    return utc


DATE_OR_TIMESTAMP = (
    "must be a date YYYY-MM-DD (midnight UTC) or an RFC 3339 timestamp with offset, e.g. 2026-11-21T09:30:00Z"
)


def parse_date_or_timestamp(value: Any) -> datetime:
    """`2026-11-21` (midnight UTC) or an RFC 3339 timestamp with offset -> aware UTC datetime."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is not a calendar date; {DATE_OR_TIMESTAMP}") from None
        value = datetime(day.year, day.month, day.day, tzinfo=UTC)
    elif not isinstance(value, datetime) and not (isinstance(value, str) and len(value) > 10):
        raise ValueError(DATE_OR_TIMESTAMP)
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        message = str(exc)
        raise ValueError(DATE_OR_TIMESTAMP if message.startswith("must be an RFC 3339") else message) from None


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime(TS_FORMAT)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, populate_by_name=True)


InputT = TypeVar("InputT", bound=BaseModel)


class GitHubContext(_Input):
    repository: (
        Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")] | None
    ) = None
    pr_number: Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)] | None = None
    run_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    run_attempt: Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)] | None = None
    workflow: Text128 | None = None
    workflow_ref: Annotated[str, StringConstraints(max_length=400)] | None = None
    job: Text128 | None = None
    actor: Text128 | None = None
    sha: Annotated[str, StringConstraints(max_length=64)] | None = None
    event_name: Text128 | None = None

    @field_validator("run_id", mode="before")
    @classmethod
    def _run_id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("run_attempt", "pr_number", mode="before")
    @classmethod
    def _numeric_text(cls, value: Any) -> Any:
        # GitHub puts numbers in strings ("run_attempt": "2"); accept digits only.
        return int(value) if isinstance(value, str) and value.isdigit() else value


class UsageEventIn(_Input):
    """One event as posted to `POST /ai_usage` (SPEC 4.1)."""

    event_id: Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)] | None = None
    timestamp: datetime | None = None
    service: Slug | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    operation: Slug | None = None
    input_tokens: Count | None = None
    cache_read_tokens: Count | None = None
    cache_write_tokens: Count | None = None
    output_tokens: Count | None = None
    reasoning_tokens: Count | None = None
    requests: Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)] = 1
    usage: dict[str, Any] | None = None
    claude_code_result: dict[str, Any] | None = None
    cost_usd: Money | None = None
    service_tier: ServiceTier | None = None
    credits: Money | None = None
    latency_ms: Count | None = None
    status: Literal["ok", "error"] = "ok"
    error: Annotated[str, StringConstraints(max_length=1000)] | None = None
    user_id: Text128 | None = None
    project: Text128 | None = None
    job_id: Text128 | None = None
    batch_id: Text128 | None = None
    github: GitHubContext | None = None
    tags: dict[Text128, Text128] | None = Field(default=None, max_length=20)
    metadata: dict[str, Any] | None = None

    _lower = field_validator("service", "operation", mode="before")(classmethod(lambda cls, v: lower_slug(v)))

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> Any:
        return None if value is None else parse_timestamp(value)

    @field_validator("timestamp")
    @classmethod
    def _not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value - datetime.now(UTC) > MAX_FUTURE:
            raise ValueError("is more than 5 minutes in the future")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(canonical_json(value).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"is larger than {MAX_METADATA_BYTES} bytes as JSON")
        return value

    def field_errors(self) -> list[tuple[tuple[str, ...], str]]:
        """Cross-field rules, each naming the field it is about."""
        errors: list[tuple[tuple[str, ...], str]] = []
        if self.service is None and self.claude_code_result is None:
            errors.append((("service",), "Field required"))
        if self.usage is not None and self.claude_code_result is not None:
            errors.append((("claude_code_result",), "give either usage or claude_code_result, not both"))
        source = (
            "usage" if self.usage is not None else "claude_code_result" if self.claude_code_result is not None else None
        )
        for name in TOKEN_FIELDS:
            if source and getattr(self, name) is not None:
                errors.append(((name,), f"cannot be given together with {source}"))
        if (self.cache_read_tokens or 0) + (self.cache_write_tokens or 0) > (self.input_tokens or 0):
            errors.append(
                (
                    ("cache_read_tokens",),
                    "cache_read_tokens + cache_write_tokens exceed input_tokens, which includes them",
                )
            )
        if (self.reasoning_tokens or 0) > (self.output_tokens or 0):
            errors.append((("reasoning_tokens",), "exceeds output_tokens, which includes it"))
        return errors


TOKEN_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


class UsageBatchIn(_Input):
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


@dataclass(slots=True)
class Counts:
    """Token counts in the OpenAI convention: totals include their parts."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    web_search_requests: int = 0
    # Further billed counts by genai-prices usage key (modalities, tool-use prompts, 5-minute cache writes...):
    # parts of the totals above, priced wherever the model has a price of their own.
    details: dict[str, int] = field(default_factory=dict)
    # The counts sum a whole session of API calls (Claude Code's modelUsage): priced per token at the base
    # rates, since a long-context tier applies to one request's size and no single request is known here.
    session_totals: bool = False


def canonical_json(value: Any) -> str:
    """Stable JSON for hashing and storing free-form objects (Decimals as numbers)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def content_hash(fields: dict[str, Any]) -> str:
    """Hash of what the caller sent: the same content re-posted is a duplicate."""

    def canon(value: Any) -> Any:
        if isinstance(value, Decimal):
            return "D:" + decimal_text(value)
        if isinstance(value, dict):
            return {k: canon(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [canon(v) for v in value]
        return value

    return hashlib.sha256(canonical_json(canon(fields)).encode()).hexdigest()[:32]


# --- other request bodies -------------------------------------------------------

Scope = Literal["usage:write", "usage:read", "admin"]


class KeyCreateIn(_Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    scopes: list[Scope] = Field(min_length=1, max_length=3)


class PriceOverrideIn(_Input):
    input_per_mtok: Price | None = None
    output_per_mtok: Price | None = None
    cache_read_per_mtok: Price | None = None
    cache_write_per_mtok: Price | None = None
    per_request: Price | None = None
    credits_per_request: Price | None = None
    valid_from: datetime | None = Field(None, description="A date YYYY-MM-DD (midnight UTC) or an RFC 3339 timestamp "
                                                          "with offset; default 2000-01-01")

    @field_validator("valid_from", mode="before")
    @classmethod
    def _valid_from(cls, value: Any) -> Any:
        return None if value is None else parse_date_or_timestamp(value)

    @model_validator(mode="after")
    def _some_price(self) -> PriceOverrideIn:
        if all(
            getattr(self, name) is None
            for name in ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok",
                         "per_request", "credits_per_request")
        ):
            raise ValueError("set at least one price")
        return self


class RepriceIn(_Input):
    start_date: date
    end_date: date


class EstimateItemIn(_Input):
    service: Slug
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    operation: Slug | None = None
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0
    service_tier: ServiceTier | None = None
    count: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1

    _lower = field_validator("service", "operation", mode="before")(classmethod(lambda cls, v: lower_slug(v)))

    @model_validator(mode="after")
    def _parts(self) -> EstimateItemIn:
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens:
            raise ValueError("cache_read_tokens + cache_write_tokens exceed input_tokens (which includes them)")
        return self


class EstimateIn(_Input):
    items: list[EstimateItemIn] = Field(min_length=1, max_length=100)
    scope: dict[str, Any] = Field(default_factory=dict)


def parse(model: type[InputT], data: Any, what: str) -> InputT:
    """Validate a request body, or raise ValidationFailed naming every offending field."""
    from pydantic import ValidationError

    from shared.errors import ValidationFailed

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(f"invalid {what}", pydantic_details(exc)) from None


def pydantic_details(exc: Any, prefix: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as SPEC 3 details: `{"loc": [...], "msg": ...}`."""
    details = []
    for error in exc.errors(include_url=False):
        loc = [*prefix, *error["loc"]]
        msg = error["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        details.append({"loc": loc, "msg": msg})
    return details


# --- budgets -----------------------------------------------------------------------

Action = Literal["warn", "block", "degrade", "queue"]


class BudgetScope(_Input):
    """Which events a budget counts: every given field must match; `{}` is everything."""

    service: Slug | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    operation: Slug | None = None
    user_id: Text128 | None = None
    project: Text128 | None = None
    repository: Annotated[str, StringConstraints(max_length=200)] | None = None
    tags: dict[Text128, Text128] | None = Field(default=None, max_length=20)

    _lower = field_validator("service", "operation", mode="before")(classmethod(lambda cls, v: lower_slug(v)))


class BudgetIn(_Input):
    """`PUT /budgets/{budget_id}` (SPEC 6)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    scope: BudgetScope = Field(default_factory=BudgetScope)
    period: PeriodKind
    timezone: str = "UTC"
    anchor_day: Annotated[StrictInt, Field(ge=1, le=28)] = 1
    limit_usd: Annotated[Decimal, Field(gt=0, le=MAX_USD * MAX_COUNT, allow_inf_nan=False, max_digits=38)] | None = None
    limit_tokens: Annotated[StrictInt, Field(gt=0, le=MAX_COUNT * MAX_COUNT)] | None = None
    limit_credits: (
        Annotated[Decimal, Field(gt=0, le=MAX_USD * MAX_COUNT, allow_inf_nan=False, max_digits=38)] | None
    ) = None
    thresholds: list[Annotated[Decimal, Field(gt=0, le=10, allow_inf_nan=False)]] = Field(
        default_factory=lambda: [Decimal("0.5"), Decimal("0.8"), Decimal("1.0")], max_length=20)
    forecast_alert: bool = False
    action_on_limit: Action = "warn"
    fallback_model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    override_until: datetime | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value

    @field_validator("override_until", mode="before")
    @classmethod
    def _override_until(cls, value: Any) -> Any:
        return None if value is None else parse_timestamp(value)

    @field_validator("thresholds")
    @classmethod
    def _sorted_thresholds(cls, value: list[Decimal]) -> list[Decimal]:
        return sorted(set(v.normalize() for v in value))

    def field_errors(self) -> list[tuple[tuple[str, ...], str]]:
        errors: list[tuple[tuple[str, ...], str]] = []
        limits = [n for n in ("limit_usd", "limit_tokens", "limit_credits") if getattr(self, n) is not None]
        if len(limits) != 1:
            errors.append((("limit_usd",), "exactly one of limit_usd, limit_tokens, limit_credits is required"))
        if self.action_on_limit == "degrade" and not self.fallback_model:
            errors.append((("fallback_model",), "is required when action_on_limit is degrade"))
        return errors


class BudgetCheckIn(BudgetScope):
    """`POST /budgets/check`: what is about to be spent (a cost, or token counts to price), and on what."""

    estimated_cost_usd: Money | None = None
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_read_tokens: Count | None = None
    service_tier: ServiceTier | None = None
