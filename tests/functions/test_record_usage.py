"""POST /ai_usage through the authorizer and API handler, against moto (SPEC 4)."""

import json
from decimal import Decimal

import pytest

from tests.conftest import fixture_json


def totals(api, **query):
    answer = api.get("/ai_usage", start_date="2026-11-01", end_date="2026-11-30", **query)
    assert answer.status == 200, answer
    return answer.json()


EVENT = {"event_id": "e-1", "timestamp": "2026-11-21T09:30:00Z", "service": "openai", "model": "gpt-4o",
         "input_tokens": 1117, "cache_read_tokens": 1024, "output_tokens": 46}


def test_single_event_is_priced_and_stored(api):
    answer = api.post("/ai_usage", EVENT)
    assert answer.status == 200, answer
    body = answer.json()
    received_at = body.pop("received_at")
    assert body == {"accepted": 1, "duplicates": 0, "conflicts": 0, "results": [
        {"event_id": "e-1", "status": "created", "cost_usd": 0.001973, "cost_source": "computed"}]}
    assert received_at.endswith("Z") and received_at[:4] >= "2026"  # when it was written: totals count it from there
    summary = totals(api)["summary"]
    assert summary["total_cost_usd"] == 0.001973  # 0.0019725 rounded half-up once, at the edge
    assert (summary["input_tokens"], summary["cache_read_tokens"], summary["output_tokens"]) == (1117, 1024, 46)
    assert (summary["events"], summary["total_api_calls"], summary["unpriced_events"]) == (1, 1, 0)


def test_same_event_again_is_a_duplicate_and_changes_no_total(api):
    api.post("/ai_usage", EVENT)
    again = api.post("/ai_usage", EVENT).json()
    assert again["duplicates"] == 1 and again["accepted"] == 0
    assert again["results"][0]["status"] == "duplicate"
    assert totals(api)["summary"]["events"] == 1


def test_same_id_with_other_content_is_a_conflict_and_the_stored_event_wins(api):
    api.post("/ai_usage", EVENT)
    changed = api.post("/ai_usage", {**EVENT, "output_tokens": 999}).json()
    assert changed["results"][0]["status"] == "conflict"
    assert changed["results"][0]["cost_usd"] == 0.001973
    summary = totals(api)["summary"]
    assert (summary["events"], summary["output_tokens"]) == (1, 46)


def test_a_retry_without_timestamp_is_still_a_duplicate(api):
    event = {"event_id": "no-ts", "service": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1}
    api.post("/ai_usage", event)
    assert api.post("/ai_usage", event).json()["results"][0]["status"] == "duplicate"


def test_batch_with_repeats_inside_counts_each_id_once(api):
    events = [{**EVENT, "event_id": f"b-{i}"} for i in range(5)]
    body = {"events": events + [events[0], {**events[1], "output_tokens": 1}]}
    answer = api.post("/ai_usage", body).json()
    assert [r["status"] for r in answer["results"]] == ["created"] * 5 + ["duplicate", "conflict"]
    assert (answer["accepted"], answer["duplicates"], answer["conflicts"]) == (5, 1, 1)
    summary = totals(api)["summary"]
    assert summary["events"] == 5
    assert summary["output_tokens"] == 5 * 46


def test_exact_decimal_totals_over_many_events(api):
    # 0.1 reported ten times sums to exactly 1, and 3 x 0.0000005 rounds half-up once.
    events = [{"event_id": f"r-{i}", "timestamp": "2026-11-21T10:00:00Z", "service": "openai", "model": "gpt-4o",
               "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.1} for i in range(10)]
    events += [{"event_id": f"m-{i}", "timestamp": "2026-11-22T10:00:00Z", "service": "openai", "model": "gpt-4o",
                "input_tokens": 1, "output_tokens": 0, "cost_usd": 0.0000005} for i in range(3)]
    api.post("/ai_usage", {"events": events})
    answer = totals(api, aggregation="day")
    assert answer["aggregations"]["by_day"]["2026-11-21"]["cost_usd"] == 1.0
    assert answer["aggregations"]["by_day"]["2026-11-22"]["cost_usd"] == 0.000002  # 0.0000015 -> half-up
    assert answer["summary"]["total_cost_usd"] == 1.000002


def test_one_bad_event_rejects_the_whole_batch_and_names_the_field(api):
    events = [dict(EVENT, event_id=f"v-{i}") for i in range(5)]
    events[3]["input_tokens"] = -5
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert {"loc": ["events", 3, "input_tokens"], "msg": "Input should be greater than or equal to 0"} in error[
        "details"
    ]
    assert totals(api)["summary"]["events"] == 0


@pytest.mark.parametrize("patch, loc", [
    ({"colour": "red"}, ["colour"]),
    ({"cache_read_tokens": 5000}, ["cache_read_tokens"]),
    ({"reasoning_tokens": 47}, ["reasoning_tokens"]),
    ({"timestamp": "2999-01-01T00:00:00Z"}, ["timestamp"]),
    ({"timestamp": "2026-11-21 09:30"}, ["timestamp"]),
    ({"service": "Bad Service!"}, ["service"]),
    ({"event_id": "has space"}, ["event_id"]),
    ({"tags": {f"k{i}": "v" for i in range(21)}}, ["tags"]),
    ({"metadata": {"blob": "x" * 5000}}, ["metadata"]),
    ({"status": "maybe"}, ["status"]),
    ({"service_tier": "gold"}, ["service_tier"]),
    ({"usage": {"prompt_tokens": 1}}, ["input_tokens"]),
    ({"model": None}, ["model"]),
])
def test_invalid_fields_are_400_naming_the_field(api, patch, loc):
    event = {k: v for k, v in {**EVENT, **patch}.items() if v is not None}
    answer = api.post("/ai_usage", event)
    assert answer.status == 400, answer
    assert loc in [d["loc"][:len(loc)] for d in answer.json()["error"]["details"]], answer.json()


def test_upper_case_service_is_lowered(api):
    api.post("/ai_usage", {**EVENT, "service": "OpenAI"})
    assert list(totals(api, aggregation="service")["aggregations"]["by_service"]) == ["openai"]


@pytest.mark.parametrize("fixture, service, path, expected", [
    ("usage-openai-chat.json", "openai", ["usage"], (1117, 1024, 0, 46, 0.001973)),
    ("usage-anthropic.json", "anthropic", ["usage"], (188107, 0, 188086, 393, 0.721281)),
    ("usage-gemini.json", "google", ["usageMetadata"], (1250, 1024, 0, 592, 0.006331)),
    ("usage-bedrock-converse.json", "bedrock", ["usage"], (156126, 150000, 6111, 395, None)),
])
def test_provider_usage_objects_are_normalised_server_side(api, fixture, service, path, expected):
    payload = fixture_json(fixture)
    usage = payload
    for p in path:
        usage = usage[p]
    model = payload.get("model") or payload.get("modelVersion") or "anthropic.claude-3-5-sonnet-20241022-v2:0"
    answer = api.post("/ai_usage", {"event_id": "u", "timestamp": "2026-11-21T09:30:00Z", "service": service,
                                    "model": model, "usage": usage})
    assert answer.status == 200, answer
    event = api.get("/ai_usage/events", start_date="2026-11-21", end_date="2026-11-21").json()["events"][0]
    got = (event["input_tokens"], event["cache_read_tokens"], event["cache_write_tokens"], event["output_tokens"])
    assert got == expected[:4]
    if expected[4] is not None:
        assert event["cost_usd"] == expected[4]
    assert event["cost_source"] == "computed"


def test_claude_code_result_becomes_one_event_per_model(api):
    result = fixture_json("claude-code-execution.json")[-1]
    answer = api.post(
        "/ai_usage",
        {
            "event_id": "gh:octo-org/octo-repo:1:1:review:s1",
            "timestamp": "2026-11-21T09:30:00Z",
            "service": "anthropic",
            "claude_code_result": result,
            "github": {"repository": "octo-org/octo-repo", "pr_number": 123},
        },
    )
    assert answer.status == 200, answer
    results = answer.json()["results"]
    assert [(r["event_id"], r["cost_usd"], r["cost_source"]) for r in results] == [
        ("gh:octo-org/octo-repo:1:1:review:s1:claude-sonnet-4-5", 0.254744, "reported"),
        ("gh:octo-org/octo-repo:1:1:review:s1:claude-haiku-4-5", 0.00385, "reported"),
    ]
    events = api.get("/ai_usage/events", start_date="2026-11-21", end_date="2026-11-21").json()["events"]
    sonnet = next(e for e in events if e["model"] == "claude-sonnet-4-5")
    assert sonnet["operation"] == "code_review"
    assert sonnet["input_tokens"] == 12 + 198400 + 41210
    assert sonnet["metadata"] == {"session_id": "3f1c2a9e-7b41-4c0e-9d2a-5e8f10b6c7d4", "num_turns": 7,
                                  "duration_ms": 74120, "subtype": "success", "is_error": False}
    assert sonnet["list_cost_usd"] > 0
    assert totals(api)["summary"]["total_cost_usd"] == round(0.2547435 + 0.00385, 6)


def test_failed_claude_code_run_is_recorded_as_error_with_its_cost(api):
    result = fixture_json("claude-code-result-error.json")
    answer = api.post(
        "/ai_usage", {"event_id": "run-9", "timestamp": "2026-11-21T09:30:00Z", "claude_code_result": result}
    )
    assert answer.json()["results"][0]["cost_usd"] == 1.04711
    event = api.get("/ai_usage/events", start_date="2026-11-21", end_date="2026-11-21").json()["events"][0]
    assert (event["service"], event["status"], event["error"]) == (
        "anthropic",
        "error",
        "Reached maximum number of turns (30)",
    )


def test_per_request_operation_needs_no_model(api):
    answer = api.post("/ai_usage", {"timestamp": "2026-11-21T09:30:00Z", "service": "google_places",
                                    "operation": "place_details", "requests": 3})
    assert answer.json()["results"][0]["cost_usd"] == 0.051
    summary = totals(api)["summary"]
    assert (summary["total_api_calls"], summary["events"]) == (3, 1)


def test_unpriced_event_is_counted_as_such(api):
    answer = api.post("/ai_usage", {"event_id": "x", "timestamp": "2026-11-21T09:30:00Z", "service": "acme-llm",
                                    "model": "acme-large-2", "input_tokens": 10, "output_tokens": 5})
    assert answer.json()["results"][0] == {
        "event_id": "x",
        "status": "created",
        "cost_usd": 0.0,
        "cost_source": "unpriced",
    }
    assert totals(api)["summary"]["unpriced_events"] == 1


def test_body_limits_and_json_strictness(api):
    big = {"events": [{**EVENT, "event_id": f"big-{i}", "metadata": {"pad": "x" * 3000}} for i in range(400)]}
    assert api.post("/ai_usage", big).status == 413
    assert api.post("/ai_usage", {"events": [{**EVENT, "event_id": f"n-{i}"} for i in range(1001)]}).status == 400
    assert api.post("/ai_usage", {"events": []}).status == 400
    dup = b'{"service": "openai", "service": "anthropic", "model": "m", "input_tokens": 1}'
    answer = api.call("POST", "/ai_usage", raw=dup, headers={"content-type": "application/json"})
    assert answer.status == 400 and answer.json()["error"]["details"][0]["loc"] == ["service"]
    assert api.call("POST", "/ai_usage", raw=b"\xff\xfe{}", headers={"content-type": "application/json"}).status == 400
    assert api.call("POST", "/ai_usage", raw=b"not json", headers={"content-type": "application/json"}).status == 400
    assert (
        api.call("POST", "/ai_usage", raw=json.dumps(EVENT).encode(), headers={"content-type": "text/plain"}).status
        == 415
    )
    assert api.call("POST", "/ai_usage", raw=b"[1, 2]", headers={"content-type": "application/json"}).status == 400
    assert totals(api)["summary"]["events"] == 0


def test_a_full_batch_of_1000_events_is_one_request(api):
    events = [{**EVENT, "event_id": f"k-{i}", "user_id": f"u{i % 7}"} for i in range(1000)]
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200 and answer.json()["accepted"] == 1000
    summary = totals(api)["summary"]
    assert summary["events"] == 1000
    assert Decimal(str(summary["total_cost_usd"])) == Decimal("1.9725")
