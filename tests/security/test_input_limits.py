"""Input limits (SPEC 3-4): every oversized, malformed or out-of-range body is a clear 4xx naming the field,
and writes nothing (totals and the event listing are unchanged)."""

from __future__ import annotations

import json

import pytest

from functions.api.access import ROUTES

DAY = "2026-11-20"
EVENT = {"timestamp": f"{DAY}T09:00:00Z", "service": "openai", "model": "gpt-4o", "input_tokens": 1000,
         "output_tokens": 100}


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def raw(body: str | bytes) -> dict:
    return {"raw": body if isinstance(body, bytes) else body.encode()}


BIG_DIGITS = '{"service": "openai", "model": "m", "input_tokens": ' + "9" * 5000 + "}"
# name -> (request kwargs, status, loc of the first detail, words the message must contain)
CASES = {
    "body over 1 MiB": (
        raw(json.dumps({"events": [{**EVENT, "metadata": {"pad": "x" * 3000}}] * 400})),
        413,
        None,
        "1 MiB",
    ),
    "1001 events": ({"body": {"events": [EVENT] * 1001}}, 400, ["events"], "at most 1000"),
    "no events": ({"body": {"events": []}}, 400, ["events"], "at least 1"),
    "event_id of 129": ({"body": {**EVENT, "event_id": "e" * 129}}, 400, ["event_id"], "pattern"),
    "event_id with a space": ({"body": {**EVENT, "event_id": "a b"}}, 400, ["event_id"], "pattern"),
    "model of 201": ({"body": {**EVENT, "model": "m" * 201}}, 400, ["model"], "at most 200"),
    "user_id of 129": ({"body": {**EVENT, "user_id": "u" * 129}}, 400, ["user_id"], "at most 128"),
    "project of 129": ({"body": {**EVENT, "project": "p" * 129}}, 400, ["project"], "at most 128"),
    "error of 1001": ({"body": {**EVENT, "status": "error", "error": "e" * 1001}}, 400, ["error"], "at most 1000"),
    "tag value of 129": ({"body": {**EVENT, "tags": {"team": "t" * 129}}}, 400, ["tags", "team"], "at most 128"),
    "tag key of 129": ({"body": {**EVENT, "tags": {"k" * 129: "v"}}}, 400, ["tags", "k" * 129, "[key]"], "at most 128"),
    "21 tags": ({"body": {**EVENT, "tags": {f"t{i}": "v" for i in range(21)}}}, 400, ["tags"], "at most 20"),
    "metadata over 4 KiB": ({"body": {**EVENT, "metadata": {"pad": "x" * 4100}}}, 400, ["metadata"], "4096 bytes"),
    "metadata 500 deep": ({"body": {**EVENT, "metadata": nested(500)}}, 400, ["body"], "nested deeper than 64"),
    "metadata 70 deep": ({"body": {**EVENT, "metadata": nested(70)}}, 400, ["body"], "nested deeper than 64"),
    "usage 900 deep": (
        {"body": {"service": "openai", "model": "gpt-4o", "usage": nested(900)}},
        400,
        ["body"],
        "nested",
    ),
    "array 100000 deep": (raw("[" * 100_000 + "]" * 100_000), 400, ["body"], "nested"),
    "non-UTF-8 body": (raw(b'{"service": "openai", "model": "caf\xe9", "input_tokens": 1}'), 400, ["body"], "UTF-8"),
    "invalid JSON": (raw('{"service": "openai",'), 400, ["body"], "invalid JSON"),
    "NaN": (raw('{"service": "openai", "model": "m", "cost_usd": NaN}'), 400, ["body"], "NaN"),
    "5000-digit number": (raw(BIG_DIGITS), 400, ["body"], "too many digits"),
    "duplicate key": (
        raw('{"service": "openai", "model": "m", "input_tokens": 1, "input_tokens": 9}'),
        400,
        ["input_tokens"],
        "duplicate",
    ),
    "nested duplicate key": (
        raw('{"service": "openai", "model": "m", "input_tokens": 1, "tags": {"team": "a", "team": "b"}}'),
        400,
        ["team"],
        "duplicate",
    ),
    "duplicate key in a batch": (
        raw('{"events": [{"service": "openai", "model": "m", "service": "x"}]}'),
        400,
        ["service"],
        "duplicate",
    ),
    "text/plain": (
        {"body": EVENT, "headers": {"content-type": "text/plain"}},
        415,
        ["header", "content-type"],
        "application/json",
    ),
    "form content type": (
        {"body": EVENT, "headers": {"content-type": "application/x-www-form-urlencoded"}},
        415,
        ["header", "content-type"],
        "application/json",
    ),
    "empty body": (raw(b""), 400, ["body"], "required"),
    "a JSON array": ({"body": [EVENT]}, 400, [], "event object"),
    "unknown field": ({"body": {**EVENT, "modle": "x"}}, 400, ["modle"], "Extra inputs"),
    "tokens over 10**15": (
        {"body": {**EVENT, "input_tokens": 10**15 + 1}},
        400,
        ["input_tokens"],
        "less than or equal",
    ),
    "10**40 tokens in a usage object": (
        {"body": {"service": "openai", "model": "gpt-4o", "usage": {"prompt_tokens": 10**40}}},
        400,
        ["usage", "prompt_tokens"],
        "from 0 to",
    ),
    "cost over a billion": ({"body": {**EVENT, "cost_usd": 10**10}}, 400, ["cost_usd"], "less than or equal"),
    "cost with 39 digits": ({"body": {**EVENT, "cost_usd": "0." + "1" * 39}}, 400, ["cost_usd"], "38 digits"),
    "negative tokens": ({"body": {**EVENT, "output_tokens": -1}}, 400, ["output_tokens"], "greater than or equal"),
    "float tokens": (
        raw(json.dumps(EVENT).replace('"input_tokens": 1000', '"input_tokens": 1000.5')),
        400,
        ["input_tokens"],
        "integer",
    ),
    "timestamp before 2000": ({"body": {**EVENT, "timestamp": "1999-12-31T23:59:59Z"}}, 400, ["timestamp"], "2000"),
    "timestamp out of range": (
        {"body": {**EVENT, "timestamp": "0001-01-01T00:00:00+14:00"}},
        400,
        ["timestamp"],
        "range",
    ),
    "timestamp in the future": ({"body": {**EVENT, "timestamp": "2999-01-01T00:00:00Z"}}, 400, ["timestamp"], "future"),
    "cache over input": ({"body": {**EVENT, "cache_read_tokens": 5000}}, 400, ["cache_read_tokens"], "exceed"),
    "one bad event in a batch": (
        {
            "body": {
                "events": [{**EVENT, "event_id": f"ok-{i}"} for i in range(5)]
                + [{**EVENT, "event_id": "bad", "output_tokens": "many"}]
            }
        },
        400,
        ["events", 5, "output_tokens"],
        "integer",
    ),
}


def snapshot(api) -> tuple:
    usage = api.get("/ai_usage", start_date=DAY, end_date=DAY, aggregation="day,service,user")
    events = api.get("/ai_usage/events", start_date=DAY, end_date=DAY, limit=1000)
    assert usage.status == events.status == 200
    answer = usage.json()
    return answer["summary"], answer["aggregations"], [e["event_id"] for e in events.json()["events"]]


@pytest.fixture
def ledger(api):
    assert (
        api.post("/ai_usage", {"events": [{**EVENT, "event_id": "base-1"}, {**EVENT, "event_id": "base-2"}]}).status
        == 200
    )
    return api


@pytest.mark.parametrize("case", list(CASES))
def test_rejected_with_the_field_named_and_nothing_written(ledger, case):
    kwargs, status, loc, words = CASES[case]
    before = snapshot(ledger)
    answer = ledger.call("POST", "/ai_usage", **kwargs)
    assert answer.status == status, answer
    error = answer.json()["error"]
    assert error["code"] == {413: "payload_too_large", 415: "unsupported_media_type"}.get(status, "validation_error")
    if loc is not None:
        first = error["details"][0]
        assert first["loc"][-len(loc):] == loc if loc else first["loc"] == [], error
        assert words.lower() in (first["msg"] + error["message"]).lower(), error
    else:
        assert words in error["message"], error
    assert snapshot(ledger) == before
    assert before[0]["events"] == 2


def test_just_within_the_limits_is_accepted(ledger):
    fits = {**EVENT, "event_id": "e" * 128, "model": "m" * 200, "user_id": "u" * 128, "status": "error",
            "error": "e" * 1000, "tags": {f"t{i:02d}" + "k" * 124: "v" * 128 for i in range(20)},
            "metadata": nested(62), "input_tokens": 10**15, "cost_usd": "1000000000"}
    answer = ledger.post("/ai_usage", fits)
    assert answer.status == 200, answer
    assert answer.json()["results"][0] == {"event_id": "e" * 128, "status": "created", "cost_usd": 1e9,
                                           "cost_source": "reported"}
    batch = {"events": [{**EVENT, "event_id": f"n-{i}"} for i in range(1000)]}
    assert ledger.post("/ai_usage", batch).json()["accepted"] == 1000
    assert snapshot(ledger)[0]["events"] == 2 + 1 + 1000


BODY_ROUTES = sorted(route for route in ROUTES if route.split()[0] in ("POST", "PUT")
                     and route != "POST /budgets/{budget_id}/reset")
PATHS = {
    "PUT /prices/{service}/{model_or_operation}": "/prices/openai/gpt-4o",
    "PUT /budgets/{budget_id}": "/budgets/b1",
}


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_every_body_route_reads_bodies_strictly(api, route):
    """413, UTF-8, content type, duplicate keys and depth are checked before any route looks at the body."""
    method, path = route.split(" ", 1)
    path = PATHS.get(route, path)
    probes = [
        (b"{" + b'"a": "' + b"x" * (1024 * 1024) + b'"}', None, 413, "payload_too_large"),
        (b'{"name": "caf\xe9"}', None, 400, "validation_error"),
        (b'{"name": "a", "name": "b"}', None, 400, "validation_error"),
        (json.dumps(nested(65)).encode(), None, 400, "validation_error"),
        (b'{"name": "a"}', "text/csv", 415, "unsupported_media_type"),
    ]
    for body, content_type, status, code in probes:
        answer = api.call(method, path, raw=body, headers={"content-type": content_type or "application/json"})
        assert (answer.status, answer.json()["error"]["code"]) == (status, code), (route, body[:40], answer)
    assert api.get("/budgets").json()["budgets"] == [] and api.get("/prices").json()["overrides"] == []


LONG = "x" * 10_000
# (path, parameter, value, words in the message): query values are bounded like the stored values they match.
QUERY_CASES = [
    ("/ai_usage", "service", LONG, "a service name"),
    ("/ai_usage", "service", "open ai", "a service name"),
    ("/ai_usage", "model", "m" * 201, "at most 200"),
    ("/ai_usage", "operation", LONG, "an operation name"),
    ("/ai_usage", "user_id", "u" * 129, "at most 128"),
    ("/ai_usage", "project", LONG, "at most 128"),
    ("/ai_usage", "job_id", LONG, "at most 128"),
    ("/ai_usage", "batch_id", LONG, "at most 128"),
    ("/ai_usage", "repository", "r/" + "x" * 199, "at most 200"),
    ("/ai_usage", "pr_number", "1" * 17, "a pull request number"),
    ("/ai_usage", "service", ",".join(f"s{n}" for n in range(51)), "at most 50"),
    ("/ai_usage/events", "service", LONG, "a service name"),
    ("/ai_usage/events", "job_id", LONG, "at most 128"),
    ("/ai_usage/events", "batch_id", LONG, "at most 128"),
    ("/prices", "service", LONG, "a service name"),
    ("/prices", "model", LONG, "at most 200"),
    ("/alerts", "budget_id", LONG, "a budget id"),
]


@pytest.mark.parametrize(("path", "param", "value", "words"), QUERY_CASES,
                         ids=[f"{p} {n} {len(v)}" for p, n, v, _ in QUERY_CASES])
def test_query_values_are_bounded_like_stored_values(api, path, param, value, words):
    answer = api.get(path, **{param: value})
    assert answer.status == 400, answer
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["loc"] for d in error["details"]] == [["query", param]]
    assert words in error["details"][0]["msg"] and len(answer.text) < 1000


def test_query_values_at_the_limits_are_answered(api):
    assert api.post("/ai_usage", {**EVENT, "user_id": "u" * 128, "project": "p" * 128}).status == 200
    from tests.support.aggregation import drain

    drain()
    within = api.get("/ai_usage", start_date=DAY, end_date=DAY, user_id="u" * 128, model="m" * 200 + ",gpt-4o",
                     service=",".join(["OpenAI", "openai"] + [f"s{n}" for n in range(48)]), project="p" * 128)
    assert within.status == 200, within
    assert within.json()["summary"]["events"] == 1
    # A value repeated (case-insensitively for services) counts once, so the event is counted once.
    assert within.json()["query"]["filters"]["service"] == ["openai"] + [f"s{n}" for n in range(48)]
    assert api.get("/ai_usage/events", job_id="j" * 128).json()["events"] == []
    assert api.get("/prices", service="openai", model="gpt-4o").json()["prices"][0]["source"] == "genai-prices"


@pytest.mark.parametrize("content_type", ["application/json", "text/json", "Application/JSON; charset=utf-8"])
def test_every_json_content_type_is_read_as_json(api, content_type):
    """The body check accepts these; the routes whose signatures validate the body read them as JSON too."""
    headers = {"content-type": content_type}
    created = api.call(
        "POST", "/keys", raw=json.dumps({"name": "k", "scopes": ["usage:read"]}).encode(), headers=headers
    )
    assert created.status == 201, created
    recorded = api.call("POST", "/ai_usage", raw=json.dumps({**EVENT, "event_id": "ct-1"}).encode(), headers=headers)
    assert recorded.status == 200, recorded
