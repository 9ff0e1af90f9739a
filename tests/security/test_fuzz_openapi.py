"""Schemathesis fuzzes every route of the served OpenAPI document (SPEC 3, issue 8).

Requests go through the local stack's API Gateway emulation (`Gateway` is a
WSGI app: the same authorizer and handler code as `aiusage serve`, without a
socket) against a seeded table. For every route: the hand-written valid calls
below must succeed, then schema-valid and schema-violating calls are
generated. Every answer must be no 5xx, a status the document lists, its
content type, and a body matching its schema; schema-violating requests must
be rejected (4xx). `make fuzz` runs many more examples with a random seed
(AIUSAGE_FUZZ_EXAMPLES, AIUSAGE_FUZZ_RANDOM).

The fuzzer calls with an admin key whose id it cannot guess; DELETE /keys is
also kept off that id, and the key is checked to still work at the end.
"""

from __future__ import annotations

import copy
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from functions.api.access import ROUTES
from tests.conftest import Api, fixture_json

EXAMPLES = int(os.environ.get("AIUSAGE_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("AIUSAGE_FUZZ_RANDOM") == "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
SAFE_KEY_ID = "k_00000000000000000000"  # what a generated DELETE /keys/{fuzzer's own id} is turned into

EVENTS = [
    {"event_id": "fz-1", "timestamp": f"{DAY}T09:00:00Z", "service": "openai", "model": "gpt-4o", "input_tokens": 1200,
     "cache_read_tokens": 200, "output_tokens": 300, "user_id": "ana", "project": "web", "job_id": "nightly",
     "batch_id": "b-7", "tags": {"team": "search"}, "metadata": {"prompt": "summarise", "n": [1, 2]},
     "github": {"repository": "octo-org/octo-repo", "pr_number": 42, "run_id": "99", "run_attempt": 1}},
    {"event_id": "fz-2", "timestamp": f"{DAY}T10:30:00Z", "service": "anthropic", "model": "claude-sonnet-4-5",
     "usage": {"input_tokens": 100, "cache_read_input_tokens": 1000, "output_tokens": 50}, "latency_ms": 900},
    {"event_id": "fz-3", "timestamp": f"{DAY}T11:00:00Z", "service": "acme", "model": "mystery-1", "input_tokens": 10,
     "status": "error", "error": "timeout"},
    {"event_id": "fz-4", "timestamp": f"{DAY}T12:00:00Z", "service": "google_places", "operation": "place_details",
     "requests": 3, "credits": 1.5},
    {"event_id": "fz-5", "timestamp": f"{DAY}T13:00:00Z", "service": "openai", "model": "gpt-4o", "input_tokens": 10,
     "cost_usd": "0.125", "service_tier": "batch"},
    {"event_id": "gh:octo-org/octo-repo:1:1:review:s1", "timestamp": f"{DAY}T14:00:00Z",
     "claude_code_result": fixture_json("claude-code-execution.json")[-1]},
]
BUDGET = {"name": "Team", "scope": {"service": "openai"}, "period": "daily", "limit_usd": 0.01,
          "thresholds": [0.1, 0.5], "forecast_alert": True}


def seed(api: Api) -> dict[str, str]:
    """Something behind every route, so valid calls answer with real content."""
    assert api.post("/ai_usage", {"events": EVENTS}).status == 200
    assert api.put("/budgets/team", BUDGET).status == 201
    assert api.put("/budgets/doomed", {"period": "daily", "limit_tokens": 1000}).status == 201
    assert api.post("/ai_usage", {**EVENTS[0], "event_id": "fz-6", "cost_usd": 1}).status == 200  # crosses thresholds
    assert api.put("/prices/acme/mystery-1", {"input_per_mtok": 2, "output_per_mtok": 8}).status == 200
    assert api.post("/reports", {"kind": "daily", "period": DAY}).status == 200
    spare = api.post("/keys", {"name": "spare", "scopes": ["usage:read"]}).json()["key_id"]
    return {"spare_key_id": spare}


def valid_calls(seeded: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Per route: calls that must succeed (2xx) and answer as documented."""
    return {
        "GET /health": [{}],
        "GET /openapi.json": [{}],
        "GET /dashboard": [{}],
        "GET /dashboard/{path}": [{"path_parameters": {"path": "index.html"}}],
        "POST /ai_usage": [{"body": {"events": EVENTS}}, {"body": {**EVENTS[2], "event_id": "fz-7", "requests": 2}}],
        "GET /ai_usage": [
            {},
            {
                "query": {
                    "start_date": DAY,
                    "end_date": DAY,
                    "aggregation": "hour,day,week,month,service,model,operation",
                    "group_by": "day,service,model",
                }
            },
            {
                "query": {
                    "start_date": DAY,
                    "end_date": DAY,
                    "aggregation": "user,project,repository,job,batch",
                    "group_by": "user",
                }
            },
            {"query": {"start_date": DAY, "end_date": DAY, "service": "openai,anthropic", "aggregation": "model"}},
            {"query": {"start_date": DAY, "end_date": DAY, "repository": "octo-org/octo-repo", "pr_number": "42"}},
            {"query": {"start_date": DAY, "end_date": DAY, "user_id": "ana", "group_by": "day,user"}},
            {"query": {"start_date": DAY, "end_date": DAY, "format": "csv", "group_by": "day,service"}},
        ],
        "GET /ai_usage/events": [
            {"query": {"start_date": DAY, "end_date": DAY}},
            {"query": {"start_date": DAY, "end_date": DAY, "limit": 1}},
            {"query": {"start_date": DAY, "end_date": DAY, "service": "openai"}},
            {"query": {"start_date": DAY, "end_date": DAY, "job_id": "nightly"}},
            {"query": {"start_date": DAY, "end_date": DAY, "repository": "octo-org/octo-repo", "pr_number": "42"}},
        ],
        "POST /ai_usage/estimate": [
            {
                "body": {
                    "items": [
                        {
                            "service": "openai",
                            "model": "gpt-4o",
                            "input_tokens": 1000,
                            "output_tokens": 100,
                            "count": 3,
                        },
                        {"service": "acme", "model": "unknown-model", "input_tokens": 5},
                    ],
                    "scope": {"service": "openai"},
                }
            }
        ],
        "POST /ai_usage/reprice": [{"body": {"start_date": DAY, "end_date": DAY}}],
        "GET /prices": [
            {},
            {"query": {"service": "openai", "model": "gpt-4o"}},
            {"query": {"service": "acme", "model": "mystery-1"}},
            {"query": {"service": "google_places", "operation": "place_details"}},
            {"query": {"service": "acme", "model": "nothing"}},
        ],
        "PUT /prices/{service}/{model_or_operation}": [
            {
                "path_parameters": {"service": "acme", "model_or_operation": "mystery-2"},
                "body": {
                    "input_per_mtok": "0.5",
                    "per_request": 0.01,
                    "credits_per_request": 1,
                    "valid_from": "2026-01-01",
                },
            }
        ],
        "POST /keys": [{"body": {"name": "ci", "scopes": ["usage:write", "usage:read"]}}],
        "GET /keys": [{}],
        "DELETE /keys/{key_id}": [{"path_parameters": {"key_id": seeded["spare_key_id"]}}],
        "GET /alerts": [{}, {"query": {"type": "budget_threshold", "budget_id": "team", "since": "2026-01-01"}}],
        "GET /budgets": [{}],
        "POST /budgets/check": [
            {"body": {"service": "openai", "model": "gpt-4o", "estimated_cost_usd": 5}},
            {"body": {"service": "openai", "model": "gpt-4o", "input_tokens": 1000}},
        ],
        "GET /budgets/{budget_id}": [{"path_parameters": {"budget_id": "team"}}],
        "PUT /budgets/{budget_id}": [
            {"path_parameters": {"budget_id": "team"}, "body": {**BUDGET, "override_until": "2030-01-01T00:00:00Z"}},
            {
                "path_parameters": {"budget_id": "new"},
                "body": {
                    "period": "weekly",
                    "timezone": "Europe/Berlin",
                    "limit_credits": 10,
                    "action_on_limit": "queue",
                },
            },
        ],
        "DELETE /budgets/{budget_id}": [{"path_parameters": {"budget_id": "doomed"}}],
        "POST /budgets/{budget_id}/reset": [{"path_parameters": {"budget_id": "team"}}],
        "GET /budgets/{budget_id}/history": [{"path_parameters": {"budget_id": "team"}}],
        "GET /reports": [{}, {"query": {"kind": "daily", "limit": 5}}],
        "GET /reports/{kind}/{period}": [
            {"path_parameters": {"kind": "daily", "period": DAY}},
            {"path_parameters": {"kind": "daily", "period": DAY}, "query": {"format": "markdown"}},
        ],
        "POST /reports": [{"body": {"kind": "daily", "period": DAY}}, {"body": {"kind": "monthly"}}],
    }


# Generated calls also aim at things that exist, not only at random ids (which are 404s).
EXISTING = {"budget_id": "team", "kind": "daily", "period": DAY, "path": "index.html",
            "service": "acme", "model_or_operation": "mystery-1"}


def fuzzable_document(document: dict[str, Any]) -> dict[str, Any]:
    """The document without its bearer scheme.

    The fuzzer always sends its valid key (test_authorization covers auth).
    """
    doc = copy.deepcopy(document)
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    doc["components"].pop("securitySchemes", None)
    return doc


@pytest.fixture
def fuzz_target(aws):
    from shared.keys import create_key

    created = create_key("fuzzer", ["admin"])
    api = Api(created["key"])
    served = api.get("/openapi.json")
    assert served.status == 200, served
    schema = schemathesis.openapi.from_dict(fuzzable_document(served.json()))
    return api, schema, created["key_id"], seed(api)


def test_every_route_is_fuzzed():
    assert set(valid_calls({"spare_key_id": "k"})) == set(ROUTES)


@pytest.mark.parametrize("route", list(ROUTES))
def test_route_answers_as_documented_for_valid_and_fuzzed_requests(fuzz_target, route):
    api, schema, own_key_id, seeded = fuzz_target
    method, path = route.split(" ", 1)
    operation = schema[path][method]
    auth = {"Authorization": f"Bearer {api.key}"}

    for call in valid_calls(seeded)[route]:
        case = operation.Case(media_type="application/json" if "body" in call else None, **call)
        response = case.call(headers=auth, app=api.gateway)
        assert 200 <= response.status_code < 300, (route, call, response.status_code, response.text[:500])
        case.validate_response(response, checks=CHECKS, transport_kwargs={"app": api.gateway})

    statuses: dict[int, int] = {}
    fixed = {name: EXISTING[name] for name in EXISTING if "{" + name + "}" in path}
    strategies = [
        operation.as_strategy(generation_mode=mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    if fixed:
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=fixed))

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def fuzz(case):
        if case.path_parameters and case.path_parameters.get("key_id") == own_key_id:
            case.path_parameters["key_id"] = SAFE_KEY_ID
        response = case.call(headers=auth, app=api.gateway)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(
            response, checks=[*CHECKS, negative_data_rejection], transport_kwargs={"app": api.gateway}
        )

    fuzz()
    assert sum(statuses.values()) >= min(EXAMPLES, 1), statuses
    assert not [s for s in statuses if s >= 500], statuses
    assert api.get("/keys").status == 200  # the fuzzer's own key still works
