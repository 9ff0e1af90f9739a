"""The HTTP API (API Gateway v2): every route of `functions/api/access.ROUTES`, nothing else.

A route's scope picks its integration (`Functions.for_scope`): public and
`usage:read` routes go to the read-only query function, `usage:write` to
ingest, `admin` to admin. Every non-public route carries the Lambda authorizer
(simple responses, identity = the Authorization header, cached 5 minutes);
public routes carry none. The `$default` stage has access logging (JSON) and
default throttling.
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
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.config import StackConfig
from infra.constructs import log_retention
from infra.constructs.functions import Functions

PUBLIC = "public"
AUTHORIZATION_HEADER = "$request.header.Authorization"
AUTHORIZER_CACHE_TTL = Duration.minutes(5)

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
            identity_source=[AUTHORIZATION_HEADER],
            results_cache_ttl=AUTHORIZER_CACHE_TTL,
        )
        self.routes: dict[str, apigwv2.HttpRoute] = {}
        self._integrations: dict[str, integrations.HttpLambdaIntegration] = {}
        for route_key, route_scope in routes.items():
            self._add_route(route_key, route_scope, functions)

    @property
    def url(self) -> str:
        return self.stage.url

    def _add_route(self, route_key: str, route_scope: str, functions: Functions) -> None:
        method, path = split_route_key(route_key)
        fn = functions.for_scope(route_scope)
        integration = self._integrations.get(fn.node.id)
        if integration is None:
            integration = integrations.HttpLambdaIntegration(
                f"{fn.node.id}Integration", fn, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0)
            self._integrations[fn.node.id] = integration
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
