"""`GET /alerts`: budget thresholds, forecasts and CloudWatch alarm notifications, newest first."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from shared import alerts
from shared.errors import ValidationFailed

router = APIGatewayHttpRouter()


@router.get("/alerts")
def list_alerts() -> dict:
    p = router.current_event.query_string_parameters or {}
    limit = p.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise ValidationFailed.at(["query", "limit"], "must be an integer from 1 to 1000")
    return {"alerts": alerts.list_alerts(p.get("since"), p.get("type"), p.get("budget_id"), int(limit))}
