"""Decisions: may this be spent (`POST /budgets/check`), and what an estimate would leave (SPEC 6)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared import freshness, pricing
from shared.budgets.definitions import ACTION_RANK, SCOPE_FIELDS, load_all, spent_in
from shared.budgets.status import state_of
from shared.errors import ValidationFailed
from shared.models import BudgetCheckIn, Counts, format_ts, parse
from shared.money import ZERO, usd

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
        spent = spent_in(b, period)
        used = b.spent_in_limit_unit(spent)
        estimate = {"usd": estimate_usd or ZERO, "tokens": Decimal(tokens), "credits": ZERO}[b.limit_kind]
        action = b.action_on_limit if used + estimate > b.limit else "allow"
        if action in ("block", "queue", "degrade") and b.override_until and b.override_until > now:
            action = "warn"
        utilization = used / b.limit
        decisions.append(
            {
                "budget_id": b.budget_id,
                "remaining_usd": usd(b.limit_usd - spent.cost_usd) if b.limit_usd is not None else None,
                "utilization": round(float(utilization), 6),
                "state": state_of(utilization),
                "action": action,
            }
        )
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
        spent = spent_in(b, b.period_of(now))
        remaining = (b.limit_usd - spent.cost_usd) if b.limit_usd is not None else None
        impact.append({"budget_id": b.budget_id, "remaining_usd": usd(remaining),
                       "would_exceed": bool(remaining is not None and total > remaining),
                       "action_on_limit": b.action_on_limit})
    return impact
