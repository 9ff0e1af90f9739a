"""The notifier Lambda: CloudWatch alarms from SNS and EventBridge stored once, forwarded to a webhook (SPEC 8)."""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aiusage.local.gateway import LambdaContext
from tests.conftest import fixture_json

SNS_ID = "5b2f8e1a-9c3d-5e7f-8a0b-1c2d3e4f5a6b"
EVENTBRIDGE_ID = "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92"


def invoke(event: dict) -> dict:
    from functions.notifier.handler import lambda_handler

    return lambda_handler(event, LambdaContext("notifier", "req-1"))


def sns_record(message_id: str, message: object) -> dict:
    record = copy.deepcopy(fixture_json("cloudwatch-alarm-sns.json")["Records"][0])
    record["Sns"]["MessageId"] = message_id
    record["Sns"]["Message"] = message if isinstance(message, str) else json.dumps(message)
    return record


def cloudwatch_alerts(api) -> list[dict]:
    answer = api.get("/alerts", type="cloudwatch_alarm")
    assert answer.status == 200, answer
    return answer.json()["alerts"]


@pytest.fixture
def logs() -> Iterator[list[logging.LogRecord]]:
    """Records the Powertools logger (service aiusage) writes."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger("aiusage")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


class Webhook:
    """A Slack-compatible webhook on 127.0.0.1 (a free port) that answers as told: ok, fail or hang."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.received: list[dict] = []
        self.release = threading.Event()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                webhook.received.append({"body": json.loads(body), "content_type": self.headers["Content-Type"]})
                if webhook.mode == "hang":
                    webhook.release.wait(10)
                    return
                self.send_response(500 if webhook.mode == "fail" else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/XXXX"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(aws, monkeypatch) -> Iterator[Webhook]:
    """The webhook, its URL in a (moto) Secrets Manager secret, and the secret's ARN in the settings."""
    import boto3

    from shared.config import settings

    hook = Webhook()
    arn = boto3.client("secretsmanager").create_secret(Name="aiusage/webhook", SecretString=hook.url)["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
    settings.cache_clear()
    yield hook
    hook.stop()
    settings.cache_clear()


def test_sns_alarm_is_stored_with_its_fields_and_listed_in_alerts(api):
    assert invoke(fixture_json("cloudwatch-alarm-sns.json")) == {"batchItemFailures": []}
    (alert,) = cloudwatch_alerts(api)
    assert alert == {**alert, "alert_id": "cloudwatch_alarm:aiusage-prod-budget-anthropic-monthly-80:"
                                          "2026-11-21T09:06:12.482000Z", "type": "cloudwatch_alarm",
                     "message_id": SNS_ID, "source": "sns", "budget_id": "anthropic-monthly",
                     "name": "aiusage-prod-budget-anthropic-monthly-80", "state": "ALARM", "old_state": "OK",
                     "metric": "BudgetUtilization", "namespace": "AIUsage", "threshold": 80.0,
                     "time": "2026-11-21T09:06:12.482000Z",
                     "description": "Budget anthropic-monthly passed 80% of its limit",
                     "alarm_arn": "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:"
                                  "aiusage-prod-budget-anthropic-monthly-80"}
    assert alert["reason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [83.4")


def test_eventbridge_alarm_state_change_is_stored_with_its_fields(api):
    assert invoke(fixture_json("cloudwatch-alarm-eventbridge.json")) == {"batchItemFailures": []}
    (alert,) = cloudwatch_alerts(api)
    assert alert == {**alert, "alert_id": "cloudwatch_alarm:aiusage-prod-daily-cost:2026-11-21T23:59:40.115000Z",
                     "message_id": EVENTBRIDGE_ID, "budget_id": None,
                     "source": "eventbridge", "name": "aiusage-prod-daily-cost", "state": "ALARM", "old_state": "OK",
                     "metric": "CostUSD", "namespace": "AIUsage", "threshold": 50.0,
                     "time": "2026-11-21T23:59:40.115000Z", "description": "Daily AI spend above 50 USD",
                     "alarm_arn": "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:aiusage-prod-daily-cost"}
    assert "[57.21 (21/11/26 00:00:00)] was greater than the threshold (50.0)" in alert["reason"]


def test_the_same_message_twice_is_stored_once_and_forwarded_once(api, webhook):
    event = fixture_json("cloudwatch-alarm-sns.json")
    invoke(event)
    invoke(event)  # SNS redelivers
    assert len(cloudwatch_alerts(api)) == 1
    assert len(webhook.received) == 1
    eventbridge = fixture_json("cloudwatch-alarm-eventbridge.json")
    invoke(eventbridge)
    invoke(eventbridge)
    assert len(cloudwatch_alerts(api)) == 2 and len(webhook.received) == 2


def test_a_malformed_record_fails_alone_and_our_own_messages_are_skipped(api, logs):
    budget_alert = {"alert_id": "budget:b1:2026-11:0.8", "type": "budget_threshold", "budget_id": "b1",
                    "threshold": 0.8, "spent": 80, "limit": 100, "period": "2026-11"}
    report_summary = {"type": "report", "kind": "daily", "period": "2026-11-21", "summary": "aiusage daily report"}
    alarm = json.loads(fixture_json("cloudwatch-alarm-sns.json")["Records"][0]["Sns"]["Message"])
    nameless = {k: v for k, v in alarm.items() if k != "AlarmName"}
    event = {"Records": [
        sns_record("m-budget", budget_alert),
        sns_record("m-garbage", "this is {not json"),
        sns_record("m-alarm", alarm),
        sns_record("m-report", report_summary),
        sns_record("m-nameless", nameless),
        sns_record("m-unknown", {"hello": "world"}),
    ]}
    answer = invoke(event)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-garbage"}, {"itemIdentifier": "m-nameless"},
                                            {"itemIdentifier": "m-unknown"}]}
    assert [a["message_id"] for a in cloudwatch_alerts(api)] == ["m-alarm"]
    errors = [r for r in logs if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["malformed alarm message"] * 3
    assert not any("m-budget" in str(r.__dict__) or "m-report" in str(r.__dict__) for r in errors)


def test_a_malformed_eventbridge_event_is_reported_by_its_id(aws):
    event = fixture_json("cloudwatch-alarm-eventbridge.json")
    del event["detail"]["state"]
    assert invoke(event) == {"batchItemFailures": [{"itemIdentifier": EVENTBRIDGE_ID}]}
    other = {**fixture_json("cloudwatch-alarm-eventbridge.json"),
             "detail-type": "EC2 Instance State-change Notification"}
    assert invoke(other) == {"batchItemFailures": []}


def test_stored_alarms_are_not_published_back_to_the_alerts_topic(aws, monkeypatch):
    from shared import alerts

    published = []
    monkeypatch.setattr(alerts, "publish", lambda subject, message: published.append(subject) or True)
    invoke(fixture_json("cloudwatch-alarm-sns.json"))
    invoke(fixture_json("cloudwatch-alarm-eventbridge.json"))
    assert published == []


def test_alarm_is_forwarded_to_the_webhook_from_the_secret(api, webhook):
    invoke(fixture_json("cloudwatch-alarm-sns.json"))
    (post,) = webhook.received
    assert post["content_type"] == "application/json"
    assert list(post["body"]) == ["text"]
    text = post["body"]["text"]
    assert text.startswith(
        ":rotating_light: ALARM: aiusage-prod-budget-anthropic-monthly-80 (was OK) - Threshold Crossed")
    assert text.endswith(
        "\nAIUsage/BudgetUtilization, budget anthropic-monthly, threshold 80, 2026-11-21T09:06:12.482000Z"
    )


def test_the_webhook_url_may_be_json_and_is_fetched_once_per_cold_start(api, webhook, monkeypatch):
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from shared.config import settings

    arn = boto3.client("secretsmanager").create_secret(Name="aiusage/webhook-json",
                                                       SecretString=json.dumps({"url": webhook.url}))["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
    settings.cache_clear()
    fetched = []
    real_get_secret = parameters.get_secret
    monkeypatch.setattr(parameters, "get_secret",
                        lambda name, **kw: fetched.append(name) or real_get_secret(name, **kw))
    invoke(fixture_json("cloudwatch-alarm-sns.json"))
    invoke(fixture_json("cloudwatch-alarm-eventbridge.json"))
    assert len(webhook.received) == 2 and fetched == [arn]


def test_a_webhook_answering_500_is_logged_not_retried_and_the_alert_is_stored(api, webhook, logs):
    webhook.mode = "fail"
    assert invoke(fixture_json("cloudwatch-alarm-sns.json")) == {"batchItemFailures": []}
    assert len(webhook.received) == 1  # one attempt, no retry
    assert len(cloudwatch_alerts(api)) == 1
    (warning,) = [r for r in logs if r.levelno == logging.WARNING]
    assert warning.getMessage() == "webhook rejected the message" and warning.status == 500
    invoke(fixture_json("cloudwatch-alarm-sns.json"))  # redelivered: already stored, not forwarded again
    assert len(webhook.received) == 1


def test_a_hanging_webhook_times_out_and_the_alert_is_stored(api, webhook, logs, monkeypatch):
    from functions.notifier import webhook as forwarding

    monkeypatch.setattr(forwarding, "TIMEOUT_SECONDS", 0.5)
    webhook.mode = "hang"
    started = time.monotonic()
    assert invoke(fixture_json("cloudwatch-alarm-eventbridge.json")) == {"batchItemFailures": []}
    assert time.monotonic() - started < 3
    assert len(webhook.received) == 1
    assert [a["name"] for a in cloudwatch_alerts(api)] == ["aiusage-prod-daily-cost"]
    (warning,) = [r for r in logs if r.levelno == logging.WARNING]
    assert warning.getMessage() == "webhook unreachable" and "timed out" in warning.error


def test_without_a_configured_webhook_nothing_is_sent(api, monkeypatch):
    from functions.notifier import webhook as forwarding

    monkeypatch.setattr(forwarding, "webhook_url", lambda arn: pytest.fail("no secret should be read"))
    invoke(fixture_json("cloudwatch-alarm-sns.json"))
    assert len(cloudwatch_alerts(api)) == 1


def test_a_storage_error_fails_the_invocation_after_the_other_records(aws, monkeypatch):
    from shared import alerts

    stored = []
    real = alerts.raise_alert

    def flaky(dedup_key, *args, **kwargs):
        if dedup_key.endswith("09:00:00.000000Z"):
            raise ConnectionError("DynamoDB unreachable")
        stored.append(dedup_key)
        return real(dedup_key, *args, **kwargs)

    monkeypatch.setattr(alerts, "raise_alert", flaky)
    alarm = json.loads(fixture_json("cloudwatch-alarm-sns.json")["Records"][0]["Sns"]["Message"])
    first = {**alarm, "StateChangeTime": "2026-11-21T09:00:00.000+0000"}
    second = {**alarm, "StateChangeTime": "2026-11-21T10:00:00.000+0000"}
    with pytest.raises(ConnectionError):
        invoke({"Records": [sns_record("m-1", first), sns_record("m-2", second)]})
    # the second record still ran; Lambda retries the event
    assert stored == ["cloudwatch_alarm:aiusage-prod-budget-anthropic-monthly-80:2026-11-21T10:00:00.000000Z"]


def eventbridge_of(sns_message: dict, event_id: str) -> dict:
    """The EventBridge "CloudWatch Alarm State Change" event of the same state change as an SNS alarm message."""
    event = copy.deepcopy(fixture_json("cloudwatch-alarm-eventbridge.json"))
    trigger = sns_message["Trigger"]
    event["id"] = event_id
    event["resources"] = [sns_message["AlarmArn"]]
    event["detail"]["alarmName"] = sns_message["AlarmName"]
    event["detail"]["configuration"] = {"description": sns_message.get("AlarmDescription"), "metrics": [{
        "id": "m1", "returnData": True, "metricStat": {"period": trigger["Period"], "stat": "Maximum", "metric": {
            "name": trigger["MetricName"], "namespace": trigger["Namespace"],
            "dimensions": {d["name"]: d["value"] for d in trigger["Dimensions"]}}}}]}
    event["detail"]["state"] = {"value": sns_message["NewStateValue"], "reason": sns_message["NewStateReason"],
                                "timestamp": sns_message["StateChangeTime"],
                                "reasonData": json.dumps({"threshold": trigger["Threshold"]})}
    event["detail"]["previousState"] = {"value": sns_message["OldStateValue"], "reason": "",
                                        "timestamp": "2026-11-20T00:00:00.000+0000"}
    return event


def test_one_state_change_delivered_directly_and_through_sns_is_stored_and_forwarded_once(api, webhook):
    """EventBridge may deliver an alarm's state change itself and via the alarm's SNS action: different message
    ids, one state change (alarm name + state change time)."""
    sns = fixture_json("cloudwatch-alarm-sns.json")
    message = json.loads(sns["Records"][0]["Sns"]["Message"])
    direct = eventbridge_of(message, "0f0e0d0c-direct")
    wrapped = sns_record("1a2b3c4d-wrapped", eventbridge_of(message, "0f0e0d0c-direct"))
    for event in (direct, sns, {"Records": [wrapped]}, sns):
        assert invoke(event) == {"batchItemFailures": []}
    (alert,) = cloudwatch_alerts(api)
    assert (alert["message_id"], alert["source"], alert["budget_id"]) == ("0f0e0d0c-direct", "eventbridge",
                                                                          "anthropic-monthly")
    assert len(webhook.received) == 1
    # The next state change of the same alarm is news again.
    back_to_ok = {**message, "NewStateValue": "OK", "OldStateValue": "ALARM",
                  "StateChangeTime": "2026-12-01T00:05:00.000+0000"}
    invoke({"Records": [sns_record("m-ok", back_to_ok)]})
    assert [a["state"] for a in cloudwatch_alerts(api)] == ["OK", "ALARM"]
    assert len(webhook.received) == 2


def as_cloudwatch_sends_it(alarm: dict, state: str, message_id: str) -> dict:
    """The SNS record CloudWatch publishes for `alarm` (as DescribeAlarms shows it) entering `state`."""
    message = {
        "AlarmName": alarm["AlarmName"], "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": "123456789012", "NewStateValue": state, "OldStateValue": "INSUFFICIENT_DATA",
        "NewStateReason": f"Threshold Crossed: 1 out of the last 1 datapoints [{alarm['Threshold'] + 1}] was greater "
                          f"than or equal to the threshold ({alarm['Threshold']}).",
        "StateChangeTime": "2026-11-21T09:06:12.482+0000", "Region": "US East (N. Virginia)",
        "AlarmArn": alarm["AlarmArn"], "AlarmActions": alarm["AlarmActions"], "OKActions": alarm["OKActions"],
        "Trigger": {"MetricName": alarm["MetricName"], "Namespace": alarm["Namespace"], "Statistic": "MAXIMUM",
                    "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm["Dimensions"]],
                    "Period": alarm["Period"], "EvaluationPeriods": alarm["EvaluationPeriods"],
                    "ComparisonOperator": alarm["ComparisonOperator"], "Threshold": alarm["Threshold"],
                    "TreatMissingData": alarm["TreatMissingData"]},
    }
    return {"Records": [sns_record(message_id, message)]}


def test_a_budget_gets_its_alarms_and_the_notifier_names_the_budget(api, webhook):
    """PUT a budget -> its alarms in CloudWatch (moto) -> an alarm notification -> an alert of that budget."""
    import os

    import boto3

    cloudwatch = boto3.client("cloudwatch")
    assert api.put("/budgets/anthropic-monthly", {"name": "Anthropic monthly", "scope": {"service": "anthropic"},
                                                  "period": "monthly", "limit_usd": 500,
                                                  "thresholds": [0.5, 0.8, 1.0]}).status == 201
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix="aiusage-dev/budget/")["MetricAlarms"]
    (at_80,) = [a for a in alarms if a["Threshold"] == 80.0]
    assert at_80["AlarmName"] == "aiusage-dev/budget/anthropic-monthly/80pct"
    assert at_80["AlarmActions"] == at_80["OKActions"] == [os.environ["ALERTS_TOPIC_ARN"]]
    invoke(as_cloudwatch_sends_it(at_80, "ALARM", "cw-1"))

    (alert,) = api.get("/alerts", budget_id="anthropic-monthly").json()["alerts"]
    assert (alert["type"], alert["name"], alert["threshold"], alert["state"]) == (
        "cloudwatch_alarm", "aiusage-dev/budget/anthropic-monthly/80pct", 80.0, "ALARM")
    assert alert["description"] == ("aiusage budget 'Anthropic monthly' (anthropic-monthly) reached 80% of its "
                                    "monthly limit of 500 USD")
    (post,) = webhook.received
    assert "ALARM: aiusage-dev/budget/anthropic-monthly/80pct" in post["body"]["text"]
    assert "budget anthropic-monthly, threshold 80" in post["body"]["text"]
    assert api.get("/alerts", budget_id="other").json()["alerts"] == []
