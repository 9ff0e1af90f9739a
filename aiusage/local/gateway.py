"""API Gateway HTTP API emulation: HTTP request -> payload 2.0 event -> authorizer -> handler.

Runs the very same Lambda handlers as AWS does. Like one Lambda instance, it
serves one request at a time per function (the Powertools resolver keeps the
current event on the module-level app), while DynamoDB sees real concurrency
from several clients.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from functions.api.access import PUBLIC, ROUTES
from functions.api.edges import DEFAULT_ROUTE

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own limit; the handler enforces 1 MiB


@dataclass
class LambdaContext:
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:local"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass(frozen=True)
class CompiledRoute:
    key: str
    method: str
    pattern: re.Pattern[str]
    static: bool


def compile_routes(route_keys: Iterable[str]) -> list[CompiledRoute]:
    routes = []
    for key in route_keys:
        method, path = key.split(" ", 1)
        regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        routes.append(CompiledRoute(key, method, re.compile(f"^{regex}$"), "{" not in path))
    # Like API Gateway: the most specific (static) route wins.
    return sorted(routes, key=lambda r: (not r.static, -len(r.key)))


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps({"error": {"code": code, "message": message, "details": []}})}


class Gateway:
    """A WSGI app that turns HTTP requests into Lambda invocations."""

    def __init__(self, api: Handler, authorizer: Handler, routes: dict[str, str] | None = None,
                 static: Callable[[str], tuple[int, str, bytes] | None] | None = None,
                 access_log: Callable[[str], None] | None = None):
        self._api, self._authorizer = api, authorizer
        self._access_log = access_log  # one line per request, as API Gateway's access log has
        self._scopes = routes or ROUTES
        self._routes = compile_routes(self._scopes)
        self._static = static
        self._lock = threading.Lock()

    def match(self, method: str, path: str) -> tuple[CompiledRoute | None, dict[str, str]]:
        for route in self._routes:
            m = route.pattern.match(path)
            if m and route.method == method:
                return route, m.groupdict()
        return None, {}

    def invoke(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
               source_ip: str = "127.0.0.1") -> dict[str, Any]:
        route, params = self.match(method, path)
        if route is None:
            # Like API Gateway: a request no route matches goes to the $default route (the API
            # function, no authorizer), which answers 405, HEAD, a trailing slash or 404.
            route, params = CompiledRoute(DEFAULT_ROUTE, method, re.compile(""), False), {}
        event = self._event(route, params, method, path, query, headers, body, source_ip)
        if route.key != DEFAULT_ROUTE and self._scopes[route.key] != PUBLIC:
            # The authorizer has no identity source, so API Gateway calls it even without an
            # Authorization header, and the API answers every 401 in SPEC 3's shape.
            with self._lock:
                decision = self._authorizer(
                    self._authorizer_event(event), LambdaContext("authorizer", event["requestContext"]["requestId"])
                )
            if not decision.get("isAuthorized"):
                return error_body(403, "forbidden", "denied by the authorizer")
            event["requestContext"]["authorizer"] = {"lambda": decision.get("context") or {}}
        with self._lock:
            return self._api(event, LambdaContext("api", event["requestContext"]["requestId"]))

    @staticmethod
    def _event(route: CompiledRoute, params: dict[str, str], method: str, path: str, query: str,
               headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
        lowered: dict[str, str] = {}
        for k, v in headers.items():
            k = k.lower()
            lowered[k] = f"{lowered[k]},{v}" if k in lowered else v
        query_params: dict[str, str] = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            query_params[k] = f"{query_params[k]},{v}" if k in query_params else v
        content_type = lowered.get("content-type", "")
        text = not content_type or content_type.startswith(TEXT_TYPES)
        try:
            body_text = body.decode("utf-8") if text else None
        except UnicodeDecodeError:
            body_text = None
        now = datetime.now(UTC)
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": lowered,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "domainName": lowered.get("host", "127.0.0.1"),
                "domainPrefix": "local",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                         "userAgent": lowered.get("user-agent", "")},
                "requestId": str(uuid.uuid4()),
                "routeKey": route.key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if query_params:
            event["queryStringParameters"] = query_params
        if params:
            event["pathParameters"] = params
        if body:
            if body_text is not None:
                event["body"] = body_text
            else:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        return event

    @staticmethod
    def _authorizer_event(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:us-east-1:000000000000:local/$default/"
            + event["routeKey"].replace(" ", ""),
            "identitySource": [event["headers"].get("authorization", "")],
            "routeKey": event["routeKey"],
            "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"],
            "headers": event["headers"],
            "queryStringParameters": event.get("queryStringParameters"),
            "requestContext": event["requestContext"],
            "pathParameters": event.get("pathParameters"),
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        from werkzeug.wrappers import Request

        request = Request(environ)
        path = request.path
        started = time.perf_counter()
        if self._static is not None and request.method == "GET":
            served = self._static(path)
            if served is not None:
                status, content_type, payload = served
                start_response(f"{status} OK", [("Content-Type", content_type), ("Content-Length", str(len(payload)))])
                self._log(request.method, path, environ, status, started)
                return [payload]
        length = request.content_length or 0
        if length > MAX_REQUEST_BYTES:
            result = error_body(413, "payload_too_large", "request larger than 10 MB")
        else:
            body = request.get_data(cache=False)
            query = environ.get("QUERY_STRING", "")
            try:
                result = self.invoke(request.method, path, query, dict(request.headers.items()), body,
                                     request.remote_addr or "127.0.0.1")
            except Exception as exc:  # a crashed Lambda: API Gateway answers 500
                import logging

                logging.getLogger("aiusage.local").exception("handler failed: %s", exc)
                result = error_body(500, "internal_error", "internal error")
        answer = self._respond(result, start_response, started)
        self._log(request.method, path, environ, int(result.get("statusCode", 200)), started)
        return answer

    def _log(self, method: str, path: str, environ: dict[str, Any], status: int, started: float) -> None:
        """`12:00:01 GET /ai_usage?aggregation=day 200 14 ms`: never a header, so never a key."""
        if self._access_log is None:
            return
        query = environ.get("QUERY_STRING", "")
        target = f"{path}?{query}" if query else path
        elapsed = (time.perf_counter() - started) * 1000
        self._access_log(f"{datetime.now():%H:%M:%S} {method} {target} {status} {elapsed:.0f} ms")

    @staticmethod
    def _respond(result: dict[str, Any], start_response: Callable[..., Any], started: float) -> list[bytes]:
        from http import HTTPStatus

        status = int(result.get("statusCode", 200))
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for k, values in (result.get("multiValueHeaders") or {}).items():
            headers[k.lower()] = ",".join(map(str, values))
        headers.setdefault("content-type", "application/json")
        headers["content-length"] = str(len(payload))
        headers["x-aiusage-duration-ms"] = f"{(time.perf_counter() - started) * 1000:.1f}"
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
        start_response(f"{status} {phrase}", list(headers.items()))
        return [payload]
