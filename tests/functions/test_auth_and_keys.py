"""API keys and scopes (SPEC 2), errors (SPEC 3), and the handler fed a real API Gateway event."""

import json
from pathlib import Path

import pytest

from shared import store
from tests.conftest import fixture_json
from tests.support.aggregation import drain

ROUTE_SAMPLES = {
    ("POST", "/ai_usage"): {"service": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1},
    ("GET", "/ai_usage"): None,
    ("GET", "/ai_usage/events"): None,
    ("POST", "/ai_usage/estimate"): {"items": [{"service": "openai", "model": "gpt-4o", "input_tokens": 1}]},
    ("POST", "/ai_usage/reprice"): {"start_date": "2026-11-01", "end_date": "2026-11-02"},
    ("GET", "/prices"): None,
    ("PUT", "/prices/openai/gpt-4o"): {"input_per_mtok": 1},
    ("GET", "/keys"): None,
    ("POST", "/keys"): {"name": "x", "scopes": ["usage:read"]},
}
EXPECTED = {  # scope -> routes allowed
    "usage:write": {("POST", "/ai_usage")},
    "usage:read": {
        ("GET", "/ai_usage"),
        ("GET", "/ai_usage/events"),
        ("POST", "/ai_usage/estimate"),
        ("GET", "/prices"),
    },
    "admin": set(ROUTE_SAMPLES),
}


@pytest.mark.parametrize("scope", sorted(EXPECTED))
def test_each_scope_reaches_exactly_its_routes(api, key_with, scope):
    key = key_with(scope)
    for (method, path), body in ROUTE_SAMPLES.items():
        answer = api.call(method, path, body=body, key=key)
        if (method, path) in EXPECTED[scope]:
            assert answer.status in (200, 201), (scope, method, path, answer)
        else:
            assert answer.status == 403, (scope, method, path, answer)
            assert answer.json()["error"]["code"] == "forbidden"


def test_missing_malformed_unknown_and_revoked_credentials_are_401(api, key_with):
    for key in (None, "", "aiu_unknownunknownunknownunknownunknownunknown"):
        answer = api.call("GET", "/ai_usage", key=key)
        assert answer.status == 401, answer
        assert answer.json()["error"]["code"] == "unauthorized"
    basic = api.call("GET", "/ai_usage", key=None, headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status == 401
    reader = key_with("usage:read")
    key_id = next(k["key_id"] for k in api.get("/keys").json()["keys"] if k["name"] == "test usage:read")
    assert api.get("/ai_usage").status == 200
    assert api.delete(f"/keys/{key_id}").json()["revoked_at"]
    assert api.call("GET", "/ai_usage", key=reader).status == 401
    assert api.delete("/keys/k_nope").status == 404


def test_public_routes_need_no_key(api):
    assert api.call("GET", "/health", key=None).json() == {"status": "ok"}


def test_created_key_is_shown_once_and_stored_only_as_hash(api):
    created = api.post("/keys", {"name": "ci", "scopes": ["usage:write"]})
    assert created.status == 201
    body = created.json()
    assert set(body) == {"key_id", "key", "name", "scopes", "created_at"}
    assert body["key"].startswith("aiu_") and len(body["key"]) >= 4 + 32
    listed = api.get("/keys").text
    assert body["key"] not in listed and "key_hash" not in listed
    everything = json.dumps(store.client().scan(TableName="aiusage-test")["Items"])
    assert body["key"] not in everything
    assert api.post("/ai_usage", ROUTE_SAMPLES[("POST", "/ai_usage")], key=body["key"]).status == 200
    assert api.post("/keys", {"name": "x", "scopes": ["root"]}).status == 400


def test_unknown_route_is_json_404(api):
    answer = api.get("/nope")
    assert answer.status == 404 and answer.json()["error"]["code"] == "not_found"


def test_api_gateway_fixture_event_runs_the_handler(api):
    from functions.api.handler import lambda_handler

    api.post("/ai_usage", {"timestamp": "2026-11-05T10:00:00Z", "service": "openai", "model": "gpt-4o",
                           "input_tokens": 1000, "output_tokens": 100})
    event = fixture_json("apigw-v2-get-ai-usage.json")
    drain()  # the aggregator folds the event into the cells the query reads

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "query", 512, "r1"
        invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:query"

    result = lambda_handler(event, Context())
    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert body["aggregations"]["by_service"]["openai"]["cost_usd"] == 0.0035
    assert body["query"]["aggregation"] == ["day", "service"]


def test_internal_errors_carry_no_stack_trace(api, monkeypatch):
    from shared import query

    def boom(params):
        raise RuntimeError("secret internals at /var/task/shared/store.py line 12")

    monkeypatch.setattr(query, "query_usage", boom)
    answer = api.get("/ai_usage")
    assert answer.status == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "secret" not in answer.text and "Traceback" not in answer.text


def test_revoking_a_key_twice_is_a_conflict_that_keeps_the_first_revocation(api, key_with, monkeypatch):
    from datetime import UTC, datetime

    from shared import keys

    key_with("usage:read")
    key_id = next(k["key_id"] for k in api.get("/keys").json()["keys"] if k["name"] == "test usage:read")
    first = api.delete(f"/keys/{key_id}")
    assert first.status == 200
    revoked_at = first.json()["revoked_at"]
    # A later clock must not move it.
    real_revoke = keys.revoke_key
    monkeypatch.setattr(keys, "revoke_key", lambda k: real_revoke(k, now=datetime(2099, 1, 1, tzinfo=UTC)))
    again = api.delete(f"/keys/{key_id}")
    assert again.status == 409, again
    error = again.json()["error"]
    assert error["code"] == "conflict"
    assert revoked_at in error["message"]
    assert error["details"] == [{"loc": ["path", "key_id"], "msg": f"already revoked at {revoked_at}"}]
    listed = next(k for k in api.get("/keys").json()["keys"] if k["key_id"] == key_id)
    assert listed["revoked_at"] == revoked_at


def test_a_path_with_another_method_is_405_with_allow(api):
    for method, path, allow in (("DELETE", "/ai_usage", "GET, POST"), ("PUT", "/budgets/x/history", "GET"),
                                ("POST", "/dashboard", "GET, HEAD"), ("PATCH", "/keys/k_1", "DELETE")):
        answer = api.call(method, path)
        assert answer.status == 405, (method, path, answer)
        assert answer.headers["allow"] == allow
        error = answer.json()["error"]
        assert error["code"] == "method_not_allowed" and allow in error["message"] and error["details"] == []
    assert api.call("DELETE", "/nope").json()["error"]["code"] == "not_found"


def test_a_body_that_is_not_json_is_415(api):
    answer = api.call("POST", "/ai_usage", raw=b"service=openai", headers={"content-type": "text/plain"})
    assert answer.status == 415, answer
    error = answer.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert error["details"] == [
        {"loc": ["header", "content-type"], "msg": "must be application/json, not 'text/plain'"}
    ]


def test_dashboard_with_a_trailing_slash_and_head_requests(api):
    slash = api.call("GET", "/dashboard/", key=None)
    assert (slash.status, slash.headers["location"], slash.text) == (308, "/dashboard", "")
    page = api.call("GET", "/dashboard", key=None)
    head = api.call("HEAD", "/dashboard", key=None)
    assert (head.status, head.text) == (200, "")
    assert head.headers["content-type"] == page.headers["content-type"] == "text/html; charset=utf-8"
    assert api.call("HEAD", "/health", key=None).status == 200
    asset = next(p.name for p in (Path(__file__).parents[2] / "functions/api/dashboard").glob("*.js"))
    assert api.call("HEAD", f"/dashboard/{asset}", key=None).status == 200
    # Nothing behind a credential is answered through these edges: no data without the authorizer.
    for method, path in (("HEAD", "/ai_usage"), ("GET", "/ai_usage/"), ("HEAD", "/keys")):
        answer = api.call(method, path)
        assert answer.status in (308, 405), (method, path, answer)
        assert answer.text == "" if answer.status == 308 else set(answer.json()) == {"error"}
    assert api.call("GET", "/ai_usage/", query={"service": "openai"}).headers["location"] == "/ai_usage?service=openai"


def test_every_credential_error_has_the_api_error_shape_and_wording(api):
    """The authorizer sees requests without an Authorization header too, so every 401 reads the same."""
    missing = api.call("GET", "/ai_usage", key=None)
    basic = api.call("GET", "/ai_usage", key=None, headers={"authorization": "Basic dXNlcjpwYXNz"})
    for answer in (missing, basic):
        assert answer.status == 401
        assert answer.json() == {"error": {"code": "unauthorized", "details": [],
                                           "message": "missing or malformed Authorization: Bearer header"}}
    unknown = api.call("GET", "/ai_usage", key="aiu_" + "x" * 43).json()
    assert unknown == {"error": {"code": "unauthorized", "message": "unknown or revoked API key", "details": []}}


def test_head_routed_to_a_get_route_by_api_gateway_is_answered_too(api):
    """Should API Gateway hand a HEAD to the GET route itself, the answer is the same as through $default."""
    from functions.api.handler import lambda_handler

    event = fixture_json("apigw-v2-get-ai-usage.json")
    for route_key, path, status in (("GET /dashboard", "/dashboard", 200), ("GET /ai_usage", "/ai_usage", 405)):
        head = {**event, "routeKey": route_key, "rawPath": path, "rawQueryString": "",
                "requestContext": {**event["requestContext"], "routeKey": route_key,
                                   "http": {**event["requestContext"]["http"], "method": "HEAD", "path": path}}}
        head.pop("queryStringParameters", None)
        answer = lambda_handler(head, type("Context", (), {"function_name": "query", "memory_limit_in_mb": 512,
                                                           "aws_request_id": "r1",
                                                           "invoked_function_arn": "arn:aws:lambda:x"})())
        assert (answer["statusCode"], answer["body"] if status == 200 else "") == (status, ""), answer
