"""The one table mapping domain exceptions to HTTP, in SPEC 3's JSON error format."""

from __future__ import annotations

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


def register(app: Any) -> None:
    @app.exception_handler(AiUsageError)
    def _domain(exc: AiUsageError) -> Response:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)
        return error_response(status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    def _request_validation(exc: RequestValidationError) -> Response:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()]
        return error_response(400, "validation_error", "invalid request", details)

    @app.exception_handler(NotFoundError)
    def _not_found(exc: NotFoundError) -> Response:
        return error_response(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response:
        # Logged with its stack trace; the body never carries internals.
        logger.exception("unhandled error")
        return error_response(INTERNAL_ERROR, "internal_error", "internal error; the request id is in the logs")
