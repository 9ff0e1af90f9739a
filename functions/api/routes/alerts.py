"""`GET /alerts`: budget thresholds, forecasts and CloudWatch alarm notifications, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.answers import answer
from shared import alerts
from shared.errors import ValidationFailed

router = APIGatewayHttpRouter()


@router.get("/alerts", responses={200: answer("AlertList", "Alerts, newest first")})
def list_alerts(
    since: Annotated[str | None, Query(description="RFC 3339 or YYYY-MM-DD (default: 90 days ago)")] = None,
    type: Annotated[Literal["budget_threshold", "budget_forecast", "cloudwatch_alarm"] | None, Query()] = None,
    budget_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """List alerts (`usage:read`). Parameters are read from the event (see `routes/usage.py`)."""
    p = router.current_event.query_string_parameters or {}
    limit = p.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise ValidationFailed.at(["query", "limit"], "must be an integer from 1 to 1000")
    return {"alerts": alerts.list_alerts(p.get("since"), p.get("type"), p.get("budget_id"), int(limit))}
