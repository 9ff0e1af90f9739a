"""`GET /alerts`: budget thresholds, forecasts and CloudWatch alarm notifications, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api import params
from functions.api.answers import answer
from shared import alerts

router = APIGatewayHttpRouter()


@router.get("/alerts", responses={200: answer("AlertList", "Alerts, newest first")}, enable_validation=True)
def list_alerts(
    since: Annotated[str | None, Query(description="RFC 3339 or YYYY-MM-DD (default: 90 days ago)")] = None,
    type: Annotated[Literal["budget_threshold", "budget_forecast", "cloudwatch_alarm"] | None, Query()] = None,
    budget_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """List alerts (`usage:read`)."""
    return {"alerts": alerts.list_alerts(params.since(since), type, params.value("budget_id", budget_id), limit)}
