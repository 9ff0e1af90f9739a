"""EventBridge schedules of the report function: one rule per report kind.

Adding a schedule is one line in `REPORT_SCHEDULES` (kind -> cron, UTC). Each
rule invokes the reports function with the constant input `{"kind": <kind>}`,
retries, and dead-letters what it cannot deliver into the reports DLQ.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# kind -> when (UTC). The report covers the period that just ended (SPEC 7).
REPORT_SCHEDULES: dict[str, events.Schedule] = {
    "daily": events.Schedule.cron(minute="0", hour="6"),
    "weekly": events.Schedule.cron(minute="0", hour="6", week_day="MON"),
    "monthly": events.Schedule.cron(minute="0", hour="6", day="1"),
}
TARGET_RETRY_ATTEMPTS = 3
TARGET_MAX_EVENT_AGE = Duration.hours(2)


class ReportSchedules(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction,
                 dead_letter_queue: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        for kind, schedule in REPORT_SCHEDULES.items():
            self.rules[kind] = events.Rule(
                self, f"{kind.capitalize()}Report",
                description=f"aiusage: the {kind} report",
                schedule=schedule,
                targets=[targets.LambdaFunction(
                    function,
                    event=events.RuleTargetInput.from_object({"kind": kind}),
                    retry_attempts=TARGET_RETRY_ATTEMPTS,
                    max_event_age=TARGET_MAX_EVENT_AGE,
                    dead_letter_queue=dead_letter_queue,
                )],
            )
