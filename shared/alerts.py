"""Alerts: stored exactly once by a dedup key, published to the alerts SNS topic, listed by time.

Budget thresholds and forecasts (`shared/budgets/status.py`) and CloudWatch alarm
notifications (`functions/notifier`) all come through `raise_alert`: the
conditional put on `ALERT#<dedup_key>` is what makes "one alert per (budget,
period, threshold)" hold under concurrent writers, and only the writer that
stored it publishes it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from shared import periods, repository, table
from shared.config import settings
from shared.models import format_ts

ALERT_TYPES = ("budget_threshold", "budget_forecast", "cloudwatch_alarm")
DEFAULT_LOOKBACK_DAYS = 90


@lru_cache(maxsize=1)
def _sns() -> Any:
    import boto3

    return boto3.client("sns", region_name=settings().region)


def reset() -> None:
    _sns.cache_clear()


def publish(subject: str, message: dict[str, Any]) -> bool:
    """Publish a JSON message to the alerts topic (when one is configured)."""
    topic = settings().alerts_topic_arn
    if not topic:
        return False
    _sns().publish(TopicArn=topic, Subject=subject[:100], Message=json.dumps(message, default=str))
    return True


def raise_alert(dedup_key: str, alert_type: str, fields: dict[str, Any], *, subject: str,
                now: datetime | None = None, publish_it: bool = True) -> dict[str, Any] | None:
    """Store the alert unless its dedup key exists; publish only when stored. Returns it when new."""
    created_at = format_ts(now or datetime.now(UTC))
    alert = {"alert_id": dedup_key, "type": alert_type, "created_at": created_at, **fields}
    item = {**table.alert_key(dedup_key), **table.alert_listing(created_at, dedup_key), "item_type": "alert",
            "alert": json.dumps(alert, default=str, separators=(",", ":")), "alert_type": alert_type,
            "budget_id": fields.get("budget_id")}
    if not repository.current().put(item, if_absent=True):
        return None
    if publish_it:
        publish(subject, alert)
    return alert


def list_alerts(since: datetime | None = None, alert_type: str | None = None, budget_id: str | None = None,
                limit: int = 100, now: datetime | None = None) -> list[dict[str, Any]]:
    """Alerts newest first, from `since` (default 90 days ago)."""
    now = now or datetime.now(UTC)
    start = since or now - timedelta(days=DEFAULT_LOOKBACK_DAYS)
    if start > now:
        return []
    months = periods.months_between(start.date(), now.date())
    alerts: list[dict[str, Any]] = []
    lower = format_ts(start)
    for m in reversed(months):
        for item in repository.current().query(table.alerts_partition(m), index=table.GSI_LISTINGS, forward=False,
                                    sk_between=(lower, "\uffff")):
            if alert_type and item.get("alert_type") != alert_type:
                continue
            if budget_id and item.get("budget_id") != budget_id:
                continue
            alerts.append(json.loads(item["alert"]))
            if len(alerts) >= limit:
                return alerts
    return alerts
