"""Report numbers against hand-computed sums on a fixed data set recorded through the API (SPEC 7).

The data set (tests/fixtures/report-usage.json, described there) is recorded once for this module:
recording it through the API costs seconds in moto, and these tests only read it and generate reports.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.conftest import FIXTURES, TEST_ENV, TEST_TOPIC, Api, fixture_json

SNAPSHOT = FIXTURES / "report-daily-2026-11-15.md"
D = Decimal


def usage_events():
    return fixture_json("report-usage.json")["events"]


@pytest.fixture(scope="module")
def recorded() -> Iterator[Api]:
    """The `aws` + `api` fixtures of tests/conftest.py, once per module, with the data set recorded."""
    from aiusage.local.aws import local_aws
    from shared.keys import create_key

    with pytest.MonkeyPatch.context() as patch, local_aws(TEST_ENV, topic=TEST_TOPIC, patch=patch):
        api = Api(create_key("test admin", ["admin"])["key"])
        answer = api.post("/ai_usage", {"events": usage_events()})
        assert answer.status == 200 and answer.json()["accepted"] == len(usage_events()), answer
        yield api


def generate(api, kind, period):
    answer = api.post("/reports", {"kind": kind, "period": period})
    assert answer.status == 200, answer
    return answer.json()


def pstdev_usd(values):
    return float(statistics.pstdev(values).quantize(D("0.000001")))


def sigma3_usd(values):
    return float((statistics.mean(values) + 3 * statistics.pstdev(values)).quantize(D("0.000001")))


def test_daily_report_numbers_budgets_change_forecast_and_anomalies(recorded):
    created = recorded.put("/budgets/all-monthly", {"name": "All monthly", "scope": {}, "period": "monthly",
                                                     "limit_usd": 100})
    r = generate(recorded, "daily", "2026-11-15")
    assert (r["kind"], r["period"], r["start_date"], r["end_date"], r["complete"]) == (
        "daily", "2026-11-15", "2026-11-15", "2026-11-15", True)
    t = r["totals"]
    # 5.00 + 0.50 + 0.30 + 0.02
    assert (t["total_cost_usd"], t["events"], t["total_api_calls"], t["input_tokens"], t["output_tokens"]) == (
        5.82, 4, 4, 4000, 400)
    assert [(e["service"], e["cost_usd"], e["events"]) for e in r["by_service"]] == [
        ("openai", 5.02, 2), ("anthropic", 0.5, 1), ("google", 0.3, 1)]
    assert [(e["model"], e["cost_usd"]) for e in r["by_model"]] == [
        ("gpt-4o", 5.0), ("claude-haiku-4-5", 0.5), ("gemini-2.5-flash", 0.3), ("text-embedding-3-small", 0.02)]
    assert [(e["operation"], e["cost_usd"]) for e in r["by_operation"]] == [("completion", 5.8), ("embedding", 0.02)]
    # The unattributed embedding ($0.02) is in the totals but in no top list.
    assert [(e["user"], e["cost_usd"]) for e in r["top_users"]] == [("alice", 5.0), ("bob", 0.5), ("carol", 0.3)]
    assert [(e["job"], e["cost_usd"]) for e in r["top_jobs"]] == [("job-7", 5.0), ("job-8", 0.5)]
    assert [(e["repository"], e["cost_usd"]) for e in r["top_repositories"]] == [("acme/web", 5.0), ("acme/api", 0.5)]

    # 2026-11-14: openai 1.20 + anthropic 0.50 + google 0.10 = 1.80; (5.82 - 1.80) / 1.80 = +223.33 %
    assert r["change"] == {"previous_period": "2026-11-14", "previous_cost_usd": 1.8, "cost_usd": 5.82,
                           "change_usd": 4.02, "change_percent": 223.33}
    # November to date: 14 days of 1.5 / 1.7 alternating plus google 0.10 x 3 (= 22.70), plus the 15th (5.82).
    assert r["forecast"] == {"month": "2026-11", "month_to_date_usd": 28.52, "days_elapsed": 15, "days_in_month": 30,
                             "remaining_days": 15, "daily_average_usd": 1.901333, "forecast_usd": 57.04}

    day_history = [D("1.5") if d % 2 else D("1.7") for d in range(1, 12)] + [D("1.8"), D("1.6"), D("1.8")]
    google_history = [D(0)] * 11 + [D("0.1")] * 3
    assert r["anomalies"] == [
        {"day": "2026-11-15", "scope": "day", "service": None, "cost_usd": 5.82,
         "mean_usd": 1.621429, "stddev_usd": pstdev_usd(day_history), "threshold_usd": sigma3_usd(day_history),
         "history_days": 14, "rule": "over_3_stddev"},
        {"day": "2026-11-15", "scope": "service", "service": "google", "cost_usd": 0.3,
         "mean_usd": 0.021429, "stddev_usd": pstdev_usd(google_history), "threshold_usd": sigma3_usd(google_history),
         "history_days": 14, "rule": "over_3_stddev"},
        # openai: 1.00 / 1.20 alternating, mean 1.10, standard deviation 0.10
        {"day": "2026-11-15", "scope": "service", "service": "openai", "cost_usd": 5.02,
         "mean_usd": 1.1, "stddev_usd": 0.1, "threshold_usd": 1.4, "history_days": 14, "rule": "over_3_stddev"},
    ]  # anthropic spent its usual 0.50 (a constant history): no anomaly

    # The budget created above (today) did not exist when 2026-11-15 ended, so it counted nothing then and
    # is not listed; tests/functions/test_reports.py has budgets in a past report.
    assert created.status == 201 and r["budgets"] == []


def test_weekly_and_monthly_reports_changes_and_both_anomaly_rules(recorded):
    r = generate(recorded, "weekly", "2026-W46")
    assert (r["start_date"], r["end_date"]) == ("2026-11-09", "2026-11-15")
    # 9..15: 1.5 + 1.7 + 1.5 + 1.8 + 1.6 + 1.8 + 5.82 = 15.72; W45 (2..8): 1.7 x 4 + 1.5 x 3 = 11.30
    assert r["totals"]["total_cost_usd"] == 15.72
    assert r["change"]["previous_period"] == "2026-W45"
    assert (r["change"]["previous_cost_usd"], r["change"]["change_percent"]) == (11.3, 39.12)
    # google's first days after 11 quiet ones are anomalies too; the 14th is within 3 sigma of its history.
    assert [(a["day"], a["scope"], a["service"], a["rule"]) for a in r["anomalies"]] == [
        ("2026-11-12", "service", "google", "over_3_stddev"),
        ("2026-11-13", "service", "google", "over_3_stddev"),
        ("2026-11-15", "day", None, "over_3_stddev"),
        ("2026-11-15", "service", "google", "over_3_stddev"),
        ("2026-11-15", "service", "openai", "over_3_stddev"),
    ]
    assert r["anomalies"][0]["history_days"] == 11  # the ledger starts on 11-01

    r = generate(recorded, "monthly", "2026-10")
    assert (r["start_date"], r["end_date"], r["totals"]["total_cost_usd"]) == ("2026-10-01", "2026-10-31", 6.0)
    assert r["change"] == {"previous_period": "2026-09", "previous_cost_usd": 0.0, "cost_usd": 6.0,
                           "change_usd": 6.0, "change_percent": None}
    # October 4 (3.00) after three days of 1.00: short history, so "over twice the mean" (2.00).
    assert r["anomalies"] == [
        {"day": "2026-10-04", "scope": "day", "service": None, "cost_usd": 3.0, "mean_usd": 1.0, "stddev_usd": 0.0,
         "threshold_usd": 2.0, "history_days": 3, "rule": "over_twice_mean"},
        {"day": "2026-10-04", "scope": "service", "service": "openai", "cost_usd": 3.0, "mean_usd": 1.0,
         "stddev_usd": 0.0, "threshold_usd": 2.0, "history_days": 3, "rule": "over_twice_mean"},
    ]
    # A whole month: the forecast is what was spent.
    assert r["forecast"] == {"month": "2026-10", "month_to_date_usd": 6.0, "days_elapsed": 31, "days_in_month": 31,
                             "remaining_days": 0, "daily_average_usd": 0.193548, "forecast_usd": 6.0}


def test_markdown_snapshot_and_stored_reports_served_and_listed(recorded, monkeypatch):
    from shared import budgets, reports

    monkeypatch.setattr(budgets, "all_statuses", lambda now=None: [{"created_at": "2026-11-01T00:00:00.000000Z",
        "budget_id": "all-monthly", "name": "All monthly", "utilization": 0.8052, "state": "warning",
        "spent_usd": 80.52, "limit_usd": 100.0, "period_start": "2026-11-01T00:00:00+00:00",
        "period_end": "2026-12-01T00:00:00+00:00", "burn_rate_usd_per_day": 5.1}])
    report = reports.build_report(reports.parse_period("daily", "2026-11-15"),
                                  now=datetime(2026, 11, 16, 6, 0, tzinfo=UTC))
    text = reports.report_markdown(report)
    assert text == SNAPSHOT.read_text(), f"Markdown changed; if intended, update {SNAPSHOT.name}:\n{text}"
    assert reports.report_json(report)["budgets"] == [{
        "budget_id": "all-monthly", "name": "All monthly", "utilization": 0.8052, "state": "warning",
        "spent_usd": 80.52, "limit_usd": 100.0, "period_start": "2026-11-01T00:00:00+00:00",
        "period_end": "2026-12-01T00:00:00+00:00"}]

    # Stored and served: JSON, Markdown, and listed newest first.
    monkeypatch.undo()
    daily = generate(recorded, "daily", "2026-11-15")
    generate(recorded, "daily", "2026-11-14")
    generate(recorded, "weekly", "2026-W46")
    generate(recorded, "monthly", "2026-10")
    got = recorded.get("/reports/daily/2026-11-15")
    assert got.status == 200 and got.json() == daily
    md = recorded.get("/reports/daily/2026-11-15", format="markdown")
    assert md.status == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# aiusage daily report: 2026-11-15\n")
    assert "| Total cost | $5.82 |" in md.text
    listed = recorded.get("/reports").json()["reports"]
    assert [(r["kind"], r["period"], r["total_cost_usd"]) for r in listed] == [
        ("daily", "2026-11-15", 5.82), ("weekly", "2026-W46", 15.72), ("daily", "2026-11-14", 1.8),
        ("monthly", "2026-10", 6.0)]
    assert [r["period"] for r in recorded.get("/reports", kind="daily", limit="1").json()["reports"]] == ["2026-11-15"]
    assert recorded.get("/reports/weekly/2026-W45").status == 404
