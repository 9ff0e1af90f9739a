"""Budgets over the API (SPEC 6): exact spend, alerts once, status, check decisions, reset, audit."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from shared import budgets, ingest
from tests.support.aggregation import drain


def now_ts(seconds_ago: int = 5) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def spend(api, event_id, cost, service="anthropic", ts=None, **kw):
    answer = api.post("/ai_usage", {"event_id": event_id, "timestamp": ts or now_ts(), "service": service,
                                    "model": "claude-sonnet-4-5", "input_tokens": 100, "output_tokens": 10,
                                    "cost_usd": cost, **kw})
    assert answer.status == 200, answer
    return answer.json()


def put_budget(api, budget_id, **body):
    body = {"period": "total", "limit_usd": 100, **body}
    answer = api.put(f"/budgets/{budget_id}", body)
    assert answer.status in (200, 201), answer
    return answer.json()


@pytest.fixture
def sns_messages(aws):
    """Messages published to the alerts topic, read through an SQS subscription."""
    import os

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="alerts-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=os.environ["ALERTS_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)

    def read():
        messages = []
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return messages
            messages += [json.loads(json.loads(m["Body"])["Message"]) for m in got]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    return read


def test_create_read_list_and_validation(api):
    created = api.put("/budgets/anthropic-monthly", {
        "name": "Anthropic monthly", "scope": {"service": "anthropic"}, "period": "monthly",
        "timezone": "Europe/Berlin", "anchor_day": 1, "limit_usd": 500, "limit_tokens": None, "limit_credits": None,
        "thresholds": [0.5, 0.8, 1.0], "forecast_alert": True, "action_on_limit": "warn", "fallback_model": None,
        "override_until": None})
    assert created.status == 201, created
    body = created.json()
    assert body["budget_id"] == "anthropic-monthly" and body["scope"] == {"service": "anthropic"}
    assert body["status"]["limit_usd"] == 500.0 and body["status"]["state"] == "ok"
    assert body["status"]["period_start"].endswith(("+01:00", "+02:00"))
    assert api.get("/budgets/anthropic-monthly").json()["name"] == "Anthropic monthly"
    assert [b["budget_id"] for b in api.get("/budgets").json()["budgets"]] == ["anthropic-monthly"]
    assert api.get("/budgets/nope").status == 404
    for bad, loc in [({"period": "monthly", "limit_usd": 1, "limit_tokens": 5}, ["limit_usd"]),
                     ({"period": "monthly"}, ["limit_usd"]),
                     ({"period": "fortnightly", "limit_usd": 1}, ["period"]),
                     ({"period": "daily", "limit_usd": 1, "timezone": "Mars/Olympus"}, ["timezone"]),
                     ({"period": "daily", "limit_usd": 1, "action_on_limit": "degrade"}, ["fallback_model"]),
                     ({"period": "daily", "limit_usd": 1, "anchor_day": 31}, ["anchor_day"]),
                     ({"period": "daily", "limit_usd": 1, "scope": {"colour": "red"}}, ["scope", "colour"])]:
        answer = api.put("/budgets/b", bad)
        assert answer.status == 400, (bad, answer)
        assert loc in [d["loc"] for d in answer.json()["error"]["details"]], answer.json()
    assert api.put("/budgets/bad%20id", {"period": "daily", "limit_usd": 1}).status == 400


def test_spend_counts_earlier_events_once_and_ignores_duplicates_and_other_scopes(api):
    spend(api, "before-1", 10)
    spend(api, "before-2", 5, service="openai")
    put_budget(api, "anth", scope={"service": "anthropic"})
    spend(api, "after-1", 20)
    spend(api, "after-1", 20)                 # duplicate
    spend(api, "before-1", 10)                # duplicate of an event the backfill counted
    spend(api, "after-2", 7, service="openai")
    status = api.get("/budgets/anth").json()["status"]
    assert (status["spent_usd"], status["events"], status["remaining_usd"], status["utilization"]) == (
        30.0,
        2,
        70.0,
        0.3,
    )
    put_budget(api, "all")                    # global scope
    assert api.get("/budgets/all").json()["status"]["spent_usd"] == 42.0


def test_late_arrivals_count_in_their_own_period(api):
    put_budget(api, "daily", period="daily", limit_usd=10)
    yesterday = (datetime.now(UTC) - timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    spend(api, "late", 9, ts=yesterday)
    spend(api, "today", 2)
    assert api.get("/budgets/daily").json()["status"]["spent_usd"] == 2.0


def test_one_large_event_crosses_three_thresholds_each_alerting_once(api, sns_messages):
    put_budget(api, "big", scope={"service": "anthropic"}, limit_usd=10, thresholds=[0.5, 0.8, 1.0])
    spend(api, "jump", 12)
    spend(api, "more", 1)
    listed = api.get("/alerts", budget_id="big").json()["alerts"]
    assert sorted(a["threshold"] for a in listed) == [0.5, 0.8, 1.0]
    assert all(a["type"] == "budget_threshold" and a["spent_usd"] == 12.0 and a["limit"] == 10.0 for a in listed)
    published = [m for m in sns_messages() if m.get("budget_id") == "big"]
    assert sorted(m["threshold"] for m in published) == [0.5, 0.8, 1.0]
    assert {"type", "budget_id", "threshold", "spent_usd", "limit", "period"} <= set(published[0])
    status = api.get("/budgets/big").json()["status"]
    assert (status["state"], status["thresholds_crossed"]) == ("exceeded", [0.5, 0.8, 1.0])


def test_concurrent_writers_crossing_the_same_threshold_raise_one_alert(api, admin_key):
    put_budget(api, "race", limit_usd=10, thresholds=[0.5])
    barrier = threading.Barrier(6)
    errors = []

    def writer(n):
        try:
            barrier.wait()
            body = {
                "events": [
                    {
                        "event_id": f"race-{n}-{i}",
                        "timestamp": now_ts(),
                        "service": "openai",
                        "model": "gpt-4o",
                        "input_tokens": 1,
                        "output_tokens": 1,
                        "cost_usd": 1,
                    }
                    for i in range(2)
                ]
            }
            ingest.record_usage(json.loads(json.dumps(body)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert api.get("/budgets/race").json()["status"]["spent_usd"] == 12.0
    assert len(api.get("/alerts", budget_id="race").json()["alerts"]) == 1


def test_budget_created_while_writers_run_counts_every_event_once(api):
    stop = threading.Event()
    written = []

    def writer(n):
        i = 0
        while not stop.is_set() and i < 40:
            body = {"event_id": f"w{n}-{i}", "timestamp": now_ts(), "service": "openai", "model": "gpt-4o",
                    "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.25}
            ingest.record_usage(json.loads(json.dumps(body)))
            written.append(body["event_id"])
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    put_budget(api, "mid-flight", limit_usd=1000)
    for t in threads:
        t.join()
    status = api.get("/budgets/mid-flight").json()["status"]
    assert status["events"] == len(written) == 120
    assert status["spent_usd"] == 30.0


def test_forecast_and_burn_rate(api, sns_messages):
    put_budget(api, "fc", period="monthly", limit_usd=100, forecast_alert=True, thresholds=[1.0])
    spend(api, "f1", 60)
    status = api.get("/budgets/fc").json()["status"]
    assert status["burn_rate_usd_per_day"] > 0
    assert status["forecast_usd"] >= 60
    start = datetime.fromisoformat(status["period_start"])
    elapsed_days = max((datetime.now(UTC) - start).total_seconds() / 86400, 1 / 24)
    assert status["burn_rate_usd_per_day"] == pytest.approx(60 / elapsed_days, rel=1e-3)
    forecast_alerts = api.get("/alerts", type="budget_forecast").json()["alerts"]
    if status["forecast_usd"] > 100:
        assert len(forecast_alerts) == 1 and forecast_alerts[0]["budget_id"] == "fc"
        assert status["forecast_exhausted_at"] is not None
    else:  # the first hours of a month: the forecast stays under the limit
        assert forecast_alerts == []


def test_check_decisions_strictest_wins_and_override_softens(api):
    put_budget(api, "warn-all", limit_usd=100, action_on_limit="warn")
    put_budget(api, "openai-block", scope={"service": "openai"}, limit_usd=10, action_on_limit="block")
    put_budget(api, "openai-queue", scope={"service": "openai"}, period="daily", limit_usd=10, action_on_limit="queue")
    put_budget(api, "alice-degrade", scope={"user_id": "alice"}, limit_usd=5, action_on_limit="degrade",
               fallback_model="gpt-4o-mini")
    spend(api, "o1", 8, service="openai")

    small = api.post("/budgets/check", {"service": "openai", "model": "gpt-4o", "estimated_cost_usd": 1}).json()
    assert (small["allowed"], small["action"]) == (True, "allow")
    assert {b["budget_id"]: b["remaining_usd"] for b in small["budgets"]} == {
        "openai-block": 2.0, "openai-queue": 2.0, "warn-all": 92.0}

    big = api.post("/budgets/check", {"service": "openai", "model": "gpt-4o", "estimated_cost_usd": 3}).json()
    assert (big["allowed"], big["action"]) == (False, "block")
    assert {b["budget_id"]: b["action"] for b in big["budgets"]} == {
        "openai-block": "block", "openai-queue": "queue", "warn-all": "allow"}

    alice = api.post("/budgets/check", {"service": "anthropic", "user_id": "alice", "estimated_cost_usd": 6}).json()
    assert (alice["allowed"], alice["action"], alice["fallback_model"]) == (True, "degrade", "gpt-4o-mini")

    api.delete("/budgets/openai-block")
    queued = api.post("/budgets/check", {"service": "openai", "model": "gpt-4o", "estimated_cost_usd": 3}).json()
    assert (queued["allowed"], queued["action"]) == (False, "queue")
    assert queued["retry_after"] == api.get("/budgets/openai-queue").json()["status"]["period_end"]

    until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    put_budget(api, "openai-queue", scope={"service": "openai"}, period="daily", limit_usd=10,
               action_on_limit="queue", override_until=until)
    softened = api.post("/budgets/check", {"service": "openai", "model": "gpt-4o", "estimated_cost_usd": 3}).json()
    assert (softened["allowed"], softened["action"]) == (True, "warn")
    assert api.get("/budgets/openai-queue").json()["status"]["override_active"] is True

    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    put_budget(api, "openai-queue", scope={"service": "openai"}, period="daily", limit_usd=10,
               action_on_limit="queue", override_until=past)
    expired = api.post("/budgets/check", {"service": "openai", "model": "gpt-4o", "estimated_cost_usd": 3}).json()
    assert expired["action"] == "queue"


def test_check_prices_token_counts(api):
    put_budget(api, "tiny", scope={"service": "openai"}, limit_usd=0.01, action_on_limit="block")
    # gpt-4o: 2000 x 2.5 + 1000 x 10 per MTok = $0.015
    answer = api.post("/budgets/check", {"service": "openai", "model": "gpt-4o", "input_tokens": 2000,
                                         "output_tokens": 1000}).json()
    assert (answer["estimated_cost_usd"], answer["action"]) == (0.015, "block")


def test_estimate_reports_budget_impact(api):
    put_budget(api, "est", scope={"service": "openai"}, limit_usd=1)
    answer = api.post("/ai_usage/estimate", {"items": [{"service": "openai", "model": "gpt-4o", "input_tokens": 100000,
                                                        "output_tokens": 100000, "count": 2}],
                                             "scope": {"service": "openai"}}).json()
    assert answer["total_estimated_cost_usd"] == 2.5
    assert answer["budgets"] == [
        {"budget_id": "est", "remaining_usd": 1.0, "would_exceed": True, "action_on_limit": "warn"}
    ]


def test_reset_counts_from_now_and_history_records_every_change(api, key_with):
    put_budget(api, "r", limit_usd=100)
    spend(api, "r1", 40, ts=now_ts(60))
    assert api.get("/budgets/r").json()["status"]["spent_usd"] == 40.0
    reset = api.post("/budgets/r/reset", {})
    assert reset.status == 200 and reset.json()["status"]["spent_usd"] == 0.0
    spend(api, "r2", 3, ts=now_ts(0))
    spend(api, "r0", 9, ts=now_ts(120))   # a late arrival from before the reset does not count
    assert api.get("/budgets/r").json()["status"]["spent_usd"] == 3.0
    put_budget(api, "r", limit_usd=200)
    put_budget(
        api, "r", limit_usd=200, override_until=(datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert api.get("/budgets/r").json()["status"]["spent_usd"] == 3.0  # a limit change keeps the spend
    assert api.delete("/budgets/r").status == 204
    entries = api.get("/budgets/r/history").json()["history"]
    assert [e["action"] for e in entries] == ["delete", "override", "update", "reset", "create"]
    assert all(e["principal"].startswith("key:k_") for e in entries)
    update = entries[2]
    assert update["before"]["limit_usd"] == 100.0 and update["after"]["limit_usd"] == 200.0
    reader = key_with("usage:read")
    assert api.put("/budgets/x", {"period": "daily", "limit_usd": 1}, key=reader).status == 403
    assert api.post("/budgets/r/reset", {}, key=reader).status == 403
    assert api.get("/budgets", key=reader).status == 200


def test_token_limit_and_tag_scope(api):
    put_budget(api, "tokens", scope={"tags": {"team": "search"}}, limit_usd=None, limit_tokens=1000)
    spend(api, "t1", 0.01, tags={"team": "search", "env": "prod"})   # 110 tokens
    spend(api, "t2", 0.01, tags={"team": "ads"})
    status = api.get("/budgets/tokens").json()["status"]
    assert (status["spent_tokens"], status["utilization"], status["limit_tokens"]) == (110, 0.11, 1000)


def test_usage_path_emits_emf_metrics(api, capsys):
    put_budget(api, "m", limit_usd=50)
    drain()
    capsys.readouterr()
    spend(api, "emf", 10)  # ingest emits the usage metrics, the aggregator BudgetUtilization
    drain()
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    by_dims = {tuple(b["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]): b for b in blobs}
    assert by_dims[("service",)]["service"] == "anthropic"
    assert by_dims[("service",)]["CostUSD"] == [10.0]
    assert by_dims[("service",)]["InputTokens"] == [100.0] and by_dims[("service",)]["Requests"] == [1.0]
    assert by_dims[()]["CostUSD"] == [10.0]
    assert by_dims[("BudgetId",)] == {**by_dims[("BudgetId",)], "BudgetId": "m", "BudgetUtilization": [20.0]}
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AIUsage" for b in blobs)


def test_status_at_a_fixed_time_in_berlin(api):
    """A Berlin month: the event at 23:30 UTC on Oct 31 is November's; to the cent and the second."""
    put_budget(api, "berlin", period="monthly", timezone="Europe/Berlin", limit_usd=300)
    spend(api, "oct", 100, ts="2026-10-31T22:30:00Z")
    spend(api, "nov", 30, ts="2026-10-31T23:30:00Z")
    spend(api, "nov2", 30, ts="2026-11-10T12:00:00Z")
    drain()
    b = next(x for x in budgets.load_all() if x.budget_id == "berlin")
    now = datetime(2026, 11, 11, 23, 0, tzinfo=UTC)  # 10 days into the Berlin month
    s = budgets.status(b, now)
    assert (s["period_start"], s["period_end"]) == ("2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00")
    assert (s["spent_usd"], s["utilization"], s["state"]) == (60.0, 0.2, "ok")
    assert s["burn_rate_usd_per_day"] == 5.454545  # 60 over 11 days
    assert s["forecast_usd"] == 163.636364  # + 19 days x 60/11
    assert s["forecast_exhausted_at"] is None  # stays under 300 this month
    october = budgets.status(b, datetime(2026, 10, 20, tzinfo=UTC))
    assert october["spent_usd"] == 100.0


def test_total_budget_burn_rate_runs_from_its_creation_not_from_1970(api):
    from tests.support.aggregation import drain

    put_budget(api, "lifetime", period="total", limit_usd=100)
    spend(api, "life-1", 20, ts=now_ts(3 * 86400))
    spend(api, "life-2", 10)
    drain()
    b = next(x for x in budgets.load_all() if x.budget_id == "lifetime")
    created = datetime.fromisoformat(b.created_at)
    ten_days_on = budgets.status(b, created + timedelta(days=10))
    assert ten_days_on["spent_usd"] == 30.0
    assert ten_days_on["burn_rate_usd_per_day"] == 3.0  # 30 over the budget's 10 days
    # On its first day the rate is over one day at least, not 30 x 24 per day.
    assert budgets.status(b, created + timedelta(minutes=5))["burn_rate_usd_per_day"] == 30.0
    # After a reset, the rate runs from the reset.
    assert api.post("/budgets/lifetime/reset", {}).status == 200
    spend(api, "life-3", 8, ts=now_ts(0))
    drain()
    b = next(x for x in budgets.load_all() if x.budget_id == "lifetime")
    assert budgets.status(b, b.counting_from + timedelta(days=4))["burn_rate_usd_per_day"] == 2.0


def test_amounts_in_the_limit_unit_are_rounded_once_like_money(api, sns_messages):
    from tests.support.aggregation import drain

    put_budget(api, "round-usd", period="monthly", limit_usd=500)
    put_budget(api, "round-tokens", period="monthly", limit_usd=None, limit_tokens=1000)
    spend(api, "r-1", 1.4542771)
    drain()
    usd_status = api.get("/budgets/round-usd").json()["status"]
    assert (usd_status["remaining_usd"], usd_status["remaining"]) == (498.545723, 498.545723)
    tokens_status = api.get("/budgets/round-tokens").json()["status"]
    assert tokens_status["remaining"] == 890 and isinstance(tokens_status["remaining"], int)
    assert tokens_status["remaining_usd"] is None

    # A forecast alert carries the forecast rounded like every amount (a year's forecast passes $1 at once).
    put_budget(api, "round-fc", scope={"user_id": "fc"}, period="yearly", limit_usd=1, thresholds=[1.0],
               forecast_alert=True)
    spend(api, "r-2", 0.99, user_id="fc")
    drain()
    alert = next(m for m in sns_messages() if m["type"] == "budget_forecast")
    assert alert["budget_id"] == "round-fc"
    status = api.get("/budgets/round-fc").json()["status"]
    assert alert["forecast"] > 1
    assert alert["forecast"] == round(alert["forecast"], 6)
    assert abs(alert["forecast"] - status["forecast_usd"]) < 0.01  # the same projection, moments apart


def budget_alarms_in_cloudwatch() -> dict[str, dict]:
    cloudwatch = boto3.client("cloudwatch")
    pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix="aiusage-dev/budget/")
    return {a["AlarmName"]: a for page in pages for a in page["MetricAlarms"]}


def test_every_budget_has_an_alarm_per_threshold_kept_in_step_and_deleted_with_it(api):
    import os

    put_budget(api, "anthropic-monthly", name="Anthropic monthly", period="monthly", limit_usd=500,
               thresholds=[0.5, 0.8, 1.0])
    put_budget(api, "anthropic-monthly.eu", period="daily", limit_usd=None, limit_tokens=10_000, thresholds=[0.875])
    alarms = budget_alarms_in_cloudwatch()
    assert sorted(alarms) == ["aiusage-dev/budget/anthropic-monthly.eu/87.5pct",
                              "aiusage-dev/budget/anthropic-monthly/100pct",
                              "aiusage-dev/budget/anthropic-monthly/50pct",
                              "aiusage-dev/budget/anthropic-monthly/80pct"]
    at_80 = alarms["aiusage-dev/budget/anthropic-monthly/80pct"]
    assert {k: at_80[k] for k in ("Namespace", "MetricName", "Dimensions", "Statistic", "Period", "EvaluationPeriods",
                                  "Threshold", "ComparisonOperator", "TreatMissingData", "ActionsEnabled")} == {
        "Namespace": "AIUsage", "MetricName": "BudgetUtilization",
        "Dimensions": [{"Name": "BudgetId", "Value": "anthropic-monthly"}], "Statistic": "Maximum", "Period": 300,
        "EvaluationPeriods": 1, "Threshold": 80.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "ignore", "ActionsEnabled": True}
    assert at_80["AlarmActions"] == at_80["OKActions"] == [os.environ["ALERTS_TOPIC_ARN"]]
    assert at_80["AlarmDescription"] == ("aiusage budget 'Anthropic monthly' (anthropic-monthly) reached 80% of its "
                                         "monthly limit of 500 USD")
    tokens = alarms["aiusage-dev/budget/anthropic-monthly.eu/87.5pct"]
    assert tokens["Threshold"] == 87.5 and tokens["AlarmDescription"].endswith("daily limit of 10000 tokens")

    # New thresholds: the lost one's alarm goes, the new one's comes; the other budget is untouched.
    put_budget(api, "anthropic-monthly", name="Anthropic monthly", period="monthly", limit_usd=500,
               thresholds=[0.8, 1.2])
    assert sorted(budget_alarms_in_cloudwatch()) == ["aiusage-dev/budget/anthropic-monthly.eu/87.5pct",
                                                     "aiusage-dev/budget/anthropic-monthly/120pct",
                                                     "aiusage-dev/budget/anthropic-monthly/80pct"]
    # Repeating an unchanged PUT repairs an alarm deleted behind the budget's back.
    boto3.client("cloudwatch").delete_alarms(AlarmNames=["aiusage-dev/budget/anthropic-monthly/120pct"])
    answer = api.put("/budgets/anthropic-monthly", {"name": "Anthropic monthly", "period": "monthly",
                                                    "limit_usd": 500, "thresholds": [0.8, 1.2]})
    assert answer.status == 200
    assert "aiusage-dev/budget/anthropic-monthly/120pct" in budget_alarms_in_cloudwatch()

    assert api.delete("/budgets/anthropic-monthly").status == 204
    assert sorted(budget_alarms_in_cloudwatch()) == ["aiusage-dev/budget/anthropic-monthly.eu/87.5pct"]
    assert api.delete("/budgets/anthropic-monthly.eu").status == 204
    assert budget_alarms_in_cloudwatch() == {}


def test_budget_alarm_names_follow_the_configured_prefix(api, monkeypatch):
    from shared import budget_alarms
    from shared.config import settings

    monkeypatch.setenv("BUDGET_ALARM_PREFIX", "aiusage-prod/budget/")
    settings.cache_clear()
    put_budget(api, "b1", thresholds=[1.0])
    names = [a["AlarmName"] for a in boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]]
    assert names == ["aiusage-prod/budget/b1/100pct"]
    assert budget_alarms.budget_of_alarm("aiusage-prod/budget/b1/100pct") == "b1"
    assert budget_alarms.budget_of_alarm("aiusage-prod-daily-cost") is None
    assert budget_alarms.budget_of_alarm("aiusage-prod/budget/b1/100pct/extra") is None


def test_a_delete_that_failed_at_the_alarms_is_finished_by_repeating_it(api, monkeypatch):
    from shared import budget_alarms

    put_budget(api, "flaky", thresholds=[0.5, 1.0])
    real_remove = budget_alarms.remove

    def unavailable(budget_id):
        raise ConnectionError("CloudWatch unreachable")

    monkeypatch.setattr(budget_alarms, "remove", unavailable)
    assert api.delete("/budgets/flaky").status == 500  # the budget is gone, its alarms are not
    assert len(budget_alarms_in_cloudwatch()) == 2
    monkeypatch.setattr(budget_alarms, "remove", real_remove)
    assert api.delete("/budgets/flaky").status == 404
    assert budget_alarms_in_cloudwatch() == {}
