"""Spend and status of a budget: used, remaining, burn rate, forecast, state; and the alerts they raise (SPEC 6)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared import alerts, freshness, store, telemetry
from shared.budgets.definitions import Budget, load, load_all, spent_in
from shared.errors import NotFound
from shared.models import format_ts
from shared.money import ZERO, usd
from shared.periods import Period
from shared.rollups import Totals


def evaluate(touched: Sequence[tuple[Budget, Period]], now: datetime | None = None) -> list[dict]:
    """Alerts for every threshold these budget periods have passed, and the utilization metric.

    Called by the aggregator after each batch with the (budget, period) pairs the
    batch counted in, and after a backfill; each alert is stored once by its dedup key.
    """
    now = now or datetime.now(UTC)
    raised: list[dict] = []
    for b, period in touched:
        spent = spent_in(b, period)
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
        spent = spent_in(b, b.period_of(now))
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
    spent = spent_in(b, period, stats)
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
        "forecast_exhausted_at": s["exhausted_at"].astimezone(UTC).isoformat().replace("+00:00", "Z")
        if s["exhausted_at"]
        else None,
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
    b, _ = load(budget_id)
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
