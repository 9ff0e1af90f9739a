"""The scheduled report Lambda: periods from EventBridge input, idempotency on retries, the SNS summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from aiusage.local.gateway import LambdaContext
from tests.support.aggregation import drain


def context() -> LambdaContext:
    return LambdaContext("reports", "req-1")


@pytest.fixture
def topic_messages(aws):
    """Every message published to the alerts topic, read back through an SQS subscription."""
    import os

    import boto3

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="alerts-copy")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=os.environ["ALERTS_TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn,
                                  Attributes={"RawMessageDelivery": "false"})

    def read() -> list[dict]:
        messages = []
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return messages
            for m in got:
                envelope = json.loads(m["Body"])
                messages.append({"subject": envelope.get("Subject"), "message": json.loads(envelope["Message"])})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    return read


def record(api, event_id: str, day: str, cost: float) -> None:
    answer = api.post("/ai_usage", {"event_id": event_id, "timestamp": f"{day}T10:00:00Z", "service": "openai",
                                    "model": "gpt-4o", "input_tokens": 100, "output_tokens": 10, "cost_usd": cost})
    assert answer.status == 200, answer


def stored_reports(kind: str) -> list[dict]:
    from shared import store, table

    return list(store.query_all(table.report_partition(kind), consistent=True))


def test_a_retried_invocation_neither_regenerates_nor_republishes(api, topic_messages):
    from functions.reports.handler import lambda_handler

    record(api, "h-1", "2026-11-14", 1.0)
    record(api, "h-2", "2026-11-15", 2.5)
    drain()
    event = {"kind": "daily", "period": "2026-11-15"}
    first = lambda_handler(event, context())
    assert first["total_cost_usd"] == 2.5 and first["published"] is True
    record(api, "h-3", "2026-11-15", 1.0)  # arrives between the run and EventBridge's retry
    drain()
    second = lambda_handler(event, context())
    assert second == first  # the first run's answer, from the idempotency record

    (item,) = stored_reports("daily")
    assert json.loads(item["report"])["totals"]["total_cost_usd"] == 2.5  # not regenerated
    assert item["generated_at"] == first["generated_at"]
    messages = topic_messages()
    assert len(messages) == 1
    published = messages[0]["message"]
    assert messages[0]["subject"] == "aiusage daily report 2026-11-15: $2.50"
    assert published == {**published, "type": "report", "kind": "daily", "period": "2026-11-15",
                          "total_cost_usd": 2.5, "previous_cost_usd": 1.0, "change_percent": 150.0}
    assert published["summary"].startswith("aiusage daily report 2026-11-15: $2.50 (+150.00% vs 2026-11-14)")

    # The idempotency record lives in the same table, in its own partition, expiring by the table's TTL.
    from shared import store, table

    (record_item,) = list(store.query_all(f"{table.IDEMPOTENCY_PARTITION_PREFIX}reports", consistent=True))
    assert record_item["SK"].startswith("report#") and record_item["status"] == "COMPLETED"
    assert record_item[table.TTL_ATTRIBUTE] > datetime.now(UTC).timestamp()

    # Another period is another run.
    assert lambda_handler({"kind": "daily", "period": "2026-11-14"}, context())["total_cost_usd"] == 1.0
    assert len(topic_messages()) == 1


def test_a_failed_run_leaves_no_record_so_the_retry_runs_again(api, topic_messages, monkeypatch):
    from functions.reports.handler import lambda_handler
    from shared import alerts

    record(api, "f-1", "2026-11-15", 0.75)
    drain()
    real_publish = alerts.publish
    calls = []

    def flaky_publish(subject, message):
        calls.append(subject)
        if len(calls) == 1:
            raise ConnectionError("SNS unreachable")
        return real_publish(subject, message)

    monkeypatch.setattr(alerts, "publish", flaky_publish)
    event = {"kind": "daily", "period": "2026-11-15"}
    with pytest.raises(ConnectionError):
        lambda_handler(event, context())
    assert lambda_handler(event, context())["published"] is True
    assert lambda_handler(event, context())["published"] is True  # third delivery: the stored answer
    assert len(calls) == 2
    assert [m["message"]["total_cost_usd"] for m in topic_messages()] == [0.75]


SCHEDULED = [
    ("daily", "2026-11-16T06:00:00Z", "2026-11-15"),
    ("daily", "2026-01-01T06:00:00Z", "2025-12-31"),
    ("weekly", "2026-11-16T06:00:00Z", "2026-W46"),  # Monday 06:00: the ISO week that just ended
    ("weekly", "2027-01-04T06:00:00Z", "2026-W53"),
    ("monthly", "2026-11-01T06:00:00Z", "2026-10"),
    ("monthly", "2026-01-01T06:00:00Z", "2025-12"),
]


def test_the_period_is_the_one_that_ended_before_the_invocation(aws):
    from functions.reports.handler import lambda_handler

    for kind, time, period in SCHEDULED:
        assert lambda_handler({"kind": kind, "time": time}, context())["period"] == period
    for kind in ("daily", "weekly", "monthly"):
        assert sorted(i["SK"] for i in stored_reports(kind)) == sorted(p for k, _, p in SCHEDULED if k == kind)


def test_without_a_time_the_clock_decides(aws):
    from functions.reports.handler import lambda_handler

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert lambda_handler({"kind": "daily"}, context())["period"] == yesterday


def test_a_bad_kind_fails_loudly(aws):
    from functions.reports.handler import lambda_handler
    from shared.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="kind"):
        lambda_handler({"kind": "hourly"}, context())
    assert stored_reports("hourly") == []


def scheduled_event(rule: str, time: str) -> dict:
    """What an EventBridge schedule delivers without a constant input."""
    return {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": time, "region": "eu-central-1",
            "resources": [f"arn:aws:events:eu-central-1:123456789012:rule/{rule}"], "detail": {}}


def test_a_plain_scheduled_event_takes_its_kind_from_the_rule_and_its_time_from_the_schedule(aws):
    from functions.reports.handler import lambda_handler

    weekly = scheduled_event("aiusage-prod-SchedulesWeeklyReport5F1A2B3C-1AB2C3D4E5F6", "2026-11-23T06:00:00Z")
    assert lambda_handler(weekly, context())["period"] == "2026-W47"
    daily = scheduled_event("aiusage-prod-SchedulesDailyReportA1B2C3D4-9Z8Y7X6W5V4U", "2026-11-23T06:00:00Z")
    assert lambda_handler(daily, context())["period"] == "2026-11-22"
    assert sorted(i["SK"] for i in stored_reports("weekly")) == ["2026-W47"]


def test_an_event_without_a_kind_fails_naming_the_field(aws):
    from functions.reports.handler import lambda_handler
    from shared.errors import ValidationFailed

    unnamed = scheduled_event("aiusage-prod-nightly", "2026-11-23T06:00:00Z")
    with pytest.raises(ValidationFailed) as raised:
        lambda_handler(unnamed, context())
    assert raised.value.details[0]["loc"] == ["event", "kind"]
    assert 'give {"kind": "daily"|"weekly"|"monthly"} as the rule\'s input' in raised.value.message
    assert "aiusage-prod-nightly" in raised.value.message
    with pytest.raises(ValidationFailed) as raised:
        lambda_handler({}, context())
    assert raised.value.message == "event.kind: missing: one of daily, weekly, monthly"
    with pytest.raises(ValidationFailed) as raised:
        lambda_handler({"kind": "daily", "time": "yesterday"}, context())
    assert raised.value.details[0]["loc"] == ["event", "time"]
    assert all(stored_reports(kind) == [] for kind in ("daily", "weekly", "monthly"))
