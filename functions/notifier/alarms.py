"""Reading CloudWatch alarm notifications in the two shapes they arrive in.

- SNS: the alarm action publishes a JSON document (`AlarmName`,
  `NewStateValue`, `Trigger`, ...) as the `Message` string of an SNS record.
- EventBridge: a "CloudWatch Alarm State Change" event (`detail.alarmName`,
  `detail.state`, `detail.configuration.metrics`), delivered directly or
  itself published to the topic.

The alerts topic also carries our own messages (budget alerts and report
summaries, JSON with a `type`): those are recognised and skipped. Anything
else is malformed.

One state change of one alarm can arrive more than once, with different
message ids: SNS redelivers, and an EventBridge rule may deliver the change
directly while the alarm's SNS action delivers it too. So a notification is
identified by the alarm's name and the time of its state change (the same
in both shapes), and by its message id only when it carries no time.
An alarm on a budget's `BudgetUtilization` (dimension `BudgetId`) names the
budget: `budget_id` is stored with the alert, so `GET /alerts?budget_id=`
lists it next to the budget's own threshold alerts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from shared.alerts import ALERT_TYPES
from shared.models import format_ts, parse_timestamp

EVENTBRIDGE_ALARM = "CloudWatch Alarm State Change"
BUDGET_DIMENSION = "BudgetId"
# `type` values of the messages aiusage itself publishes to the alerts topic.
OWN_MESSAGE_TYPES = frozenset({*ALERT_TYPES, "report"})
STATE_ICONS = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:", "INSUFFICIENT_DATA": ":grey_question:"}
MAX_REASON_CHARS = 300


class MalformedMessage(ValueError):
    """A message that is neither a CloudWatch alarm notification nor one of ours."""


@dataclass
class AlarmNotification:
    message_id: str
    source: str  # sns | eventbridge
    name: str
    state: str
    old_state: str | None
    reason: str | None
    metric: str | None
    namespace: str | None
    threshold: float | None
    time: str | None
    description: str | None
    alarm_arn: str | None
    budget_id: str | None = None

    @property
    def dedup_key(self) -> str:
        """The same state change of the same alarm, whichever path and message brought it."""
        if self.time:
            return f"cloudwatch_alarm:{self.name}:{self.time}"
        return f"cloudwatch_alarm:{self.name}:message:{self.message_id}"

    @property
    def subject(self) -> str:
        return f"{self.state}: {self.name}"

    def alert_fields(self) -> dict[str, Any]:
        return asdict(self)

    def webhook_text(self) -> str:
        """One or two short lines for a chat channel."""
        reason = self.reason or ""
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[:MAX_REASON_CHARS - 3] + "..."
        head = f"{STATE_ICONS.get(self.state, ':bell:')} {self.state}: {self.name}"
        if self.old_state:
            head += f" (was {self.old_state})"
        if reason:
            head += f" - {reason}"
        facts = [f"{self.namespace}/{self.metric}" if self.metric else None,
                 f"budget {self.budget_id}" if self.budget_id else None,
                 f"threshold {self.threshold:g}" if self.threshold is not None else None, self.time]
        details = ", ".join(f for f in facts if f)
        return f"{head}\n{details}" if details else head


def from_sns_record(record: dict[str, Any]) -> AlarmNotification | None:
    """An SNS record -> the alarm it carries; None for our own messages; MalformedMessage otherwise."""
    sns = record.get("Sns")
    if not isinstance(sns, dict) or not sns.get("MessageId"):
        raise MalformedMessage("not an SNS record (no Sns.MessageId)")
    try:
        message = json.loads(sns.get("Message") or "")
    except ValueError:
        raise MalformedMessage("the SNS Message is not JSON") from None
    if not isinstance(message, dict):
        raise MalformedMessage("the SNS Message is not a JSON object")
    if "AlarmName" in message:
        return _from_alarm_message(sns["MessageId"], message)
    if "detail-type" in message:
        return from_eventbridge(message, message_id=sns["MessageId"])
    if message.get("type") in OWN_MESSAGE_TYPES:
        return None
    raise MalformedMessage("the SNS Message is neither a CloudWatch alarm nor an aiusage message")


def from_eventbridge(event: dict[str, Any], message_id: str | None = None) -> AlarmNotification | None:
    """An EventBridge event -> its alarm; None for other event types; MalformedMessage when broken."""
    if event.get("detail-type") != EVENTBRIDGE_ALARM:
        return None
    detail = event.get("detail")
    message_id = message_id or event.get("id")
    if not message_id:
        raise MalformedMessage("the EventBridge event has no id")
    if not isinstance(detail, dict):
        raise MalformedMessage("the alarm event has no detail")
    state = _object(detail.get("state"))
    previous = _object(detail.get("previousState"))
    configuration = _object(detail.get("configuration"))
    metric = _first_metric(configuration.get("metrics"), "metricStat", "metric", "name", "namespace")
    dimensions = _first_dimensions(configuration.get("metrics"), "metricStat", "metric", "dimensions")
    threshold = None
    if isinstance(state.get("reasonData"), str):
        try:
            threshold = json.loads(state["reasonData"]).get("threshold")
        except (ValueError, AttributeError):
            threshold = None
    resources = event.get("resources") or []
    return _notification(
        message_id, "eventbridge", name=detail.get("alarmName"), state=state.get("value"),
        old_state=previous.get("value"), reason=state.get("reason"), metric=metric[0], namespace=metric[1],
        threshold=threshold, time=state.get("timestamp") or event.get("time"),
        description=configuration.get("description"),
        alarm_arn=resources[0] if resources and isinstance(resources[0], str) else None,
        budget_id=dimensions.get(BUDGET_DIMENSION) if isinstance(dimensions, dict) else None)


def _from_alarm_message(message_id: str, message: dict[str, Any]) -> AlarmNotification:
    trigger = _object(message.get("Trigger"))
    metric: tuple[str | None, str | None] = (trigger.get("MetricName"), trigger.get("Namespace"))
    # SNS lists dimensions as [{"name": ..., "value": ...}] (metric math alarms: per metric, capitalised).
    dimensions: Any = {d.get("name"): d.get("value") for d in trigger.get("Dimensions") or []
                       if isinstance(d, dict)} if isinstance(trigger.get("Dimensions"), list) else {}
    if metric[0] is None:  # metric math alarms list their metrics instead
        metric = _first_metric(trigger.get("Metrics"), "MetricStat", "Metric", "MetricName", "Namespace")
        listed = _first_dimensions(trigger.get("Metrics"), "MetricStat", "Metric", "Dimensions")
        dimensions = {d.get("Name"): d.get("Value") for d in listed if isinstance(d, dict)} \
            if isinstance(listed, list) else {}
    return _notification(
        message_id, "sns", name=message.get("AlarmName"), state=message.get("NewStateValue"),
        old_state=message.get("OldStateValue"), reason=message.get("NewStateReason"), metric=metric[0],
        namespace=metric[1], threshold=trigger.get("Threshold"), time=message.get("StateChangeTime"),
        description=message.get("AlarmDescription"), alarm_arn=message.get("AlarmArn"),
        budget_id=dimensions.get(BUDGET_DIMENSION))


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the message, or {} for anything else."""
    return value if isinstance(value, dict) else {}


def _first_metric(metrics: Any, stat: str, metric: str, name: str, namespace: str) -> tuple[str | None, str | None]:
    for entry in metrics if isinstance(metrics, list) else []:
        found = ((entry or {}).get(stat) or {}).get(metric) if isinstance(entry, dict) else None
        if isinstance(found, dict) and found.get(name):
            return found.get(name), found.get(namespace)
    return None, None


def _first_dimensions(metrics: Any, stat: str, metric: str, dimensions: str) -> Any:
    for entry in metrics if isinstance(metrics, list) else []:
        found = ((entry or {}).get(stat) or {}).get(metric) if isinstance(entry, dict) else None
        if isinstance(found, dict) and found.get(dimensions):
            return found[dimensions]
    return None


def _notification(message_id: str, source: str, *, name: Any, state: Any, threshold: Any, time: Any,
                  **text: Any) -> AlarmNotification:
    if not isinstance(name, str) or not name:
        raise MalformedMessage("the alarm has no name")
    if not isinstance(state, str) or not state:
        raise MalformedMessage(f"alarm {name!r} has no state")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
        raise MalformedMessage(f"alarm {name!r} has a threshold that is not a number")
    return AlarmNotification(
        message_id=message_id, source=source, name=name, state=state,
        threshold=float(threshold) if threshold is not None else None, time=_utc(time),
        **{k: (v if isinstance(v, str) else None) for k, v in text.items()})


def _utc(value: Any) -> str | None:
    """CloudWatch writes `2026-11-21T09:06:12.482+0000`; store RFC 3339 UTC (or the text as given)."""
    if not isinstance(value, str):
        return None
    try:
        return format_ts(parse_timestamp(value))
    except ValueError:
        return value
