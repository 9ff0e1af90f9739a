"""Who may call which route: the route table of the HTTP API and the scope check.

`ROUTES` is the one list of routes: the resolver serves them, the CDK stack
creates them (and picks the function by scope: read-only routes go to the
query function, which cannot write), and the local server matches them.
"""

from __future__ import annotations

import json
from typing import Any

from shared.errors import Forbidden, Unauthorized
from shared.keys import Principal

PUBLIC = "public"
READ = "usage:read"
WRITE = "usage:write"
ADMIN = "admin"

# "METHOD /path/{param}" (API Gateway route keys) -> required scope.
ROUTES: dict[str, str] = {
    "GET /health": PUBLIC,
    "GET /openapi.json": PUBLIC,
    "GET /dashboard": PUBLIC,
    "GET /dashboard/{path}": PUBLIC,
    "POST /ai_usage": WRITE,
    "GET /ai_usage": READ,
    "GET /ai_usage/events": READ,
    "POST /ai_usage/estimate": READ,
    "POST /ai_usage/reprice": ADMIN,
    "GET /prices": READ,
    "PUT /prices/{service}/{model_or_operation}": ADMIN,
    "POST /keys": ADMIN,
    "GET /keys": ADMIN,
    "DELETE /keys/{key_id}": ADMIN,
    "GET /alerts": READ,
    "GET /budgets": READ,
    "POST /budgets/check": READ,
    "GET /budgets/{budget_id}": READ,
    "PUT /budgets/{budget_id}": ADMIN,
    "DELETE /budgets/{budget_id}": ADMIN,
    "POST /budgets/{budget_id}/reset": ADMIN,
    "GET /budgets/{budget_id}/history": READ,
    "GET /reports": READ,
    "GET /reports/{kind}/{period}": READ,
    "POST /reports": ADMIN,
}


def route_key(method: str, resolver_path: str) -> str:
    """Powertools' `/budgets/<budget_id>` -> API Gateway's `/budgets/{budget_id}`."""
    return f"{method.upper()} " + resolver_path.replace("<", "{").replace(">", "}")


def principal_of(event: dict[str, Any]) -> tuple[Principal | None, str | None, dict[str, Any] | None]:
    """The caller as the authorizer described it: principal, its error, and GitHub claims."""
    ctx = (event.get("requestContext") or {}).get("authorizer") or {}
    ctx = ctx.get("lambda") or {}
    if not ctx.get("principal"):
        return None, ctx.get("auth_error"), None
    claims = json.loads(ctx["github_claims"]) if ctx.get("github_claims") else None
    return Principal(ctx["principal"], frozenset(str(ctx.get("scopes", "")).split())), None, claims


def authorize(event: dict[str, Any]) -> tuple[Principal | None, dict[str, Any] | None]:
    """Enforce the route's scope: 401 without a valid credential, 403 without the scope."""
    scope = ROUTES.get(event.get("routeKey", ""))
    if scope == PUBLIC:
        return None, None
    principal, error, claims = principal_of(event)
    if principal is None:
        raise Unauthorized(error or "missing or invalid bearer token")
    if scope is None or not principal.allows(scope):
        raise Forbidden(f"this route needs the {scope or 'admin'} scope")
    return principal, claims
