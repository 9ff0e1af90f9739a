"""The OpenAPI document: generated from the routes, committed, served publicly, lazy (issue 8).

Regenerate the committed copy with:
    .venv/bin/python -m functions.api.print_openapi > docs/openapi.json
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from functions.api import openapi
from functions.api.access import PUBLIC, ROUTES
from functions.api.handler import app

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
REGENERATE = ".venv/bin/python -m functions.api.print_openapi > docs/openapi.json"


def document():
    return openapi.document(app)


def document_text():
    return openapi.document_text(app)
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def operations():
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            yield f"{method.upper()} {path}", op


def test_committed_copy_is_the_generated_document():
    assert COMMITTED.read_text() == document_text(), f"docs/openapi.json is stale; run: {REGENERATE}"


def test_document_describes_this_version_of_the_project():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (document()["info"]["title"], document()["info"]["version"]) == (project["name"], project["version"])


def test_served_publicly_and_equal_to_the_committed_copy(api):
    answer = api.call("GET", "/openapi.json", key=None)
    assert answer.status == 200, answer
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == json.loads(COMMITTED.read_text())
    assert answer.json()["openapi"].startswith("3.")


def test_every_route_is_documented_once_with_its_scope():
    documented = dict(operations())
    assert set(documented) == set(ROUTES)
    for route, scope in ROUTES.items():
        assert documented[route]["security"] == ([] if scope == PUBLIC else [{"bearer": [scope]}]), route
    scheme = document()["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_errors_are_documented_with_the_spec_error_schema():
    doc = document()
    responses = doc["components"]["responses"]
    assert {name: r["content"]["application/json"]["schema"] for name, r in responses.items()} == {
        name: ERROR_REF for name in ("ValidationError", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed",
                                     "Conflict", "PayloadTooLarge", "UnsupportedMediaType", "InternalError")}
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error"]
    assert set(schemas["ErrorInfo"]["required"]) == {"code", "message", "details"}
    assert set(schemas["ErrorInfo"]["properties"]["code"]["enum"]) == {
        "validation_error", "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict",
        "payload_too_large", "unsupported_media_type", "internal_error"}
    assert set(schemas["ErrorDetail"]["required"]) == {"loc", "msg"}
    for route, op in operations():
        codes = set(op["responses"])
        assert "500" in codes, route
        if ROUTES[route] != PUBLIC:
            assert {"401", "403"} <= codes, route
        if "requestBody" in op:
            assert {"400", "413", "415"} <= codes and op["requestBody"]["required"] is True, route
        assert any(code.startswith("2") for code in codes), route


def test_request_bodies_are_the_shared_input_models():
    bodies = {route: op["requestBody"]["content"]["application/json"]["schema"]
              for route, op in operations() if "requestBody" in op}
    assert bodies["POST /ai_usage"] == {"anyOf": [{"$ref": "#/components/schemas/UsageEventIn"},
                                                  {"$ref": "#/components/schemas/UsageBatchIn"}]}
    assert bodies["PUT /budgets/{budget_id}"] == {"$ref": "#/components/schemas/BudgetIn"}
    event = document()["components"]["schemas"]["UsageEventIn"]
    assert event["additionalProperties"] is False  # unknown fields are 400s
    assert event["properties"]["event_id"]["anyOf"][0]["pattern"] == "^[A-Za-z0-9._:@/-]{1,128}$"


def test_the_cold_start_never_loads_the_openapi_machinery():
    """Importing the handler and answering a request leave the document, its models and Powertools' OpenAPI out."""
    script = (
        "import json, sys\n"
        "import functions.api.handler as h\n"
        "event = {'version': '2.0', 'routeKey': 'GET /health', 'rawPath': '/health', 'rawQueryString': '',\n"
        "         'headers': {}, 'isBase64Encoded': False, 'requestContext': "
        "{'http': {'method': 'GET', 'path': '/health',\n"
        "         'sourceIp': '127.0.0.1', 'protocol': 'HTTP/1.1', 'userAgent': 'x'}, "
        "'requestId': 'r', 'routeKey': 'GET /health',\n"
        "         'stage': '$default'}}\n"
        "class Ctx:\n"
        "    function_name = 'api'; memory_limit_in_mb = 512; aws_request_id = 'r'\n"
        "    invoked_function_arn = 'arn:aws:lambda:us-east-1:000000000000:function:api'\n"
        "answer = h.lambda_handler(event, Ctx())\n"
        "print(json.dumps({'status': answer['statusCode'], 'modules': sorted(sys.modules)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    loaded = set(result["modules"])
    assert not loaded & {"functions.api.openapi", "functions.api.schemas",
                         "aws_lambda_powertools.event_handler.openapi.models",
                         "aws_lambda_powertools.event_handler.middlewares.openapi_validation"}


EXAMPLE_VALUES = {"start_date": "2026-11-01", "end_date": "2026-11-02", "limit": "5", "aggregation": "day",
                  "group_by": "day", "format": "json", "pr_number": "1", "kind": "daily", "type": "budget_threshold",
                  "since": "2026-11-01", "next_token": ""}


@pytest.mark.parametrize(
    "route", sorted(r for r, op in operations() if any(p["in"] == "query" for p in op.get("parameters", [])))
)
def test_every_documented_query_parameter_is_one_the_api_reads(api, route):
    """The signatures document what shared/ parses: no documented parameter is an "unknown parameter"."""
    _, path = route.split(" ", 1)
    op = dict(operations())[route]
    path = path.replace("{kind}", "daily").replace("{period}", "2026-11-01")
    for param in (p["name"] for p in op["parameters"] if p["in"] == "query"):
        answer = api.call("GET", path, query={param: EXAMPLE_VALUES.get(param, "x")})
        assert answer.status < 500, (route, param, answer)
        details = answer.json()["error"]["details"] if answer.status >= 400 else []
        assert not [d for d in details if d["msg"] == "unknown parameter"], (route, param, answer)


def test_the_document_module_never_imports_the_handler():
    """No import circle: the system route hands its resolver to openapi.document, which imports nothing above it."""
    script = (
        "import sys, functions.api.openapi, functions.api.routes.system; print('functions.api.handler' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
