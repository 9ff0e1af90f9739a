"""Authorization matrix (SPEC 2-3): every route x every kind of caller, and what must never leak.

- no/invalid credentials -> 401, a valid one without the route's scope -> 403,
  with it -> anything but 401/403 (2xx, or 4xx/404 about the request itself);
- public routes answer everyone the same;
- an API key appears in no log line and no answer but the one `POST /keys` 201
  that creates it; nor does its SHA-256;
- error bodies are exactly `{"error": {"code", "message", "details"}}`, never a
  stack trace, also for an internal error.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from functions.api.access import ADMIN, PUBLIC, READ, ROUTES, WRITE
from tests.support.oidc import OidcIssuer, jwks_json, with_flipped_signature

ISSUER = OidcIssuer("aiusage-test-key-1")
DAY = "2026-11-20"
SAMPLES = {  # route -> (path, query, body): a request that succeeds for a caller with the scope
    "GET /health": ("/health", None, None),
    "GET /openapi.json": ("/openapi.json", None, None),
    "GET /dashboard": ("/dashboard", None, None),
    "GET /dashboard/{path}": ("/dashboard/index.html", None, None),
    "POST /ai_usage": ("/ai_usage", None, {"timestamp": f"{DAY}T09:00:00Z", "service": "openai", "model": "gpt-4o",
                                           "input_tokens": 100, "output_tokens": 10}),
    "GET /ai_usage": ("/ai_usage", {"start_date": DAY, "end_date": DAY}, None),
    "GET /ai_usage/events": ("/ai_usage/events", {"start_date": DAY, "end_date": DAY}, None),
    "POST /ai_usage/estimate": ("/ai_usage/estimate", None, {"items": [{"service": "openai", "model": "gpt-4o",
                                                                        "input_tokens": 10}]}),
    "POST /ai_usage/reprice": ("/ai_usage/reprice", None, {"start_date": DAY, "end_date": DAY}),
    "GET /prices": ("/prices", None, None),
    "PUT /prices/{service}/{model_or_operation}": ("/prices/acme/m1", None, {"input_per_mtok": 1}),
    "POST /keys": ("/keys", None, {"name": "made in the matrix", "scopes": ["usage:read"]}),
    "GET /keys": ("/keys", None, None),
    "DELETE /keys/{key_id}": ("/keys/k_ffffffffffffffffffff", None, None),
    "GET /alerts": ("/alerts", None, None),
    "GET /budgets": ("/budgets", None, None),
    "POST /budgets/check": ("/budgets/check", None, {"service": "openai", "estimated_cost_usd": 1}),
    "GET /budgets/{budget_id}": ("/budgets/team", None, None),
    "PUT /budgets/{budget_id}": ("/budgets/team", None, {"period": "daily", "limit_usd": 10}),
    "DELETE /budgets/{budget_id}": ("/budgets/nope", None, None),
    "POST /budgets/{budget_id}/reset": ("/budgets/team/reset", None, None),
    "GET /budgets/{budget_id}/history": ("/budgets/team/history", None, None),
    "GET /reports": ("/reports", None, None),
    "GET /reports/{kind}/{period}": ("/reports/daily/" + DAY, None, None),
    "POST /reports": ("/reports", None, {"kind": "daily", "period": DAY}),
}
MALFORMED = ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token aiu_abc", "bearer", "Bearer  \t ", "aiu_no_scheme",
             "Bearer " + "x" * 8000, "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.e30."]
UNKNOWN_KEY = "aiu_" + "N" * 43


def allows(scope: str, route_scope: str) -> bool:
    return route_scope == PUBLIC or scope in (ADMIN, route_scope)


def send(api, route: str, token: str | None = None, header: str | None = None):
    method = route.split(" ", 1)[0]
    path, query, body = SAMPLES[route]
    headers = {"authorization": header} if header is not None else None
    return api.call(method, path, query=query, body=body, key=token, headers=headers)


def assert_error_shape(answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code
    assert "Traceback" not in answer.text and ".py" not in answer.text and "botocore" not in answer.text


@pytest.fixture
def world(api, key_with, monkeypatch):
    """Keys of every scope (one revoked), a GitHub OIDC issuer, a budget and a report to read."""
    from shared.config import settings
    from shared.keys import hash_key, key_id_of_hash

    monkeypatch.setenv("GITHUB_JWKS", jwks_json(ISSUER))
    monkeypatch.setenv("GITHUB_OIDC_ALLOWLIST", "octo-org")
    settings.cache_clear()
    keys = {scope: key_with(scope) for scope in (WRITE, READ, ADMIN)}
    revoked = key_with(READ)
    assert api.delete(f"/keys/{key_id_of_hash(hash_key(revoked))}").status == 200
    assert api.put("/budgets/team", {"period": "daily", "limit_usd": 5}).status == 201
    assert api.post("/reports", {"kind": "daily", "period": DAY}).status == 200
    return {"keys": keys, "revoked": revoked}


def test_matrix_of_routes_and_callers(api, world):
    keys, revoked = world["keys"], world["revoked"]
    oidc = ISSUER.mint(repository="octo-org/octo-repo")
    for route, scope in ROUTES.items():
        # Public routes: the same answer for everyone, never 401/403.
        callers = {
            "none": None,
            "unknown": UNKNOWN_KEY,
            "revoked": revoked,
            "oidc-bad-signature": with_flipped_signature(oidc),
        }
        if scope == PUBLIC:
            statuses = {name: send(api, route, token).status for name, token in callers.items()}
            statuses["admin"] = send(api, route, keys[ADMIN]).status
            statuses["malformed"] = send(api, route, header=MALFORMED[2]).status
            assert set(statuses.values()) == {200}, (route, statuses)
            continue
        for token in callers.values():
            assert_error_shape(send(api, route, token), 401, "unauthorized")
        for header in MALFORMED:
            assert_error_shape(send(api, route, header=header), 401, "unauthorized")
        for key_scope, key in keys.items():
            answer = send(api, route, key)
            if allows(key_scope, scope):
                assert answer.status not in (401, 403) and answer.status < 500, (route, key_scope, answer)
            else:
                assert_error_shape(answer, 403, "forbidden")
        answer = send(api, route, oidc)  # GitHub Actions OIDC: usage:write only
        if scope == WRITE:
            assert answer.status == 200, (route, answer)
        else:
            assert_error_shape(answer, 403, "forbidden")


def test_each_allowed_caller_gets_a_success_from_every_route(api, world):
    """The samples are real requests: a caller with the scope gets 2xx (404 only for things that do not exist)."""
    expect_404 = {"DELETE /keys/{key_id}", "DELETE /budgets/{budget_id}"}
    for route, scope in ROUTES.items():
        answer = send(api, route, world["keys"][ADMIN if scope in (PUBLIC, ADMIN) else scope])
        if route in expect_404:
            assert_error_shape(answer, 404, "not_found")
        else:
            assert 200 <= answer.status < 300, (route, answer)


def record_text(record: logging.LogRecord) -> str:
    return json.dumps({**record.__dict__, "message": record.getMessage()}, default=str)


def test_keys_are_never_logged_nor_shown_again(api, world, capfd, caplog, monkeypatch):
    """At DEBUG everywhere (ours, Powertools, botocore): the key is in no log line and no answer after its 201.

    Its SHA-256 is what the table stores, so botocore's DEBUG dumps of DynamoDB
    traffic show it; our own logs and every answer never do.
    """
    for name in ("aiusage", "aiusage-authorizer"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    keys = dict(world["keys"])
    created = api.post("/keys", {"name": "shown once", "scopes": ["admin"]})
    assert created.status == 201 and created.json()["key"].startswith("aiu_")
    keys["new"] = created.json()["key"]
    answers = []
    for route in ROUTES:
        for token in (*keys.values(), world["revoked"], UNKNOWN_KEY):
            answers.append(send(api, route, token))
        for header in MALFORMED:
            answers.append(send(api, route, header=header))
    answers.append(api.call("GET", "/ai_usage", key=keys["new"], query={"start_date": "bad"}))
    printed = capfd.readouterr()
    ours = printed.out + printed.err + "".join(record_text(r) for r in caplog.records if r.name.startswith("aiusage"))
    everything = ours + "".join(record_text(r) for r in caplog.records)
    assert len(caplog.records) > 100  # DEBUG logging really was on
    for secret in (*keys.values(), world["revoked"], UNKNOWN_KEY):
        digest = hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in everything
        assert digest not in ours
        for answer in answers:
            assert secret not in answer.text and digest not in answer.text, answer
    listed = api.get("/keys").json()["keys"]
    assert listed and all(
        set(k) == {"key_id", "name", "scopes", "created_at", "last_used_at", "revoked_at"} for k in listed
    )


def test_internal_errors_carry_no_internals(api, monkeypatch, caplog):
    from shared import query

    def explode(*args, **kwargs):
        raise RuntimeError("secret table layout PK=EVENT# and arn:aws:dynamodb:us-east-1:000000000000:table/x")

    monkeypatch.setattr(query, "query_usage", explode)
    answer = api.get("/ai_usage")
    assert_error_shape(answer, 500, "internal_error")
    assert "secret" not in answer.text and "arn:aws" not in answer.text and "RuntimeError" not in answer.text
    # The stack trace goes to the logs (with the request id), never to the caller.
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert [r.exc_info[0] for r in logged] == [RuntimeError]


def test_authorization_comes_before_validation(api, key_with):
    """Routes validate their parameters and bodies, but a caller without a credential or the scope gets
    401/403 for an invalid request too, never a 400 describing a request it may not make."""
    invalid = [("GET", "/ai_usage", {"start_date": "2026-13-01", "servce": "x"}, None, READ),
               ("GET", "/alerts", {"limit": "0"}, None, READ),
               ("POST", "/ai_usage/estimate", None, {"items": []}, READ),
               ("POST", "/keys", None, {"name": ""}, ADMIN),
               ("POST", "/reports", None, ["daily"], ADMIN),
               ("PUT", "/prices/openai/m1", None, {}, ADMIN)]
    reader = key_with(READ)
    for method, path, query, body, scope in invalid:
        assert_error_shape(api.call(method, path, query=query, body=body, key=None), 401, "unauthorized")
        if scope == ADMIN:
            assert_error_shape(api.call(method, path, query=query, body=body, key=reader), 403, "forbidden")
        # With the scope, each is indeed invalid: a 400 naming what is wrong.
        answer = api.call(method, path, query=query, body=body)
        assert_error_shape(answer, 400, "validation_error")
        assert answer.json()["error"]["details"][0]["loc"], answer
