"""GET /ai_usage and GET /ai_usage/events: cells, breakdowns, rows, CSV, stats, pagination (SPEC 5)."""

import csv
import io
from decimal import Decimal

import pytest

from shared.query import MAX_RAW_EVENTS  # noqa: F401  (documented limit of raw-event views)


def post(api, events):
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200, answer
    return answer.json()


def ev(i, ts, service="openai", model="gpt-4o-mini", operation="completion", cost="0.001", **kw):
    return {"event_id": f"q-{i}", "timestamp": ts, "service": service, "model": model, "operation": operation,
            "input_tokens": 100, "output_tokens": 10, "cost_usd": float(cost), **kw}


@pytest.fixture
def data(api):
    events = [
        ev(1, "2026-11-10T08:15:00Z", user_id="alice", project="search"),
        ev(2, "2026-11-10T08:45:00Z", user_id="bob", cost="0.002"),
        ev(3, "2026-11-10T23:59:59Z", service="anthropic", model="claude-haiku-4-5", cost="0.01", user_id="alice",
           job_id="job-1", github={"repository": "acme/web", "pr_number": 7}),
        ev(4, "2026-11-11T00:00:00Z", service="anthropic", model="claude-haiku-4-5", cost="0.02", job_id="job-1",
           batch_id="b-1", requests=3),
        ev(5, "2026-11-16T12:00:00Z", operation="embedding", model="text-embedding-3-small", cost="0.00025",
           project="search", github={"repository": "acme/api", "pr_number": 8}),
    ]
    post(api, events)
    return events


def get(api, **query):
    answer = api.get("/ai_usage", start_date="2026-11-01", end_date="2026-11-30", **query)
    assert answer.status == 200, answer
    return answer.json()


def test_summary_and_default_day_breakdown(api, data):
    answer = get(api)
    s = answer["summary"]
    assert s["total_cost_usd"] == 0.03325
    assert (s["events"], s["total_api_calls"], s["input_tokens"], s["output_tokens"], s["total_tokens"]) == (
        5,
        7,
        500,
        50,
        550,
    )
    assert s["average_cost_per_call"] == 0.00475
    assert s["date_range"] == {"start": "2026-11-01", "end": "2026-11-30"}
    assert answer["aggregations"]["by_day"] == {
        "2026-11-10": {
            "cost_usd": 0.013,
            "tokens": 330,
            "input_tokens": 300,
            "output_tokens": 30,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "api_calls": 3,
            "events": 3,
            "unpriced_events": 0,
        },
        "2026-11-11": {
            "cost_usd": 0.02,
            "tokens": 110,
            "input_tokens": 100,
            "output_tokens": 10,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "api_calls": 3,
            "events": 1,
            "unpriced_events": 0,
        },
        "2026-11-16": {
            "cost_usd": 0.00025,
            "tokens": 110,
            "input_tokens": 100,
            "output_tokens": 10,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "api_calls": 1,
            "events": 1,
            "unpriced_events": 0,
        },
    }
    assert answer["query"] == {"start_date": "2026-11-01", "end_date": "2026-11-30", "aggregation": ["day"],
                               "group_by": [], "filters": {}}


def test_time_buckets_hour_week_month(api, data):
    aggs = get(api, aggregation="hour,week,month")["aggregations"]
    assert aggs["by_hour"]["2026-11-10T08"]["events"] == 2
    assert aggs["by_hour"]["2026-11-10T23"]["cost_usd"] == 0.01
    assert aggs["by_hour"]["2026-11-11T00"]["cost_usd"] == 0.02
    # ISO weeks start on Monday: 2026-11-10 (Tue) and 11-11 are W46, 11-16 (Mon) is W47.
    assert {k: v["events"] for k, v in aggs["by_week"].items()} == {"2026-W46": 4, "2026-W47": 1}
    assert aggs["by_month"]["2026-11"]["cost_usd"] == 0.03325


def test_service_model_operation_breakdowns_and_rows(api, data):
    answer = get(api, aggregation="service,model,operation", group_by="day,service")
    aggs = answer["aggregations"]
    assert {k: v["cost_usd"] for k, v in aggs["by_service"].items()} == {"anthropic": 0.03, "openai": 0.00325}
    assert set(aggs["by_model"]) == {"gpt-4o-mini", "claude-haiku-4-5", "text-embedding-3-small"}
    assert aggs["by_operation"]["embedding"]["events"] == 1
    assert [(r["day"], r["service"], r["cost_usd"]) for r in answer["rows"]] == [
        ("2026-11-10", "anthropic", 0.01), ("2026-11-10", "openai", 0.003),
        ("2026-11-11", "anthropic", 0.02), ("2026-11-16", "openai", 0.00025)]


def test_user_project_repository_views_from_dimension_cells(api, data):
    aggs = get(api, aggregation="user,project,repository")["aggregations"]
    assert {k: v["events"] for k, v in aggs["by_user"].items()} == {"(none)": 2, "alice": 2, "bob": 1}
    assert aggs["by_user"]["alice"]["cost_usd"] == 0.011
    assert aggs["by_project"]["search"]["cost_usd"] == 0.00125
    assert aggs["by_repository"]["acme/web"]["cost_usd"] == 0.01
    rows = get(api, group_by="day,user")["rows"]
    assert {k: rows[0][k] for k in ("day", "user")} == {"day": "2026-11-10", "user": "alice"}
    only_alice = get(api, user_id="alice", aggregation="day")
    assert only_alice["summary"]["total_cost_usd"] == 0.011
    assert only_alice["summary"]["events"] == 2


def test_filters_on_service_model_operation(api, data):
    s = get(api, service="anthropic")["summary"]
    assert (s["events"], s["total_cost_usd"]) == (2, 0.03)
    s = get(api, service="openai,anthropic", operation="embedding")["summary"]
    assert (s["events"], s["total_cost_usd"]) == (1, 0.00025)
    assert get(api, model="nope")["summary"]["events"] == 0


def test_job_batch_and_pr_views_read_their_events(api, data):
    answer = get(api, job_id="job-1", aggregation="day,job")
    assert answer["summary"]["total_cost_usd"] == 0.03
    assert answer["aggregations"]["by_job"] == {"job-1": answer["aggregations"]["by_day"]["2026-11-10"] | {
        "cost_usd": 0.03, "tokens": 220, "input_tokens": 200, "output_tokens": 20, "api_calls": 4, "events": 2}}
    assert answer["stats"]["items_read"] == 2 + 1  # the job's two events and the stream checkpoint (freshness)
    assert get(api, batch_id="b-1")["summary"]["events"] == 1
    assert get(api, repository="acme/api", pr_number="8")["summary"]["total_cost_usd"] == 0.00025
    assert api.get("/ai_usage", pr_number="8").status == 400


def test_csv_is_the_rows_with_a_header(api, data):
    answer = api.get("/ai_usage", start_date="2026-11-01", end_date="2026-11-30", format="csv", group_by="day,service")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["day"], r["service"], r["cost_usd"]) for r in rows][0] == ("2026-11-10", "anthropic", "0.01")
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("0.03325")
    default = api.get("/ai_usage", start_date="2026-11-01", end_date="2026-11-30", format="csv").text
    assert default.splitlines()[0].startswith("day,cost_usd,")


@pytest.mark.parametrize("query, loc", [
    ({"start_date": "2026-13-01"}, ["query", "start_date"]),
    ({"start_date": "2026-11-30", "end_date": "2026-11-01"}, ["query", "start_date"]),
    ({"start_date": "2025-01-01", "end_date": "2026-11-01"}, ["query", "end_date"]),
    ({"aggregation": "day,colour"}, ["query", "aggregation"]),
    ({"group_by": "weekday"}, ["query", "group_by"]),
    ({"format": "xml"}, ["query", "format"]),
    ({"servce": "openai"}, ["query", "servce"]),
])
def test_bad_parameters_are_400(api, query, loc):
    answer = api.get("/ai_usage", **query)
    assert answer.status == 400
    assert answer.json()["error"]["details"][0]["loc"] == loc


def test_items_read_do_not_grow_with_events(api):
    """The same cells answer for 50 or 500 events: items read stay the same."""
    def stats_after(n, offset):
        events = [ev(offset + i, f"2026-11-{10 + i % 5:02d}T{8 + i % 3:02d}:00:00Z",
                     service=("openai", "anthropic")[i % 2], user_id=f"u{i % 4}") for i in range(n)]
        for start in range(0, n, 1000):
            post(api, events[start:start + 1000])
        return get(api, aggregation="day,service")["stats"]
    small = stats_after(50, 0)
    large = stats_after(450, 1000)
    assert (small["items_read"], small["dynamodb_requests"]) == (large["items_read"], large["dynamodb_requests"])
    # 5 days x 2 (service, model, operation) cells, plus the stream checkpoint that says how fresh they are;
    # one Query per cell shard of the month, and one for the checkpoints.
    assert small["items_read"] == 10 + 1
    assert small["dynamodb_requests"] == 8 + 1


def test_events_newest_first_with_pagination_over_days(api):
    events = [ev(i, f"2026-11-{1 + i % 6:02d}T{i % 24:02d}:00:00Z") for i in range(37)]
    post(api, events)
    seen, token, pages = [], None, 0
    while True:
        query = {"start_date": "2026-11-01", "end_date": "2026-11-30", "limit": "5"}
        if token:
            query["next_token"] = token
        page = api.get("/ai_usage/events", **query).json()
        pages += 1
        seen += [e["timestamp"] + e["event_id"] for e in page["events"]]
        token = page["next_token"]
        if not token:
            break
    assert len(seen) == 37 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    assert pages >= 8
    bad = api.get("/ai_usage/events", next_token="garbage")
    assert bad.status == 400 and bad.json()["error"]["details"][0]["loc"] == ["query", "next_token"]


def test_events_by_service_job_and_pr(api, data):
    by_service = api.get("/ai_usage/events", start_date="2026-11-01", end_date="2026-11-30", service="anthropic").json()
    assert [e["event_id"] for e in by_service["events"]] == ["q-4", "q-3"]
    by_job = api.get("/ai_usage/events", start_date="2026-11-01", end_date="2026-11-30", job_id="job-1").json()
    assert [e["event_id"] for e in by_job["events"]] == ["q-4", "q-3"]
    by_pr = api.get("/ai_usage/events", start_date="2026-11-01", end_date="2026-11-30", repository="acme/web",
                    pr_number="7").json()
    assert [e["event_id"] for e in by_pr["events"]] == ["q-3"]
    assert by_pr["events"][0]["github"] == {"repository": "acme/web", "pr_number": 7}
    assert api.get("/ai_usage/events", service="openai", job_id="job-1").status == 400
    assert api.get("/ai_usage/events", limit="0").status == 400
