"""Budgets (SPEC 6): periods, exact spend, status and forecast, check decisions, alerts, audit.

Spend is counted by the aggregator (`shared/aggregation.py`), which folds the
event stream into the spend item of every budget whose scope matches, under
the period the event's timestamp falls in (in the budget's timezone), so late
arrivals land in their own period and reading a status is one GetItem.

A change to what a budget counts (scope, period, timezone, anchor day, reset)
starts a new generation of spend items. Each generation is split in time by
its `live_from`, set `budget_fence_seconds` after the definition is written:
the aggregator counts the events stamped (`received_at`, or the reprice) from
then on, and a backfill counts, once, the events of the current period stamped
before — when `backfill_due_at` (`live_from` plus the write bound) has passed,
every such event is stored, and the aggregator has counted them in the cells.
So every event is counted exactly once for every generation, with no shared
item on the ingest path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared import alerts, budget_alarms, events, freshness, pricing, store, table, telemetry
from shared.config import settings
from shared.errors import NotFound, ValidationFailed
from shared.events import UsageEvent
from shared.models import BUDGET_ID_PATTERN, BudgetCheckIn, BudgetIn, Counts, format_ts, parse
from shared.money import ZERO, usd
from shared.periods import Period, months_between, period_of
from shared.retry import ConditionFailed, until_no_conflict
from shared.rollups import CellDelta, Totals

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
        return Decimal(self.limit_usd if self.limit_usd is not None else
                       self.limit_tokens if self.limit_tokens is not None else self.limit_credits)

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


def _budget_of_item(item: dict[str, Any]) -> Budget:
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


def _definition_text(body: BudgetIn, name: str) -> str:
    return body.model_copy(update={"name": name}).model_dump_json()


def load_all() -> list[Budget]:
    """Every budget, read consistently in one Query."""
    return [_budget_of_item(item) for item in store.query_all(table.BUDGETS_PARTITION, consistent=True)]


def _load(budget_id: str) -> tuple[Budget | None, dict[str, Any] | None]:
    item = store.get(table.budget_definition_key(budget_id))
    return (_budget_of_item(item), item) if item else (None, None)


# --- counting and evaluating -------------------------------------------------------------


def spend_key(b: Budget, period_key: str) -> dict[str, str]:
    return table.budget_spend_key(b.budget_id, b.generation, period_key)


def evaluate(touched: Sequence[tuple[Budget, Period]], now: datetime | None = None) -> list[dict]:
    """Alerts for every threshold these budget periods have passed, and the utilization metric.

    Called by the aggregator after each batch with the (budget, period) pairs the
    batch counted in, and after a backfill; each alert is stored once by its dedup key.
    """
    now = now or datetime.now(UTC)
    raised: list[dict] = []
    for b, period in touched:
        spent = _spent(b, period)
        utilization = b.spent_in_limit_unit(spent) / b.limit
        raised += _threshold_alerts(b, period, spent, utilization, now)
        if period.key == b.period_of(now).key:
            telemetry.budget_utilization(b.budget_id, utilization * 100)
            if b.forecast_alert:
                raised += _forecast_alert(b, period, spent, now)
    return raised


def report_utilization(now: datetime | None = None) -> None:
    """`BudgetUtilization` of every budget's current period (each budget's CloudWatch alarm watches it)."""
    now = now or datetime.now(UTC)
    for b in load_all():
        spent = _spent(b, b.period_of(now))
        telemetry.budget_utilization(b.budget_id, b.spent_in_limit_unit(spent) / b.limit * 100)


def _threshold_alerts(b: Budget, period: Period, spent: Totals, utilization: Decimal, now: datetime) -> list[dict]:
    raised = []
    for threshold in b.thresholds:
        if utilization < threshold:
            continue
        alert = alerts.raise_alert(
            f"budget:{b.budget_id}:{b.generation}:{period.key}:{threshold}", "budget_threshold",
            {"budget_id": b.budget_id, "budget_name": b.name, "threshold": float(threshold),
             "utilization": round(float(utilization), 6), "spent_usd": usd(spent.cost_usd),
             "spent_tokens": spent.tokens, "limit": float(b.limit), "limit_kind": b.limit_kind,
             "period": period.as_json()},
            subject=f"aiusage: budget {b.name} passed {float(threshold) * 100:g}%", now=now)
        if alert:
            raised.append(alert)
    return raised


def _forecast_alert(b: Budget, period: Period, spent: Totals, now: datetime) -> list[dict]:
    s = _status(b, period, spent, now)
    if s["forecast"] is None or s["forecast"] <= b.limit:
        return []
    alert = alerts.raise_alert(
        f"budget:{b.budget_id}:{b.generation}:{period.key}:forecast", "budget_forecast",
        {"budget_id": b.budget_id, "budget_name": b.name, "forecast": in_limit_unit(b, s["forecast"]),
         "spent_usd": usd(spent.cost_usd), "limit": float(b.limit), "limit_kind": b.limit_kind,
         "period": period.as_json()},
        subject=f"aiusage: budget {b.name} is forecast to pass its limit", now=now)
    return [alert] if alert else []


# --- status ---------------------------------------------------------------------------------


def _spent(b: Budget, period: Period, stats: store.ReadStats | None = None) -> Totals:
    item = store.get(spend_key(b, period.key), stats=stats)
    return Totals.of_item(item) if item else Totals()


def in_limit_unit(b: Budget, amount: Decimal) -> float | int:
    """An amount in the budget's limit unit as JSON, rounded once: USD and credits to 6 places, tokens whole."""
    return int(amount.to_integral_value(ROUND_HALF_UP)) if b.limit_kind == "tokens" else usd(amount)


def counting_since(b: Budget, period: Period) -> datetime:
    """Where the burn rate starts: the period's start, or the reset within it.

    A `total` period never started (it is all time), so its rate runs from the
    budget's creation or its last reset instead of from 1970.
    """
    if period.end is None:
        return b.counting_from or datetime.fromisoformat(b.created_at.replace("Z", "+00:00"))
    return max(period.start, b.counting_from) if b.counting_from else period.start


def _status(b: Budget, period: Period, spent: Totals, now: datetime) -> dict[str, Any]:
    """Status numbers in the limit's unit (Decimal), burn rate and forecast."""
    limit = b.limit
    used = b.spent_in_limit_unit(spent)
    utilization = used / limit
    # At least an hour, or a day for `total` budgets, whose spend mostly predates them (the backfill counts it).
    least = Decimal(1) if period.end is None else Decimal(1) / 24
    elapsed_days = max(Decimal((now - counting_since(b, period)).total_seconds()) / 86400, least)
    burn = used / elapsed_days
    forecast = exhausted_at = None
    if period.end is not None:
        remaining_days = max(Decimal((period.end - now).total_seconds()) / 86400, ZERO)
        forecast = used + burn * remaining_days
        if burn > 0 and used < limit and (limit - used) / burn < remaining_days:
            # Only then: a tiny burn rate puts "exhausted" past any date Python can hold.
            exhausted_at = now + timedelta(days=float((limit - used) / burn))
    return {"used": used, "utilization": utilization, "burn": burn, "forecast": forecast, "exhausted_at": exhausted_at}


def state_of(utilization: Decimal) -> str:
    if utilization >= 1:
        return "exceeded"
    if utilization >= Decimal("0.9"):
        return "critical"
    if utilization >= Decimal("0.75"):
        return "warning"
    return "ok"


def status(b: Budget, now: datetime, stats: store.ReadStats | None = None) -> dict[str, Any]:
    period = b.period_of(now)
    spent = _spent(b, period, stats)
    s = _status(b, period, spent, now)
    usd_limit = b.limit_usd
    burn_usd = (spent.cost_usd / (s["used"] / s["burn"])) if s["burn"] else ZERO
    forecast_usd = None
    if period.end is not None:
        remaining_days = max(Decimal((period.end - now).total_seconds()) / 86400, ZERO)
        forecast_usd = spent.cost_usd + burn_usd * remaining_days
    return {
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat() if period.end else None,
        "period_key": period.key,
        "spent_usd": usd(spent.cost_usd),
        "spent_tokens": spent.tokens,
        "spent_credits": usd(spent.credits),
        "limit_usd": float(usd_limit) if usd_limit is not None else None,
        "limit_tokens": b.limit_tokens,
        "limit_credits": float(b.limit_credits) if b.limit_credits is not None else None,
        "remaining_usd": usd(usd_limit - spent.cost_usd) if usd_limit is not None else None,
        "remaining": in_limit_unit(b, b.limit - s["used"]),
        "utilization": round(float(s["utilization"]), 6),
        "state": state_of(s["utilization"]),
        "burn_rate_usd_per_day": usd(burn_usd),
        "forecast_usd": usd(forecast_usd),
        "forecast_utilization": round(float(s["forecast"] / b.limit), 6) if s["forecast"] is not None else None,
        "forecast_exhausted_at": s["exhausted_at"].astimezone(UTC).isoformat().replace("+00:00", "Z") if s["exhausted_at"] else None,
        "thresholds_crossed": [float(t) for t in b.thresholds if s["utilization"] >= t],
        "override_active": bool(b.override_until and b.override_until > now),
        "events": spent.events,
    }


def budget_json(b: Budget, now: datetime, spend_as_of: datetime | None = None) -> dict[str, Any]:
    """Definition and status; the status says how fresh its spend is and whether older events are still to come."""
    freshness_fields = {
        "spend_as_of": format_ts(spend_as_of or freshness.aggregated_through(now)),
        "backfill": "done" if b.backfilled_at else "pending",
    }
    return {**b.definition_json(), "status": {**status(b, now), **freshness_fields}}


def get_budget(budget_id: str, now: datetime | None = None) -> dict[str, Any]:
    b, _ = _load(budget_id)
    if b is None:
        raise NotFound(f"no budget {budget_id}")
    return budget_json(b, now or datetime.now(UTC))


def list_budgets(now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    as_of = freshness.aggregated_through(now)
    return [budget_json(b, now, as_of) for b in sorted(load_all(), key=lambda b: b.budget_id)]


def all_statuses(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every budget with its current status (for reports and the dashboard)."""
    now = now or datetime.now(UTC)
    return [{"budget_id": b["budget_id"], "name": b["name"], "period": b["period"], "created_at": b["created_at"],
             **b["status"]} for b in list_budgets(now)]


# --- changes ----------------------------------------------------------------------------------


def _validate_id(budget_id: str) -> None:
    import re

    if not re.match(BUDGET_ID_PATTERN, budget_id):
        raise ValidationFailed.at(["path", "budget_id"], "must be 1..64 of [A-Za-z0-9._-], starting with a letter or digit")


def parse_budget(body: Any) -> BudgetIn:
    parsed = parse(BudgetIn, body, "budget")
    errors = [{"loc": list(loc), "msg": msg} for loc, msg in parsed.field_errors()]
    if errors:
        raise ValidationFailed("invalid budget", errors)
    return parsed


def put_budget(budget_id: str, body: Any, principal: str, now: datetime | None = None) -> tuple[dict[str, Any], bool]:
    """Create or replace a budget; returns it with status, and whether it was created."""
    _validate_id(budget_id)
    parsed = parse_budget(body)

    def attempt(_: int) -> tuple[dict[str, Any], bool]:
        now_ = now or datetime.now(UTC)
        existing, existing_item = _load(budget_id)
        definition = _definition_text(parsed, parsed.name or budget_id)
        if existing is not None and existing_item["definition"] == definition:
            budget_alarms.sync(existing)  # nothing changed; repeating a PUT repairs the alarms
            return budget_json(existing, now_), False
        counting_changed = existing is None or _counting(json.loads(existing_item["definition"])) != _counting(json.loads(definition))
        item = {**(existing_item or {}), **table.budget_definition_key(budget_id), "item_type": "budget",
                "budget_id": budget_id, "definition": definition,
                "created_at": existing.created_at if existing else format_ts(now_), "updated_at": format_ts(now_)}
        if counting_changed:
            _start_generation(item, (existing.generation + 1) if existing else 1, None)
        b = _budget_of_item(item)
        action = "create" if existing is None else (
            "override" if _only_override_changed(existing_item["definition"], definition) else "update")
        history = _history_item(budget_id, action, principal, now_,
                                existing.definition_json() if existing else None, b.definition_json())
        _write(item, existing_item, history, counting_changed)
        budget_alarms.sync(b)
        return budget_json(b, now_), existing is None

    return until_no_conflict(attempt)


def _start_generation(item: dict[str, Any], generation: int, counting_from: datetime | None) -> None:
    """A new generation of spend: counted by the aggregator from `live_from`, by its backfill before.

    `live_from` is on this machine's clock, like the `received_at` stamps of ingest.
    """
    s = settings()
    live_from = datetime.now(UTC) + timedelta(seconds=s.budget_fence_seconds)
    due = live_from + timedelta(seconds=s.write_bound_seconds + s.backfill_settle_seconds)
    item.update(generation=generation, live_from=live_from.isoformat(), backfill_due_at=due.isoformat(),
                counting_from=counting_from.isoformat() if counting_from else None)
    item.pop(BACKFILL_MARKER, None)


def _write(item: dict[str, Any], existing_item: dict[str, Any] | None, history: dict[str, Any],
           new_generation: bool) -> None:
    """Store a definition (if nobody changed it meanwhile) with its audit entry; `ConditionFailed`: read it again.

    A new generation must be stored before its `live_from` (the aggregator reads
    budgets after each batch arrives, so it then counts every write stamped from
    `live_from`); a write slower than the fence starts over with a new one.
    """
    item = {k: v for k, v in item.items() if v is not None}
    condition = ("updated_at", existing_item["updated_at"]) if existing_item else None
    _transact_or_conflict([store.put_action(item, if_absent=existing_item is None, if_equal=condition),
                           store.put_action(history)])
    if new_generation and datetime.now(UTC) >= datetime.fromisoformat(item["live_from"]):
        raise ConditionFailed("stored after its live_from: start a new generation")


def _transact_or_conflict(actions: list[dict[str, Any]]) -> None:
    try:
        store.transact(actions)
    except Exception as exc:
        if store.is_condition_failure(exc):
            raise ConditionFailed(str(exc)) from exc
        raise


def _counting(definition: dict[str, Any]) -> tuple:
    return tuple(definition.get(k) for k in ("scope", "period", "timezone", "anchor_day"))


def _only_override_changed(before: str, after: str) -> bool:
    b, a = json.loads(before), json.loads(after)
    return b.get("override_until") != a.get("override_until") and {**b, "override_until": None} == {**a, "override_until": None}


def delete_budget(budget_id: str, principal: str, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)

    def attempt(_: int) -> None:
        existing, existing_item = _load(budget_id)
        if existing is None:
            budget_alarms.remove(budget_id)  # what a DELETE that failed after the budget was gone left behind
            raise NotFound(f"no budget {budget_id}")
        history = _history_item(budget_id, "delete", principal, now, existing.definition_json(), None)
        _transact_or_conflict([store.delete_action(table.budget_definition_key(budget_id),
                                                   if_equal=("updated_at", existing_item["updated_at"])),
                               store.put_action(history)])
        budget_alarms.remove(budget_id)

    until_no_conflict(attempt)


def reset_budget(budget_id: str, principal: str, now: datetime | None = None) -> dict[str, Any]:
    """Spend counts from now for the rest of the period: a new generation counting from `now`."""

    def attempt(_: int) -> dict[str, Any]:
        now_ = now or datetime.now(UTC)
        existing, existing_item = _load(budget_id)
        if existing is None:
            raise NotFound(f"no budget {budget_id}")
        before = status(existing, now_)
        item = {**existing_item, "updated_at": format_ts(now_)}
        _start_generation(item, existing.generation + 1, now_)
        history = _history_item(budget_id, "reset", principal, now_, {"generation": existing.generation, "status": before},
                                {"generation": existing.generation + 1, "counting_from": now_.isoformat()})
        _write(item, existing_item, history, True)
        return budget_json(_budget_of_item({k: v for k, v in item.items() if v is not None}), now_)

    return until_no_conflict(attempt)


def _history_item(budget_id: str, action: str, principal: str, now: datetime, before: Any, after: Any) -> dict[str, Any]:
    ts = format_ts(now)
    return {**table.budget_history_key(budget_id, ts, f"{time.monotonic_ns() % 10**12:012d}"),
            "item_type": "budget_history", "budget_id": budget_id, "action": action, "principal": principal,
            "at": ts, "before": json.dumps(before, default=str) if before is not None else None,
            "after": json.dumps(after, default=str) if after is not None else None}


def history(budget_id: str) -> list[dict[str, Any]]:
    entries = []
    for item in store.query_all(table.budget_partition(budget_id), sk_prefix=table.BUDGET_HISTORY_PREFIX,
                                consistent=True, forward=False):
        entries.append({"action": item["action"], "principal": item["principal"], "at": item["at"],
                        "before": _maybe_json(item.get("before")), "after": _maybe_json(item.get("after"))})
    if not entries:
        raise NotFound(f"no budget {budget_id}")
    return entries


def _maybe_json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def backfill(b: Budget, now: datetime) -> None:
    """Count, once, the events of this generation's first period stamped before its `live_from`.

    Run by the aggregator's tick once the backfill is due (`aggregation.tick`).
    Reads the raw events of the period through the service GSI (the services
    from the day cells, or the budget's own), adds them to their period's spend
    item with a marker that makes a second run add nothing, then marks the
    generation done — unless the budget changed meanwhile.
    """
    first = b.period_of(b.live_from)
    start = max(first.start, b.counting_from) if b.counting_from else first.start
    start_utc = max(start.astimezone(UTC), now - timedelta(days=RETENTION_LOOKBACK_DAYS))
    end_utc = b.live_from + MAX_FUTURE  # nothing stamped before live_from is dated later
    services = [b.scope["service"]] if b.scope.get("service") else services_between(start_utc, end_utc)
    deltas: dict[str, CellDelta] = {}
    periods: dict[str, Period] = {first.key: first}
    for e in _events_between(services, start_utc, end_utc):
        if e.received_at is not None and e.received_at >= b.live_from:
            continue  # the aggregator counts it
        e = events.counted_as_of(e, b.live_from)
        if not b.counts(e):
            continue
        period = b.period_of(e.ts)
        if period.start < first.start:
            continue  # before the generation's first period: not counted (late arrivals to it are)
        periods[period.key] = period
        deltas.setdefault(period.key, CellDelta({"budget_id": b.budget_id, "period_key": period.key})).totals.add(
            Totals.of_event(e))
    for key, period in periods.items():
        store.add_once(spend_key(b, key), deltas.get(key) or CellDelta({"budget_id": b.budget_id, "period_key": key}),
                       BACKFILL_MARKER)
    store.update(table.budget_definition_key(b.budget_id), {BACKFILL_MARKER: format_ts(now)},
                 if_equal=("generation", b.generation))
    evaluate([(b, p) for p in periods.values()], now)


def services_between(start: datetime, end: datetime) -> list[str]:
    """Every service the day cells of these days count (the aggregator has counted them by now)."""
    found: set[str] = set()
    first, last = start.date(), end.date()
    for month in months_between(first, last):
        low = first.strftime("%d") if first.strftime("%Y-%m") == month else "01"
        high = last.strftime("%d") if last.strftime("%Y-%m") == month else "31"
        for partition in table.day_cell_partitions(month):
            for item in store.query_all(partition, sk_between=table.cell_sort_range(low, high), attributes=["service"]):
                found.add(item["service"])
    return sorted(found)


def _events_between(services: Sequence[str], start: datetime, end: datetime) -> Iterator[UsageEvent]:
    bounds = table.time_sort_bounds(format_ts(start), format_ts(end))
    for service in services:
        for month in months_between(start.date(), end.date()):
            for shard in table.shard_range(table.EVENT_INDEX_SHARDS):
                for item in store.query_all(table.service_month_partition(service, month, shard),
                                            index=table.GSI_BY_SERVICE, sk_between=bounds):
                    yield events.from_item(item)


# --- decisions ---------------------------------------------------------------------------------


def check(body: Any, now: datetime | None = None) -> dict[str, Any]:
    """`POST /budgets/check`: may this be spent? The strictest acting budget decides."""
    request = parse(BudgetCheckIn, body, "check")
    now = now or datetime.now(UTC)
    estimate_usd = request.estimated_cost_usd
    tokens = (request.input_tokens or 0) + (request.output_tokens or 0)
    if estimate_usd is None and tokens:
        if not request.service or not request.model:
            raise ValidationFailed.at(["model"], "service and model are needed to price token counts")
        q = pricing.quote(request.service, request.model, request.operation or "completion",
                          Counts(input_tokens=request.input_tokens or 0, output_tokens=request.output_tokens or 0,
                                 cache_read_tokens=min(request.cache_read_tokens or 0, request.input_tokens or 0)),
                          1, now, request.service_tier, pricing.load_overrides({request.service}))
        estimate_usd = q.cost_usd if q else None
    attrs = request.model_dump(include=set(SCOPE_FIELDS) | {"tags"})
    if attrs.get("operation") is None and request.service:
        attrs["operation"] = "completion"
    decisions = []
    overall, fallback, retry_after = "allow", None, None
    for b in sorted(load_all(), key=lambda b: b.budget_id):
        if not b.matches(attrs):
            continue
        period = b.period_of(now)
        spent = _spent(b, period)
        used = b.spent_in_limit_unit(spent)
        estimate = {"usd": estimate_usd or ZERO, "tokens": Decimal(tokens), "credits": ZERO}[b.limit_kind]
        action = b.action_on_limit if used + estimate > b.limit else "allow"
        if action in ("block", "queue", "degrade") and b.override_until and b.override_until > now:
            action = "warn"
        utilization = used / b.limit
        decisions.append({"budget_id": b.budget_id, "remaining_usd": usd(b.limit_usd - spent.cost_usd) if b.limit_usd is not None else None,
                          "utilization": round(float(utilization), 6), "state": state_of(utilization), "action": action})
        if ACTION_RANK[action] > ACTION_RANK[overall]:
            overall = action
            fallback = b.fallback_model if action == "degrade" else None
            retry_after = period.end.isoformat() if action == "queue" and period.end else None
    return {"allowed": overall not in ("block", "queue"), "action": overall, "fallback_model": fallback,
            "retry_after": retry_after, "estimated_cost_usd": usd(estimate_usd), "budgets": decisions,
            "spend_as_of": format_ts(freshness.aggregated_through(now))}


def estimate_impact(scope: dict[str, Any], total: Decimal, now: datetime | None = None) -> list[dict[str, Any]]:
    """For `POST /ai_usage/estimate`: every budget whose scope matches, with what would remain."""
    now = now or datetime.now(UTC)
    impact = []
    for b in sorted(load_all(), key=lambda b: b.budget_id):
        if not b.matches(scope or {}):
            continue
        spent = _spent(b, b.period_of(now))
        remaining = (b.limit_usd - spent.cost_usd) if b.limit_usd is not None else None
        impact.append({"budget_id": b.budget_id, "remaining_usd": usd(remaining),
                       "would_exceed": bool(remaining is not None and total > remaining),
                       "action_on_limit": b.action_on_limit})
    return impact
