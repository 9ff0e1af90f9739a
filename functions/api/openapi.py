"""The OpenAPI 3.1 document of the HTTP API, generated from the code (`GET /openapi.json`, `docs/openapi.json`).

Powertools builds paths, parameters, request bodies and success answers from
the route signatures and decorators (`functions/api/routes/*.py`, models in
`shared/models.py` and `functions/api/schemas.py`). This module adds what has
one source elsewhere: security from `access.ROUTES` (bearer on every route but
the public ones, with the scope each needs), the SPEC 3 error answers from
`errors.MEANING`, summaries and descriptions from the route docstrings, and
tags from the router modules.

Built lazily, on the first `GET /openapi.json`, then cached: importing this
module with the response models and building the document take ~100 ms that
the handler's cold start never pays (`tests/security/test_openapi.py` checks).
The resolver is passed in (the system route hands over the one that serves
it), so this module never imports the handler: no import circle.

Regenerate the committed copy after changing a route or a model:

    .venv/bin/python -m functions.api.print_openapi > docs/openapi.json
"""

from __future__ import annotations

import inspect
import json
from functools import lru_cache
from typing import Any

from functions.api import access, errors, schemas

TITLE = "aiusage"
API_VERSION = "0.1.0"
DESCRIPTION = (
    "AI usage and cost ledger: record every LLM / AI-API call (tokens, cost, context), query exact totals, "
    "budgets with alerts and spend checks, reports. Every route but the public ones needs "
    "`Authorization: Bearer <token>`: an API key with the route's scope (`usage:write`, `usage:read` or "
    "`admin`, which allows everything), or a GitHub Actions OIDC token (`usage:write` only)."
)
SECURITY_SCHEME = "bearer"
COMPONENT_REF = "#/components/schemas/{model}"
# Error answers particular to a route, beyond what its parameters and body imply.
ROUTE_ERRORS = {"DELETE /keys/{key_id}": (409,)}
_KEY_ORDER = ["summary", "description", "operationId", "tags", "deprecated", "security", "parameters", "requestBody",
              "responses"]
ERROR_NAMES = {400: "ValidationError", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 409: "Conflict", 413: "PayloadTooLarge", 415: "UnsupportedMediaType",
               500: "InternalError"}


@lru_cache(maxsize=1)
def document(app: Any) -> dict[str, Any]:
    """The document of the resolver `app` (built once per process; callers must not change it)."""
    generated = json.loads(app.get_openapi_json_schema(title=TITLE, version=API_VERSION, description=DESCRIPTION))
    routes = {(r.method.lower(), r.openapi_path): r for r in (*app._static_routes, *app._dynamic_routes)}
    paths: dict[str, dict[str, Any]] = {}
    for route_key, scope in access.ROUTES.items():
        method, path = route_key.split(" ", 1)
        method = method.lower()
        operation = generated["paths"].get(path, {}).get(method)
        if operation is None:
            raise LookupError(f"{route_key} is in access.ROUTES but no route serves it")
        _describe(operation, routes[(method, path)].func)
        _secure(operation, scope)
        _add_errors(operation, public=scope == access.PUBLIC, also=ROUTE_ERRORS.get(route_key, ()))
        _tidy(operation)
        paths.setdefault(path, {})[method] = {k: operation[k] for k in sorted(operation, key=_KEY_ORDER.index)}
    served = {f"{m.upper()} {p}" for p, ops in generated["paths"].items() for m in ops}
    if served - set(access.ROUTES):
        raise LookupError(f"routes missing from access.ROUTES: {sorted(served - set(access.ROUTES))}")
    generated["paths"] = paths
    components = generated.setdefault("components", {})
    components["responses"] = {
        name: {"description": errors.MEANING[status],
               "content": {"application/json": {"schema": {"$ref": COMPONENT_REF.format(model="Error")}}}}
        for status, name in ERROR_NAMES.items()
    }
    components["schemas"] = _with_named_models(components.get("schemas", {}), [paths, components["responses"]])
    components["securitySchemes"] = {SECURITY_SCHEME: {
        "type": "http", "scheme": "bearer",
        "description": "An API key (`aiu_` + 43 url-safe characters), or a GitHub Actions OIDC token (RS256 JWT "
                       "from token.actions.githubusercontent.com, audience `aiusage` by default) for POST /ai_usage",
    }}
    generated.pop("servers", None)  # "/" is the default anyway; deployments have their own URL
    _drop_unused_schemas(generated)
    return generated


def document_text(app: Any) -> str:
    """The document as committed in `docs/openapi.json`."""
    return json.dumps(document(app), indent=2, ensure_ascii=False) + "\n"


def _describe(operation: dict[str, Any], func: Any) -> None:
    doc = inspect.getdoc(func) or ""
    summary, _, rest = doc.partition("\n")
    if summary:
        operation["summary"] = summary.strip()
    paragraphs = [" ".join(p.split()) for p in rest.strip().split("\n\n") if p.strip()]
    if paragraphs:
        operation["description"] = "\n\n".join(paragraphs)
    operation["tags"] = [func.__module__.rsplit(".", 1)[-1]]


def _secure(operation: dict[str, Any], scope: str) -> None:
    # OpenAPI 3.1 lets a non-OAuth requirement name the roles it needs: here, the key scope.
    operation["security"] = [] if scope == access.PUBLIC else [{SECURITY_SCHEME: [scope]}]


def _add_errors(operation: dict[str, Any], *, public: bool, also: tuple[int, ...] = ()) -> None:
    """The error answers this operation can give, each the SPEC 3 JSON error."""
    statuses = {errors.INTERNAL_ERROR, *also}
    params = operation.get("parameters", [])
    if params or "requestBody" in operation:
        statuses.add(400)
    if any(p["in"] == "path" for p in params):
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {413, 415}
    if not public:
        statuses |= {401, 403}
    responses = operation["responses"]
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_NAMES[status]}"}
    operation["responses"] = dict(sorted(responses.items()))


def _tidy(operation: dict[str, Any]) -> None:
    for param in operation.get("parameters", []):
        # A query string or path never carries JSON null: `str | None = None` means "optional".
        schema = param["schema"]
        choices = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
        if "anyOf" in schema and len(choices) == 1:
            schema.pop("anyOf")
            schema.update(choices[0])
        schema.pop("title", None)
        if schema.get("description") == param.get("description"):
            schema.pop("description", None)
    if "requestBody" in operation:
        body = operation["requestBody"]
        body["required"] = True  # every body route reads its body, none has a default
        for media in body["content"].values():
            media["schema"].pop("title", None)
            if media["schema"].get("description") == body.get("description"):
                media["schema"].pop("description", None)
    for response in operation["responses"].values():
        if response.get("content") == {}:
            response.pop("content")  # 204: no body


def _with_named_models(generated: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
    """Add the `schemas.py` models the routes name in their answers (`answers.answer`), with their parts."""
    from pydantic.json_schema import models_json_schema

    prefix = COMPONENT_REF.format(model="")
    named = sorted({ref[len(prefix):] for ref in _refs(parts) if ref.startswith(prefix)} - set(generated))
    unknown = [name for name in named if not isinstance(getattr(schemas, name, None), type)]
    if unknown:
        raise LookupError(f"answers name models that functions/api/schemas.py does not define: {unknown}")
    _, definitions = models_json_schema([(getattr(schemas, name), "serialization") for name in named],
                                        ref_template=COMPONENT_REF)
    added = definitions.get("$defs", {})
    clashes = [name for name in added if name in generated and generated[name] != added[name]]
    if clashes:
        raise LookupError(f"two different models are called {clashes}")
    return {**generated, **added}


def _drop_unused_schemas(doc: dict[str, Any]) -> None:
    """Powertools always adds its FastAPI-style validation error models; this API never answers with them."""
    all_schemas = doc["components"]["schemas"]
    used: set[str] = set()
    pending = [doc["paths"], doc["components"]["responses"]]
    while pending:
        for ref in _refs(pending.pop()):
            name = ref.rsplit("/", 1)[-1]
            if ref.startswith("#/components/schemas/") and name not in used:
                used.add(name)
                pending.append(all_schemas[name])
    doc["components"]["schemas"] = {name: s for name, s in sorted(all_schemas.items()) if name in used}


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []

