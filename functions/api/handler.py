"""Lambda entry point of the HTTP API (API Gateway HTTP API, payload 2.0).

The same module backs the query, ingest and admin functions; each has its own
role, and API Gateway sends every route to the function its scope calls for.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from functions.api import access, edges, errors
from functions.api.request import body_text, parse_json
from functions.api.routes import alerts, budgets, dashboard, keys, prices, reports, system, usage
from shared.errors import AiUsageError

logger = Logger(service="aiusage")
app = APIGatewayHttpResolver(json_body_deserializer=parse_json)
errors.register(app)
for router in (system.router, usage.router, prices.router, keys.router, alerts.router, budgets.router,
               reports.router, dashboard.router):
    app.include_router(router)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method")
    if event.get("routeKey") == edges.DEFAULT_ROUTE or method == "HEAD":  # 405, HEAD, trailing slash or 404
        return edges.answer(event, lambda routed: _resolve(routed, context))
    return _resolve(event, context)


def _resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Authorize, then let the resolver validate the request and run the route.

    Authorization comes first, outside the resolver: Powertools validates a
    route's parameters and body before any middleware runs, and a caller
    without the scope must get 401/403, never a 400 about a request it may
    not make. The body is read strictly here too, once for every route.
    """
    try:
        principal, claims = access.authorize(event)
        method = ((event.get("requestContext") or {}).get("http") or {}).get("method")
        # 413, 415, base64 and UTF-8 before a body is parsed (`parse_json`); other methods' bodies are ignored.
        text = body_text(event) if method in ("POST", "PUT") else None
    except AiUsageError as exc:
        return errors.gateway_error(errors.status_of(exc), exc.code, exc.message, exc.details)
    if text is not None:
        # Checked above: the body is UTF-8 JSON text under a JSON content type (`text/json` and any case included),
        # and Powertools reads it as such (it knows `application/json` only).
        headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
        event = {
            **event,
            "body": text,
            "isBase64Encoded": False,
            "headers": {**headers, "content-type": "application/json"},
        }
    app.append_context(principal=principal, github_claims=claims)
    return app.resolve(event, context)
