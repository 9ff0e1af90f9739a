"""Aggregation: the table's stream into the aggregator function, and its minute tick (SPEC 13).

- **Event source mapping** on the table's stream: only event items' INSERT and
  MODIFY records reach the function (`shared.table.AGGREGATOR_FILTERS`; cells,
  checkpoints and TTL deletions never do), up to `BATCH_SIZE` records or
  `BATCHING_WINDOW` per invocation, one shard at a time in order. A failure
  returns a partial batch response (Lambda retries from the first record not
  applied), an error bisects the batch, and after `RETRY_ATTEMPTS` the batch's
  position goes to an SQS on-failure destination (alarmed when not empty).
  The tumbling window exists for the `shardId` it adds to every event: the
  shard's checkpoint is what makes applying exactly once.
- **Alarms**: the mapping's `IteratorAge` (records waiting longer than
  `ITERATOR_AGE_ALARM`) and the on-failure queue's depth.
- **Schedule**: every minute the function runs the budget backfills that are
  due and emits every budget's `BudgetUtilization`.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from infra.constructs.table import UsageTable
from shared import table as schema

BATCH_SIZE = 1000
BATCHING_WINDOW = Duration.seconds(1)
TUMBLING_WINDOW = Duration.seconds(60)
RETRY_ATTEMPTS = 10
ITERATOR_AGE_ALARM = Duration.minutes(1)
TICK = events.Schedule.rate(Duration.minutes(1))


class Aggregation(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.Function, table: UsageTable,
                 dead_letter_queue: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        self.failures = sqs.Queue(self, "StreamFailures", encryption=sqs.QueueEncryption.SQS_MANAGED,
                                  enforce_ssl=True, retention_period=Duration.days(14))
        reason = ("The stream mapping's on-failure destination (a dead-letter queue in all but name): it holds the "
                  "positions of batches that failed every retry, for an operator to replay; a queue behind it would "
                  "only move them.")
        nag.acknowledge(self.failures, "Serverless-SQSRedrivePolicy", reason)
        nag.acknowledge(self.failures, "AwsSolutions-SQS3", reason)
        function.add_event_source(sources.DynamoEventSource(
            table.table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=BATCH_SIZE,
            max_batching_window=BATCHING_WINDOW,
            tumbling_window=TUMBLING_WINDOW,
            parallelization_factor=1,  # one batch per shard at a time: the checkpoint's order holds
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            retry_attempts=RETRY_ATTEMPTS,
            on_failure=sources.SqsDlq(self.failures),
            filters=[lambda_.FilterCriteria.filter(pattern) for pattern in schema.AGGREGATOR_FILTERS],
        ))
        self.iterator_age = function.metric("IteratorAge", statistic="Maximum", period=Duration.minutes(1))
        self.rule = events.Rule(
            self, "Tick", description="aiusage: due budget backfills and budget utilization, every minute",
            schedule=TICK,
            targets=[targets.LambdaFunction(function, retry_attempts=2, max_event_age=Duration.minutes(5),
                                            dead_letter_queue=dead_letter_queue)],
        )

    @property
    def failure_depth(self) -> cloudwatch.IMetric:
        return self.failures.metric_approximate_number_of_messages_visible(period=Duration.minutes(5),
                                                                             statistic="Maximum")
