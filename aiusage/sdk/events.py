"""Building the event objects the SDK sends (SPEC 4.1).

Owns the allowed field names, client-side event ids, timestamps, error text,
and the conversion of an event to plain JSON so that what is queued, written
to files and spooled can never change after it was recorded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

EVENT_FIELDS = frozenset(
    {
        "event_id",
        "timestamp",
        "service",
        "model",
        "operation",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "requests",
        "usage",
        "claude_code_result",
        "cost_usd",
        "service_tier",
        "credits",
        "latency_ms",
        "status",
        "error",
        "user_id",
        "project",
        "job_id",
        "batch_id",
        "github",
        "tags",
        "metadata",
    }
)
MAX_ERROR_CHARS = 1000
USAGE_MISSING = "usage_missing"


def new_event_id() -> str:
    # Generated once per event, before the first send, so every retry and every
    # resend from the spool carries the same id and the server dedups it.
    return f"sdk:{uuid.uuid4()}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def check_fields(fields: Mapping[str, Any]) -> None:
    # The server rejects unknown fields with a 400 for the whole batch, so a
    # typo is reported to the caller at once instead of poisoning a batch.
    unknown = set(fields) - EVENT_FIELDS
    if unknown:
        raise TypeError(f"unknown event field(s) {sorted(unknown)}; allowed: {sorted(EVENT_FIELDS)}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def to_json_line(event: Mapping[str, Any]) -> str:
    return json.dumps(event, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def build_event(
    fields: Mapping[str, Any], context: Mapping[str, Any], default_user_id: str | None
) -> dict[str, Any]:
    """Merge explicit fields over the context over the tracker defaults.

    Returns a deep, JSON-only copy: later changes to the caller's dicts (tags,
    usage) cannot alter an event that is already queued.
    """
    event: dict[str, Any] = {}
    if default_user_id:
        event["user_id"] = default_user_id
    event.update(context)
    for key, value in fields.items():
        if value is None:
            continue
        if key == "tags" and isinstance(value, Mapping):
            event["tags"] = {**event.get("tags", {}), **{str(k): str(v) for k, v in value.items()}}
        else:
            event[key] = value
    # Id and time first, so spool and file lines read naturally.
    ordered = {
        "event_id": event.pop("event_id", None) or new_event_id(),
        "timestamp": event.pop("timestamp", None) or utc_now(),
    }
    ordered.update(event)
    return json.loads(to_json_line(ordered))
