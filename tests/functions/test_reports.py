"""Report routes through the API: generate, store, serve, list, validate, scopes (SPEC 7).

The report numbers on a fixed data set are in test_reports_numbers.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def generate(api, kind, period):
    answer = api.post("/reports", {"kind": kind, "period": period})
    assert answer.status == 200, answer
    return answer.json()


def record(api, events):
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200, answer


def event(event_id, cost, **extra):
    return {"event_id": event_id, "timestamp": "2026-11-15T10:30:00Z", "service": "openai", "model": "gpt-4o",
            "input_tokens": 10, "output_tokens": 1, "cost_usd": cost, **extra}


def test_regenerating_replaces_the_report_and_reads_cells_not_events(api):
    attributed = {"user_id": "alice", "job_id": "job-7", "github": {"repository": "acme/web", "pr_number": 1}}
    record(api, [event("r-1", 1.25, **attributed), event("r-2", 0.5)])
    first = generate(api, "daily", "2026-11-15")
    assert (first["totals"]["total_cost_usd"], first["totals"]["events"]) == (1.75, 2)
    record(api, [event(f"late-{i}", 0.003, **attributed) for i in range(60)])
    again = generate(api, "daily", "2026-11-15")
    assert (again["totals"]["total_cost_usd"], again["totals"]["events"]) == (1.93, 62)  # 1.75 + 60 x 0.003
    assert [(e["user"], e["cost_usd"], e["events"]) for e in again["top_users"]] == [("alice", 1.43, 61)]
    assert [(e["job"], e["cost_usd"]) for e in again["top_jobs"]] == [("job-7", 1.43)]
    assert again["stats"] == first["stats"]  # 60 more events, not one more item read: cells, not events
    assert api.get("/reports/daily/2026-11-15").json()["totals"]["total_cost_usd"] == 1.93
    assert [r["period"] for r in api.get("/reports", kind="daily").json()["reports"]] == ["2026-11-15"]


BAD_BODIES = [
    ({"kind": "hourly", "period": "2026-11-15"}, ["body", "kind"]),
    ({"period": "2026-11-15"}, ["body", "kind"]),
    ({"kind": "daily", "period": "2026-11-31"}, ["body", "period"]),
    ({"kind": "daily", "period": "2026-W46"}, ["body", "period"]),
    ({"kind": "weekly", "period": "2025-W53"}, ["body", "period"]),
    ({"kind": "monthly", "period": "2026-13"}, ["body", "period"]),
    ({"kind": "monthly", "period": 202611}, ["body", "period"]),
    ({"kind": "daily", "period": "2026-11-15", "format": "md"}, ["body", "format"]),
    (["daily", "2026-11-15"], ["body"]),
]


def test_bad_kind_or_period_is_a_400_naming_the_field_and_stores_nothing(api):
    for body, loc in BAD_BODIES:
        answer = api.post("/reports", body)
        assert answer.status == 400, (body, answer)
        error = answer.json()["error"]
        assert error["code"] == "validation_error" and error["details"][0]["loc"] == loc, (body, error)
    assert api.get("/reports").json() == {"reports": []}


def test_future_current_and_default_periods(api):
    today = datetime.now(UTC).date()
    # Not started yet: 400 naming the period.
    answer = api.post("/reports", {"kind": "daily", "period": (today + timedelta(days=1)).isoformat()})
    assert answer.status == 400 and answer.json()["error"]["details"][0]["loc"] == ["body", "period"]
    next_month = (today.replace(day=28) + timedelta(days=5)).strftime("%Y-%m")
    assert api.post("/reports", {"kind": "monthly", "period": next_month}).status == 400
    # Under way: generated, and said to be partial.
    current = generate(api, "daily", today.isoformat())
    assert current["complete"] is False and current["totals"]["events"] == 0
    assert "partial" in api.get(f"/reports/daily/{today.isoformat()}", format="markdown").text
    # No period: the last complete one, as the schedule would.
    default = generate(api, "weekly", None)
    last_monday = today - timedelta(days=today.weekday() + 7)
    assert (default["start_date"], default["complete"]) == (last_monday.isoformat(), True)


def test_path_and_query_parameters_are_validated(api):
    assert api.get("/reports/yearly/2026").json()["error"]["details"][0]["loc"] == ["path", "kind"]
    assert api.get("/reports/daily/2026-11").json()["error"]["details"][0]["loc"] == ["path", "period"]
    assert api.get("/reports", kind="hourly").json()["error"]["details"][0]["loc"] == ["query", "kind"]
    assert api.get("/reports", limit="0").json()["error"]["details"][0]["loc"] == ["query", "limit"]
    assert api.get("/reports/daily/2026-11-15", format="pdf").json()["error"]["details"][0]["loc"] == [
        "query",
        "format",
    ]


def test_reading_needs_usage_read_and_generating_needs_admin(api, key_with):
    generate(api, "daily", "2026-11-15")
    reader = key_with("usage:read")
    assert api.call("GET", "/reports", key=reader).status == 200
    assert api.call("GET", "/reports/daily/2026-11-15", key=reader).json()["totals"]["events"] == 0
    denied = api.call("POST", "/reports", body={"kind": "daily", "period": "2026-11-15"}, key=reader)
    assert denied.status == 403 and denied.json()["error"]["code"] == "forbidden"
    assert api.call("GET", "/reports", key=None).status == 401


def test_a_past_report_shows_each_budget_in_its_period_then_and_only_budgets_that_existed(api):
    from shared import budgets
    from tests.support.aggregation import drain

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = today - timedelta(days=3)
    budgets.put_budget("openai-daily", {"scope": {"service": "openai"}, "period": "daily", "limit_usd": 10},
                       "test", now=day - timedelta(days=1))
    budgets.put_budget("lifetime", {"name": "Lifetime", "period": "total", "limit_usd": 100}, "test",
                       now=day - timedelta(days=1))
    stamp = "%Y-%m-%dT12:00:00Z"
    record(api, [{**event("p-1", 3), "timestamp": day.strftime(stamp)},
                 {**event("p-2", 5), "timestamp": (day + timedelta(days=1)).strftime(stamp)}])
    budgets.put_budget("created-later", {"period": "monthly", "limit_usd": 50}, "test")
    drain()

    report = generate(api, "daily", day.date().isoformat())
    by_id = {b["budget_id"]: b for b in report["budgets"]}
    assert set(by_id) == {"openai-daily", "lifetime"}  # created-later did not exist when the day ended
    daily = by_id["openai-daily"]
    assert (daily["period_start"][:10], daily["period_end"][:10]) == (day.date().isoformat(),
                                                                      (day + timedelta(days=1)).date().isoformat())
    assert (daily["spent_usd"], daily["utilization"], daily["state"]) == (3.0, 0.3, "ok")
    assert by_id["lifetime"]["period_end"] is None and by_id["lifetime"]["spent_usd"] == 8.0  # never resets
    markdown = api.get(f"/reports/daily/{day.date().isoformat()}", format="markdown").text
    assert "| Lifetime | ok | 8.0% | $8.00 | $100.00 | all time |" in markdown
    assert "1970" not in markdown
    assert f"| openai-daily | ok | 30.0% | $3.00 | $10.00 | {day.date()} to {(day + timedelta(days=1)).date()} |" \
        in markdown
