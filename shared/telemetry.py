"""CloudWatch metrics from the usage path, as Powertools EMF log lines (SPEC 6).

`CostUSD`, `InputTokens`, `OutputTokens` and `Requests` by `service` (the AI
service; setting it replaces Powertools' default `service` dimension), the
same four without dimensions (what the daily cost alarm watches), and
`BudgetUtilization` (percent) by `BudgetId`. Each blob is flushed on the spot
with `EphemeralMetrics`, so no handler decorator is needed and nothing leaks
between requests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from shared.events import UsageEvent

NAMESPACE = "AIUsage"


def _metrics():  # noqa: ANN202 - Powertools type imported lazily
    from aws_lambda_powertools.metrics import EphemeralMetrics

    # service="" keeps Powertools from adding its own service dimension.
    return EphemeralMetrics(namespace=NAMESPACE, service="")


def usage_metrics(events: Sequence[UsageEvent]) -> None:
    if not events:
        return
    from aws_lambda_powertools.metrics import MetricUnit

    by_service: dict[str | None, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    for e in events:
        for key in (e.service, None):
            sums = by_service[key]
            sums[0] += e.cost_usd or 0
            sums[1] += e.counts.input_tokens
            sums[2] += e.counts.output_tokens
            sums[3] += e.requests
    for service, (cost, input_tokens, output_tokens, requests) in by_service.items():
        metrics = _metrics()
        if service is not None:
            metrics.add_dimension(name="service", value=service)
        metrics.add_metric(name="CostUSD", unit=MetricUnit.NoUnit, value=float(cost))
        metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=float(input_tokens))
        metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=float(output_tokens))
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=float(requests))
        metrics.flush_metrics()


def budget_utilization(budget_id: str, percent: Decimal) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = _metrics()
    metrics.add_dimension(name="BudgetId", value=budget_id)
    metrics.add_metric(name="BudgetUtilization", unit=MetricUnit.Percent, value=round(float(percent), 4))
    metrics.flush_metrics()
