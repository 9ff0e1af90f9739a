"""The one table mapping domain exceptions to HTTP, in SPEC 3's JSON error format."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from shared.errors import (
    AiUsageError,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)

logger = Logger(service="aiusage")

STATUS = {
    ValidationFailed: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
}
INTERNAL_ERROR = 500

# What each error answer means, for the OpenAPI document (`functions/api/openapi.py`).
MEANING = {
    400: "Invalid request (`validation_error`): `details` name each offending field; nothing was written",
    401: "No valid credential (`unauthorized`): missing or malformed bearer header, unknown or revoked key, "
         "or a GitHub OIDC token that does not verify",
    403: "Valid credential without the scope this route needs (`forbidden`)",
    404: "No such thing (`not_found`)",
    405: "The path exists but not for this method (`method_not_allowed`); the `Allow` header lists its methods",
    409: "Conflicting change (`conflict`)",
    413: "Body over 1 MiB (`payload_too_large`)",
    415: "A body that is not `application/json` (`unsupported_media_type`)",
    500: "Internal error (`internal_error`): no stack trace or AWS internals; the request id is in the logs",
}


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """SPEC 3's error JSON: `{"error": {"code", "message", "details"}}`."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=error_body(code, message, details))


def status_of(exc: AiUsageError) -> int:
    return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), INTERNAL_ERROR)


def gateway_error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                  headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The same error as an API Gateway (payload 2.0) answer, for requests answered before the resolver runs."""
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(error_body(code, message, details)), "isBase64Encoded": False}


def register(app: Any) -> None:
    @app.exception_handler(AiUsageError)
    def _domain(exc: AiUsageError) -> Response:
        return error_response(status_of(exc), exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    def _request_validation(exc: RequestValidationError) -> Response:
        """Every parameter and body the route signatures validate: 400 with SPEC 3's details."""
        route = app.context.get("_route")
        body_prefix = _keeps_body_prefix(route)
        details = [{"loc": _loc(e.get("loc", ()), body_prefix), "msg": _msg(e)} for e in exc.errors()]
        return error_response(400, "validation_error", "invalid request", details)

    @app.exception_handler(NotFoundError)
    def _not_found(exc: NotFoundError) -> Response:
        return error_response(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response:
        # Logged with its stack trace; the body never carries internals.
        logger.exception("unhandled error")
        return error_response(INTERNAL_ERROR, "internal_error", "internal error; the request id is in the logs")


def _keeps_body_prefix(route: Any) -> bool:
    """Errors inside a body model name the field from the body's root (`["events", 3, "input_tokens"]`, SPEC 3);
    a body model with `LOC_PREFIX = ("body",)` keeps Powertools' `body` first, as its route always answered."""
    params = getattr(getattr(route, "dependant", None), "body_params", None) or []
    return any(getattr(p.field_info.annotation, "LOC_PREFIX", ()) == ("body",) for p in params)


def _loc(loc: Any, body_prefix: bool) -> list[Any]:
    parts = list(loc)
    if parts[:1] == ["body"] and len(parts) > 1 and not body_prefix:
        return parts[1:]
    return parts


def _msg(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")
