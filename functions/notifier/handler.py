"""CloudWatch alarm notifications (SPEC 8): store each once, forward it to the webhook.

Invoked by the alerts SNS topic (`Records[].Sns`) or by an EventBridge rule
("CloudWatch Alarm State Change"). Each alarm is stored once by message id
(SNS MessageId / EventBridge id) as an alert of type `cloudwatch_alarm` —
without publishing it, since that would send it back to the topic we listen
on — and, when newly stored, forwarded to the webhook. Our own budget alerts
and report summaries on the topic are skipped. A malformed record is logged
and named in `batchItemFailures` without holding up the others; a storage
error is re-raised after the other records ran, so Lambda retries the event
(the message ids make the retry store nothing twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from functions.notifier import webhook
from functions.notifier.alarms import AlarmNotification, MalformedMessage, from_eventbridge, from_sns_record
from shared import alerts

logger = Logger(service="aiusage")


def notify(alarm: AlarmNotification) -> bool:
    """Store the alarm as an alert unless its message id was seen; forward it when new."""
    stored = alerts.raise_alert(alarm.dedup_key, "cloudwatch_alarm", alarm.alert_fields(), subject=alarm.subject,
                                publish_it=False)
    if stored is None:
        logger.info("alarm message already stored", extra={"message_id": alarm.message_id})
        return False
    webhook.forward(alarm.webhook_text())
    return True


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    items: list[tuple[str | None, Any, Callable[[dict[str, Any]], AlarmNotification | None]]]
    if isinstance(event.get("Records"), list):
        items = [((r.get("Sns") or {}).get("MessageId") if isinstance(r, dict) else None, r, from_sns_record)
                 for r in event["Records"]]
    else:
        items = [(event.get("id"), event, from_eventbridge)]
    failures: list[dict[str, str]] = []
    storage_error: Exception | None = None
    for n, (message_id, payload, parse) in enumerate(items):
        identifier = message_id or f"record-{n}"
        try:
            alarm = parse(payload)
        except (MalformedMessage, AttributeError, TypeError) as exc:
            logger.error("malformed alarm message", extra={"message_id": identifier, "error": str(exc)})
            failures.append({"itemIdentifier": identifier})
            continue
        if alarm is None:
            logger.debug("not an alarm notification; skipped", extra={"message_id": identifier})
            continue
        try:
            notify(alarm)
        except Exception as exc:  # noqa: BLE001 - finish the other records, then fail for a retry
            logger.exception("could not store the alarm", extra={"message_id": identifier})
            storage_error = storage_error or exc
    if storage_error is not None:
        raise storage_error
    return {"batchItemFailures": failures}
