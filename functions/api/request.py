"""Reading request bodies strictly: size, content type, UTF-8, JSON without duplicate keys.

Floats are parsed as Decimal so money stays exact from the first byte.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any

from shared.errors import PayloadTooLarge, ValidationFailed

MAX_BODY_BYTES = 1024 * 1024


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise ValidationFailed.at([k], "duplicate key in JSON object")
        obj[k] = v
    return obj


def _reject_constant(name: str) -> Any:
    raise ValidationFailed.at(["body"], f"{name} is not valid JSON")


def parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValidationFailed.at(["body"], f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValidationFailed.at(["body"], "JSON nested too deeply") from None


def json_body(event: dict[str, Any]) -> Any:
    """The request's JSON body, or a 4xx naming what is wrong with it."""
    raw = event.get("body")
    if raw is None or raw == "":
        raise ValidationFailed.at(["body"], "a JSON body is required")
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError):
        raise ValidationFailed.at(["body"], "body is not valid base64") from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is {len(data)} bytes; the limit is {MAX_BODY_BYTES} (1 MiB)")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "")
    if content_type and content_type.split(";")[0].strip().lower() not in ("application/json", "text/json"):
        raise ValidationFailed.at(["header", "content-type"], f"must be application/json, not {content_type!r}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed.at(["body"], "body is not valid UTF-8") from None
    return parse_json(text)
