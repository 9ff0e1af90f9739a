"""Lambda entry point of the HTTP API (API Gateway HTTP API, payload 2.0).

The same module backs the query, ingest and admin functions; each has its own
role, and API Gateway sends every route to the function its scope calls for.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from functions.api import access, edges, errors
from functions.api.request import parse_json
from functions.api.routes import alerts, budgets, dashboard, keys, prices, reports, system, usage

logger = Logger(service="aiusage")
app = APIGatewayHttpResolver(json_body_deserializer=parse_json)
errors.register(app)


def _authorize(app: APIGatewayHttpResolver, next_middleware: Any) -> Any:
    principal, claims = access.authorize(app.current_event.raw_event)
    app.append_context(principal=principal, github_claims=claims)
    return next_middleware(app)


app.use(middlewares=[_authorize])
for router in (system.router, usage.router, prices.router, keys.router, alerts.router, budgets.router,
               reports.router, dashboard.router):
    app.include_router(router)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method")
    if event.get("routeKey") == edges.DEFAULT_ROUTE or method == "HEAD":  # 405, HEAD, trailing slash or 404
        return edges.answer(event, lambda routed: app.resolve(routed, context))
    return app.resolve(event, context)
