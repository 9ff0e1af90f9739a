"""Alerts: the KMS-encrypted SNS topic, its subscribers, and the CloudWatch alarms that notify it.

- Topic: encrypted with a customer managed KMS key (rotated), because CloudWatch
  alarms cannot publish to a topic under the AWS managed `aws/sns` key: its key
  policy cannot grant `cloudwatch.amazonaws.com`. Publishing requires TLS.
- Subscribers: the configured emails, and the notifier function (with its DLQ
  for deliveries SNS could not make).
- Alarms, each with the topic as alarm and OK action (the notifier records both).
  Budgets: every budget gets its own alarms at run time, one per threshold on
  its `BudgetUtilization` (namespace `AIUsage`, dimension `BudgetId`, Maximum
  over 5 minutes, >= threshold x 100), created and deleted with it by the admin
  function (`shared/budget_alarms.py`; its role may touch only alarms named
  `<stack>/budget/*`). The stack itself has one budget alarm, whatever budgets
  exist: "a budget passed its limit", on the highest `BudgetUtilization` of all
  budgets (a Metrics Insights query, which alarms may evaluate); it also covers
  a budget whose own alarms are missing (one created before they existed, until
  its next PUT). Budgets named in the `budgets_to_alarm` context get extra
  alarms from the deployment. Budget alarms keep their state while no usage is
  recorded (missing data is ignored), so they do not flap back to OK between calls;
  the daily total cost on the dimensionless `CostUSD` metric (Sum over a day:
  CloudWatch alarms cannot evaluate SEARCH expressions, so the per-service
  metrics cannot be summed inside an alarm); Errors and Throttles of every
  function; the API's 5xx; and the depth of every dead-letter queue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from infra.config import StackConfig

NAMESPACE = "AIUsage"
BUDGET_METRIC = "BudgetUtilization"
BUDGET_DIMENSION = "BudgetId"
COST_METRIC = "CostUSD"
FIVE_MINUTES = Duration.minutes(5)
ONE_DAY = Duration.days(1)


def budget_utilization(budget_id: str | None = None) -> cloudwatch.Metric:
    """The percent of a budget's limit spent, as the usage functions emit it (EMF, dimension BudgetId)."""
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=BUDGET_METRIC,
                             dimensions_map={BUDGET_DIMENSION: budget_id} if budget_id else None,
                             statistic="Maximum", period=FIVE_MINUTES)


def highest_budget_utilization() -> cloudwatch.MathExpression:
    """The highest `BudgetUtilization` of all budgets, whatever their ids (a Metrics Insights query)."""
    return cloudwatch.MathExpression(
        expression=f'SELECT MAX({BUDGET_METRIC}) FROM SCHEMA("{NAMESPACE}", {BUDGET_DIMENSION})',
        using_metrics={}, period=FIVE_MINUTES, label="Highest budget utilization (%)")


def total_cost(period: Duration = ONE_DAY) -> cloudwatch.Metric:
    """The dimensionless total `CostUSD` (every recorded event's cost, once)."""
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=COST_METRIC, statistic="Sum", period=period)


class Alerts(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.key = kms.Key(self, "TopicKey", enable_key_rotation=True,
                           description=f"{config.stack_name}: encrypts the alerts SNS topic")
        # CloudWatch publishes alarm notifications to the encrypted topic (the documented key policy grant).
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToUseTheKey",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        ))
        self.topic = sns.Topic(self, "Topic", display_name=f"aiusage alerts ({config.stage})",
                               master_key=self.key, enforce_ssl=True)
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[self.topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
        ))
        for email in config.alarm_emails:
            subscription = sns.Subscription(self, f"Email{_safe(email)}", topic=self.topic,
                                            protocol=sns.SubscriptionProtocol.EMAIL, endpoint=email)
            nag.acknowledge(subscription, "Serverless-SNSRedrivePolicy",
                            "An email subscription delivers to a person: SNS retries it, and a message that "
                            "cannot be emailed has no consumer that could replay it from a dead-letter queue.")
        self.alarms: list[cloudwatch.Alarm] = []
        self._action = cw_actions.SnsAction(self.topic)

    def subscribe_notifier(self, notifier: lambda_.IFunction, dead_letter_queue: sqs.IQueue) -> None:
        self.topic.add_subscription(subscriptions.LambdaSubscription(notifier, dead_letter_queue=dead_letter_queue))

    def add_alarms(self, *, functions: Mapping[str, lambda_.IFunction], api: apigwv2.HttpApi,
                   dead_letter_queues: Mapping[str, sqs.IQueue]) -> None:
        config = self._config
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        self._alarm("AnyBudgetExceeded", "budget-exceeded",
                    "A budget passed its limit (the highest BudgetUtilization of all budgets reached 100%); "
                    "GET /budgets shows which, and each budget's own alarms name it",
                    highest_budget_utilization(), 100, at_least, missing=cloudwatch.TreatMissingData.IGNORE)
        for budget in config.budgets_to_alarm:
            for threshold in budget.thresholds:
                percent = round(threshold * 100, 6)
                self._alarm(f"Budget{_safe(budget.budget_id)}At{_safe(f'{percent:g}')}",
                            f"budget-{budget.budget_id}-{percent:g}pct",
                            f"Budget {budget.budget_id} reached {percent:g}% of its limit",
                            budget_utilization(budget.budget_id), percent, at_least,
                            missing=cloudwatch.TreatMissingData.IGNORE)
        if config.daily_cost_alarm_usd is not None:
            self._alarm("DailyCost", "daily-cost",
                        f"Recorded AI cost over one day reached {config.daily_cost_alarm_usd} USD",
                        total_cost(), config.daily_cost_alarm_usd,
                        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
        for name, fn in functions.items():
            self._alarm(f"{name}Errors", f"{name.lower()}-errors", f"The {name.lower()} function failed",
                        fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"), 1,
                        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
            self._alarm(f"{name}Throttles", f"{name.lower()}-throttles", f"The {name.lower()} function was throttled",
                        fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"), 1,
                        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
        self._alarm("Api5xx", "api-5xx", "The HTTP API answered with server errors (5xx)",
                    api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"), 1,
                    cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
        for name, queue in dead_letter_queues.items():
            self._alarm(f"{name}DlqDepth", f"{name.lower()}-dlq-depth",
                        f"Messages wait in the {name.lower()} dead-letter queue",
                        queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
                        0, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD)

    def add_stream_alarm(self, iterator_age: cloudwatch.IMetric, threshold: Duration) -> cloudwatch.Alarm:
        """The aggregator falls behind the event stream (its mapping's IteratorAge, in milliseconds)."""
        return self._alarm("AggregatorIteratorAge", "aggregator-iterator-age",
                           f"Stream records wait longer than {threshold.to_seconds():g} s for the aggregator",
                           iterator_age, threshold.to_milliseconds(),
                           cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD)

    def _alarm(self, construct_id: str, name: str, description: str, metric: cloudwatch.IMetric, threshold: float,
               comparison: cloudwatch.ComparisonOperator,
               missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, construct_id,
            alarm_name=f"{self._config.stack_name}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm


def _safe(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", text) if w)
