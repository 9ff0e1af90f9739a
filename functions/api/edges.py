"""Requests no route takes: API Gateway's `$default` route (SPEC 3's error shape for every one of them).

API Gateway sends a request to `$default` when no route matches its method
and path. Without that route it would answer itself, with `{"message": "Not
Found"}`; with it, this module answers, without running any route (the
`$default` route has no authorizer, so nothing here may serve data):

- a path some route serves, with another method: 405 `method_not_allowed`
  and `Allow` listing the methods (`HEAD` too where `GET` is public);
- `HEAD` of a public `GET` route (the dashboard, health, the OpenAPI
  document): that `GET`'s answer without its body;
- a path with a trailing slash whose bare form exists (`/dashboard/`): 308 to
  the bare path (same method and body; the client then authenticates as usual);
- anything else: 404 `not_found`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from functions.api.access import PUBLIC, ROUTES
from functions.api.errors import gateway_error

DEFAULT_ROUTE = "$default"
Resolve = Callable[[dict[str, Any]], dict[str, Any]]


@lru_cache(maxsize=1)
def _templates() -> list[tuple[str, str, re.Pattern[str]]]:
    """(method, route key, path regex) for every route; `{name}` matches one non-empty segment, `{name+}` the rest."""
    compiled = []
    for key in ROUTES:
        method, path = key.split(" ", 1)
        regex = re.sub(r"\\\{\w+\\\+\\\}", r".+", re.escape(path))
        regex = re.sub(r"\\\{\w+\\\}", r"[^/]+", regex)
        compiled.append((method, key, re.compile(f"^{regex}$")))
    return compiled


def routes_at(path: str) -> dict[str, str]:
    """Method -> route key of every route serving `path`."""
    return {method: key for method, key, pattern in _templates() if pattern.match(path)}


def allowed(path: str) -> list[str]:
    """The methods `path` answers, as the `Allow` header lists them."""
    methods = set(routes_at(path))
    if "GET" in methods and ROUTES[routes_at(path)["GET"]] == PUBLIC:
        methods.add("HEAD")
    return sorted(methods)


def answer(event: dict[str, Any], resolve: Resolve) -> dict[str, Any]:
    """The answer to a request that reached the `$default` route."""
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or "/")
    routes = routes_at(path)
    if method == "HEAD" and "GET" in routes and ROUTES[routes["GET"]] == PUBLIC:
        got = resolve(_as_route(event, routes["GET"], "GET"))
        return {**got, "body": "", "isBase64Encoded": False}
    if routes:
        methods = allowed(path)
        return gateway_error(405, "method_not_allowed", f"{method} is not allowed on {path}; use {', '.join(methods)}",
                             headers={"Allow": ", ".join(methods)})
    bare = path.rstrip("/")
    if bare and bare != path and routes_at(bare):
        query = event.get("rawQueryString") or ""
        return {"statusCode": 308, "headers": {"Location": bare + (f"?{query}" if query else "")}, "body": "",
                "isBase64Encoded": False}
    return gateway_error(404, "not_found", f"no route {method} {path}")


def _as_route(event: dict[str, Any], route_key: str, method: str) -> dict[str, Any]:
    context = {**(event.get("requestContext") or {}), "routeKey": route_key}
    context["http"] = {**(context.get("http") or {}), "method": method}
    return {**event, "routeKey": route_key, "requestContext": context}

