"""CloudWatch alarms of every budget (SPEC 8): the only module that speaks to CloudWatch alarms.

Every budget has one alarm per threshold on its `BudgetUtilization` metric
(namespace `AIUsage`, dimension `BudgetId`, percent of the limit, as the
usage path emits it): Maximum over 5 minutes >= threshold x 100, alarm and
OK actions to the alerts topic, which the notifier stores and forwards. They
are created when the budget is created or changed and deleted with it, by the
admin function, whose role may touch only alarms under the stack's prefix:

    <prefix><budget_id>/<percent>pct     e.g. aiusage-prod/budget/anthropic-monthly/80pct

The prefix (`budget_alarm_prefix`, default `aiusage-<stage>/budget/`) ends
in `/`, a character no stage name or budget id can hold, so one budget's
alarms are exactly the names under `<prefix><budget_id>/`.

Missing data keeps an alarm in its state (the metric is emitted only when
usage is recorded): it stays in ALARM until usage in a new period reports a
lower utilization. `sync` is idempotent, so repeating a budget's PUT repairs
its alarms (after an error, or for budgets that predate them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from shared.config import settings

NAMESPACE = "AIUsage"
METRIC = "BudgetUtilization"
DIMENSION = "BudgetId"
PERIOD_SECONDS = 300
MAX_DESCRIPTION = 1024


class BudgetLike(Protocol):
    """What an alarm needs to know about a budget (`shared.budgets.Budget` is one)."""

    budget_id: str
    name: str
    period: str
    thresholds: list[Decimal]

    @property
    def limit(self) -> Decimal: ...

    @property
    def limit_kind(self) -> str: ...


@lru_cache(maxsize=1)
def _cloudwatch() -> Any:
    import boto3

    return boto3.client("cloudwatch", region_name=settings().region)


def reset() -> None:
    """Forget the cached client (tests switch between moto instances)."""
    _cloudwatch.cache_clear()


def percent_text(threshold: Decimal | float) -> str:
    """A threshold (a fraction of the limit) as the percent in alarm names and thresholds: 0.8 -> '80'."""
    return _plain(Decimal(str(threshold)) * 100)


def _plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros: 100.00 -> '100', 87.50 -> '87.5'."""
    return format(value.normalize(), "f")


def alarm_name(budget_id: str, threshold: Decimal | float) -> str:
    return f"{settings().budget_alarm_prefix}{budget_id}/{percent_text(threshold)}pct"


def budget_of_alarm(name: str) -> str | None:
    """The budget id in one of our alarm names (None for any other alarm)."""
    prefix = settings().budget_alarm_prefix
    if not name.startswith(prefix):
        return None
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]{0,63})/\d+(\.\d+)?pct", name[len(prefix):])
    return match[1] if match else None


def existing(budget_id: str) -> dict[str, dict[str, Any]]:
    """This budget's alarms in CloudWatch, by name."""
    prefix = f"{settings().budget_alarm_prefix}{budget_id}/"
    found: dict[str, dict[str, Any]] = {}
    for page in _cloudwatch().get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix,
                                                                        AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            if budget_of_alarm(alarm["AlarmName"]) == budget_id:
                found[alarm["AlarmName"]] = alarm
    return found


def sync(budget: BudgetLike) -> list[str]:
    """Create or update an alarm per threshold of `budget` and delete the ones of thresholds it lost."""
    wanted = {alarm_name(budget.budget_id, t): t for t in budget.thresholds}
    stale = sorted(set(existing(budget.budget_id)) - set(wanted))
    topic = settings().alerts_topic_arn
    for name, threshold in wanted.items():
        _cloudwatch().put_metric_alarm(
            AlarmName=name,
            AlarmDescription=_description(budget, threshold),
            ActionsEnabled=True,
            AlarmActions=[topic] if topic else [],
            OKActions=[topic] if topic else [],
            Namespace=NAMESPACE,
            MetricName=METRIC,
            Dimensions=[{"Name": DIMENSION, "Value": budget.budget_id}],
            Statistic="Maximum",
            Period=PERIOD_SECONDS,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            Threshold=float(Decimal(percent_text(threshold))),
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="ignore",
            Unit="Percent",
        )
    _delete(stale)
    return sorted(wanted)


def remove(budget_id: str) -> list[str]:
    """Delete every alarm of a budget (it was deleted)."""
    names = sorted(existing(budget_id))
    _delete(names)
    return names


def _delete(names: Sequence[str]) -> None:
    for start in range(0, len(names), 100):  # DeleteAlarms takes up to 100 names
        _cloudwatch().delete_alarms(AlarmNames=list(names[start:start + 100]))


def _description(budget: BudgetLike, threshold: Decimal) -> str:
    unit = {"usd": "USD", "tokens": "tokens", "credits": "credits"}[budget.limit_kind]
    text = (f"aiusage budget {budget.name!r} ({budget.budget_id}) reached {percent_text(threshold)}% of its "
            f"{budget.period} limit of {_plain(Decimal(budget.limit))} {unit}")
    return text[:MAX_DESCRIPTION]
