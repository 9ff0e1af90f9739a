"""The CloudWatch dashboard: cost and tokens by service, budget utilization, errors, latency.

Per-service and per-budget graphs use SEARCH expressions over the `AIUsage`
namespace, so a new service or budget shows up without a deploy.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.alerts import NAMESPACE, total_cost

HOUR = Duration.hours(1)
FIVE_MINUTES = Duration.minutes(5)


def by_service(metric_name: str, statistic: str = "Sum", period: Duration = HOUR) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{NAMESPACE},service}} MetricName=\"{metric_name}\"', '{statistic}', "
                   f"{int(period.to_seconds())})",
        using_metrics={}, label=metric_name, period=period)


class Dashboard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig,
                 functions: Mapping[str, lambda_.IFunction], api: apigwv2.HttpApi) -> None:
        super().__init__(scope, construct_id)
        budgets = cloudwatch.MathExpression(
            expression=f"SEARCH('{{{NAMESPACE},BudgetId}} MetricName=\"BudgetUtilization\"', 'Maximum', 300)",
            using_metrics={}, label="BudgetUtilization", period=FIVE_MINUTES)
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard",
            dashboard_name=config.stack_name,
            default_interval=Duration.days(7),
            widgets=[
                [
                    cloudwatch.GraphWidget(title="Cost (USD) by service, hourly", left=[by_service("CostUSD")],
                                           width=12, stacked=True),
                    cloudwatch.GraphWidget(title="Tokens by service, hourly",
                                           left=[by_service("InputTokens"), by_service("OutputTokens")], width=12),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Budget utilization (%)", left=[budgets], width=12,
                        left_annotations=[cloudwatch.HorizontalAnnotation(value=v, label=label)
                                          for v, label in ((75, "warning"), (90, "critical"), (100, "exceeded"))]),
                    cloudwatch.SingleValueWidget(title="Cost today and before (USD, daily)",
                                                 metrics=[total_cost()], width=6),
                    cloudwatch.GraphWidget(title="API calls recorded, hourly", left=[by_service("Requests")],
                                           width=6, stacked=True),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Errors",
                        left=[fn.metric_errors(period=FIVE_MINUTES, label=f"{name} errors")
                              for name, fn in functions.items()],
                        right=[api.metric_server_error(period=FIVE_MINUTES, label="API 5xx"),
                               api.metric_client_error(period=FIVE_MINUTES, label="API 4xx")],
                        width=12),
                    cloudwatch.GraphWidget(
                        title="Throttles",
                        left=[fn.metric_throttles(period=FIVE_MINUTES, label=f"{name} throttles")
                              for name, fn in functions.items()],
                        width=12),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="API latency (ms)",
                        left=[api.metric_latency(period=FIVE_MINUTES, statistic=s, label=f"latency {s}")
                              for s in ("p50", "p90", "p99")]
                        + [api.metric_integration_latency(period=FIVE_MINUTES, statistic="p99",
                                                          label="integration p99")],
                        width=12),
                    cloudwatch.GraphWidget(
                        title="Function duration p99 (ms)",
                        left=[fn.metric_duration(period=FIVE_MINUTES, statistic="p99", label=name)
                              for name, fn in functions.items()],
                        width=12),
                ],
            ],
        )
