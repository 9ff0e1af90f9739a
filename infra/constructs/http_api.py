"""The HTTP API (API Gateway v2): every route of `functions/api/access.ROUTES`, nothing else.

A route's scope picks its integration (`Functions.for_scope`): public and
`usage:read` routes go to the read-only query function, `usage:write` to
ingest, `admin` to admin. Every non-public route carries the Lambda authorizer
(simple responses); public routes carry none. The `$default` route (what no
route matches) goes to the query function without an authorizer: it answers
405 with `Allow`, HEAD of the public pages, trailing slashes and 404 in SPEC
3's error shape (`functions/api/edges.py`), where API Gateway would answer
`{"message": "Not Found"}`. The `$default` stage has access logging (JSON)
and default throttling.

The authorizer has no identity source and no cache. With the Authorization
header as identity source, API Gateway answers a request without it by itself
(401 `{"message": "Unauthorized"}`, a shape SPEC 3 does not allow, and HTTP
APIs cannot restyle their own answers); without one, the authorizer sees every
request and the API answers every 401 the same way. It also means a revoked
key stops working at once, not after the cache's 5 minutes. The price: one
authorizer invocation (a GetItem) per request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import jsii
from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.config import StackConfig
from infra.constructs import log_retention
from infra.constructs.functions import Functions

PUBLIC = "public"
DEFAULT_ROUTE = "$default"
AUTHORIZER_CACHE_TTL = Duration.seconds(0)  # no cache: see the module doc

# HTTP API access log fields ($context variables of HTTP APIs), one JSON object per request.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "principal": "$context.authorizer.principal",
}


def split_route_key(route_key: str) -> tuple[str, str]:
    """`"GET /budgets/{budget_id}"` -> `("GET", "/budgets/{budget_id}")`."""
    method, _, path = route_key.partition(" ")
    if not path.startswith("/") or method.upper() not in apigwv2.HttpMethod.__members__:
        raise ValueError(f"not an API Gateway route key: {route_key!r}")
    return method.upper(), path


def route_construct_id(route_key: str) -> str:
    """A stable, readable construct id: `GET /budgets/{budget_id}` -> `GETBudgetsBudgetIdRoute`."""
    words = re.split(r"[^A-Za-z0-9]+", route_key)
    return "".join(w[:1].upper() + w[1:] for w in words if w) + "Route"


class HttpApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, functions: Functions,
                 routes: Mapping[str, str]) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention(config.log_retention_days))
        self.api = apigwv2.HttpApi(self, "Api", api_name=config.stack_name, create_default_stage=False,
                                   description="aiusage: AI usage and cost ledger")
        self.stage = apigwv2.HttpStage(
            self, "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=config.api_throttle_rate,
                                              burst_limit=config.api_throttle_burst),
            access_log_settings=_AccessLogSettings(self.access_logs),
        )

        self.authorizer = authorizers.HttpLambdaAuthorizer(
            "Authorizer", functions.authorizer,
            authorizer_name=f"{config.stack_name}-authorizer",
            response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
            identity_source=[],
            results_cache_ttl=AUTHORIZER_CACHE_TTL,
        )
        self.routes: dict[str, apigwv2.HttpRoute] = {}
        self._integrations: dict[str, integrations.HttpLambdaIntegration] = {}
        for route_key, route_scope in routes.items():
            self._add_route(route_key, route_scope, functions)
        self._add_default_route(functions)

    @property
    def url(self) -> str:
        return self.stage.url

    def _integration(self, fn: lambda_.IFunction) -> integrations.HttpLambdaIntegration:
        integration = self._integrations.get(fn.node.id)
        if integration is None:
            integration = integrations.HttpLambdaIntegration(
                f"{fn.node.id}Integration", fn, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0)
            self._integrations[fn.node.id] = integration
        return integration

    def _add_default_route(self, functions: Functions) -> None:
        route = apigwv2.HttpRoute(self, "DefaultRoute", http_api=self.api, route_key=apigwv2.HttpRouteKey.DEFAULT,
                                  integration=self._integration(functions.for_scope(PUBLIC)))
        nag.acknowledge(route, "AwsSolutions-APIG4",
                        "$default takes only requests no route matches; it answers 404, 405 with Allow, HEAD of the "
                        "public pages and trailing-slash redirects, and runs no route, so it serves no data "
                        "(functions/api/edges.py).")
        self.routes[DEFAULT_ROUTE] = route

    def _add_route(self, route_key: str, route_scope: str, functions: Functions) -> None:
        method, path = split_route_key(route_key)
        integration = self._integration(functions.for_scope(route_scope))
        construct_id = route_construct_id(route_key)
        if self.node.try_find_child(construct_id) is not None:
            raise ValueError(f"two routes map to the construct id {construct_id}: {route_key!r}")
        route = apigwv2.HttpRoute(
            self, construct_id,
            http_api=self.api,
            route_key=apigwv2.HttpRouteKey.with_(path, apigwv2.HttpMethod[method]),
            integration=integration,
            authorizer=None if route_scope == PUBLIC else self.authorizer,
        )
        if route_scope == PUBLIC:
            nag.acknowledge(route, "AwsSolutions-APIG4",
                            f"{route_key} is public by design (SPEC 2: health, the OpenAPI document and the "
                            "dashboard's static files need no credentials and expose no data).")
        self.routes[route_key] = route


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """`IAccessLogSettings`: the log group, and one JSON object per request."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format
