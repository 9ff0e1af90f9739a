"""Domain exceptions. `functions/api` maps each to its HTTP status in one table."""

from __future__ import annotations

from typing import Any


class AiUsageError(Exception):
    code = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(AiUsageError):
    """Bad input; `details` are `{"loc": [...], "msg": ...}` naming each offending field."""

    code = "validation_error"

    @classmethod
    def at(cls, loc: list[Any] | tuple[Any, ...], msg: str) -> ValidationFailed:
        return cls(f"{'.'.join(str(p) for p in loc) or 'body'}: {msg}", [{"loc": list(loc), "msg": msg}])


class Unauthorized(AiUsageError):
    code = "unauthorized"


class Forbidden(AiUsageError):
    code = "forbidden"


class NotFound(AiUsageError):
    code = "not_found"


class Conflict(AiUsageError):
    code = "conflict"


class PayloadTooLarge(AiUsageError):
    code = "payload_too_large"


class UnsupportedMediaType(AiUsageError):
    """A body in a media type the route does not read (JSON routes read application/json)."""

    code = "unsupported_media_type"
