"""What a budget is: its definition, what it counts, and how it is stored (SPEC 6).

A change to what a budget counts (scope, period, timezone, anchor day, reset)
starts a new generation of spend items (`shared/budgets/changes.py`); the
aggregator adds to the spend item of the generation and period an event falls in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shared import repository, store, table
from shared.events import UsageEvent
from shared.models import BudgetIn, format_ts
from shared.periods import Period, period_of
from shared.rollups import Totals

ACTION_RANK = {"allow": 0, "warn": 1, "degrade": 2, "queue": 3, "block": 4}
SCOPE_FIELDS = ("service", "model", "operation", "user_id", "project", "repository")
BACKFILL_MARKER = "backfilled"
RETENTION_LOOKBACK_DAYS = 400
MAX_FUTURE = timedelta(minutes=5)  # an event may be stamped up to this far ahead (SPEC 4.1)


@dataclass
class Budget:
    """A stored budget definition, with the generation its spend items belong to."""

    budget_id: str
    name: str
    scope: dict[str, Any]
    period: str
    timezone: str
    anchor_day: int
    limit_usd: Decimal | None
    limit_tokens: int | None
    limit_credits: Decimal | None
    thresholds: list[Decimal]
    forecast_alert: bool
    action_on_limit: str
    fallback_model: str | None
    override_until: datetime | None
    generation: int
    live_from: datetime  # the aggregator counts writes stamped from here; the backfill those before
    counting_from: datetime | None
    created_at: str
    updated_at: str
    backfill_due_at: datetime | None = None
    backfilled_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def backfill_due(self, now: datetime) -> bool:
        return self.backfilled_at is None and self.backfill_due_at is not None and now >= self.backfill_due_at

    # --- what it counts -----------------------------------------------------------

    def matches(self, attrs: dict[str, Any]) -> bool:
        for name in SCOPE_FIELDS:
            wanted = self.scope.get(name)
            if wanted is not None and attrs.get(name) != wanted:
                return False
        tags = attrs.get("tags") or {}
        return all(tags.get(k) == v for k, v in (self.scope.get("tags") or {}).items())

    def counts(self, e: UsageEvent) -> bool:
        if self.counting_from is not None and e.ts < self.counting_from:
            return False
        return self.matches(event_attributes(e))

    # --- when -----------------------------------------------------------------------

    def period_of(self, at: datetime) -> Period:
        return period_of(self.period, self.timezone, self.anchor_day, at)

    @property
    def limit_kind(self) -> str:
        return "usd" if self.limit_usd is not None else "tokens" if self.limit_tokens is not None else "credits"

    @property
    def limit(self) -> Decimal:
        amount = (self.limit_usd if self.limit_usd is not None else
                  self.limit_tokens if self.limit_tokens is not None else self.limit_credits)
        assert amount is not None  # a budget has exactly one limit (parse_budget)
        return Decimal(amount)

    def spent_in_limit_unit(self, t: Totals) -> Decimal:
        return {"usd": t.cost_usd, "tokens": Decimal(t.tokens), "credits": t.credits}[self.limit_kind]

    def definition_json(self) -> dict[str, Any]:
        return {
            "budget_id": self.budget_id,
            "name": self.name,
            "scope": self.scope,
            "period": self.period,
            "timezone": self.timezone,
            "anchor_day": self.anchor_day,
            "limit_usd": float(self.limit_usd) if self.limit_usd is not None else None,
            "limit_tokens": self.limit_tokens,
            "limit_credits": float(self.limit_credits) if self.limit_credits is not None else None,
            "thresholds": [float(t) for t in self.thresholds],
            "forecast_alert": self.forecast_alert,
            "action_on_limit": self.action_on_limit,
            "fallback_model": self.fallback_model,
            "override_until": format_ts(self.override_until) if self.override_until else None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def event_attributes(e: UsageEvent) -> dict[str, Any]:
    return {"service": e.service, "model": e.model, "operation": e.operation, "user_id": e.user_id,
            "project": e.project, "repository": e.repository, "tags": e.tags}

# --- storage shape -------------------------------------------------------------------------


def budget_of_item(item: dict[str, Any]) -> Budget:
    """A stored budget: its definition (the validated `BudgetIn`, stored as JSON) and bookkeeping."""
    spec = BudgetIn.model_validate_json(item["definition"])
    return Budget(
        budget_id=item["budget_id"],
        name=spec.name or item["budget_id"],
        scope=spec.scope.model_dump(exclude_none=True),
        **{name: getattr(spec, name) for name in (
            "period", "timezone", "anchor_day", "limit_usd", "limit_tokens", "limit_credits", "thresholds",
            "forecast_alert", "action_on_limit", "fallback_model", "override_until")},
        generation=int(item["generation"]),
        live_from=datetime.fromisoformat(item["live_from"]),
        counting_from=datetime.fromisoformat(item["counting_from"]) if item.get("counting_from") else None,
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        backfill_due_at=datetime.fromisoformat(item["backfill_due_at"]) if item.get("backfill_due_at") else None,
        backfilled_at=item.get(BACKFILL_MARKER),
    )


def definition_text(body: BudgetIn, name: str) -> str:
    return body.model_copy(update={"name": name}).model_dump_json()


def load_all() -> list[Budget]:
    """Every budget, read consistently in one Query."""
    return [budget_of_item(item) for item in repository.current().query(table.BUDGETS_PARTITION, consistent=True)]


def load(budget_id: str) -> tuple[Budget | None, dict[str, Any] | None]:
    item = repository.current().get(table.budget_definition_key(budget_id))
    return (budget_of_item(item), item) if item else (None, None)


# --- spend items -------------------------------------------------------------------------------


def spend_key(b: Budget, period_key: str) -> dict[str, str]:
    return table.budget_spend_key(b.budget_id, b.generation, period_key)


def spent_in(b: Budget, period: Period, stats: store.ReadStats | None = None) -> Totals:
    item = repository.current().get(spend_key(b, period.key), stats=stats)
    return Totals.of_item(item) if item else Totals()
