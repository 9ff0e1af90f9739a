"""Reading request bodies strictly: size, content type, UTF-8, JSON without duplicate keys, bounded nesting.

Floats are parsed as Decimal so money stays exact from the first byte. Nesting
is capped well below Python's recursion limit: every later step that walks
the body (validation, hashing, canonical JSON) recurses, and a body that is
too deep must be a 400, never a RecursionError deep inside the handler.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any

from shared.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64  # objects and arrays inside each other; real bodies use fewer than 8


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
        value = json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValidationFailed.at(
            ["body"], f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ValidationFailed.at(["body"], f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # an integer longer than Python converts (4300 digits)
        raise ValidationFailed.at(["body"], "invalid JSON: a number has too many digits") from None
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    """Walk the parsed body without recursion; too deep is a 400."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValidationFailed.at(["body"], f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def body_bytes(event: dict[str, Any]) -> bytes | None:
    """The request's body checked as every route reads it (1 MiB, JSON content type, base64), or None without one."""
    raw = event.get("body")
    if raw is None or raw == "":
        return None
    try:
        data = (
            base64.b64decode(raw, validate=True)
            if event.get("isBase64Encoded")
            else raw.encode("utf-8", "surrogatepass")
        )
    except (binascii.Error, ValueError):
        raise ValidationFailed.at(["body"], "body is not valid base64") from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is {len(data)} bytes; the limit is {MAX_BODY_BYTES} (1 MiB)")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "")
    if content_type and content_type.split(";")[0].strip().lower() not in ("application/json", "text/json"):
        shown = content_type if len(content_type) <= 100 else content_type[:97] + "..."
        raise UnsupportedMediaType(
            f"header.content-type: must be application/json, not {shown!r}",
            [{"loc": ["header", "content-type"], "msg": f"must be application/json, not {shown!r}"}],
        )
    return data


def body_text(event: dict[str, Any]) -> str | None:
    """`body_bytes` as UTF-8 text (a 400 otherwise)."""
    data = body_bytes(event)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed.at(["body"], "body is not valid UTF-8") from None


def json_body(event: dict[str, Any]) -> Any:
    """The request's JSON body, or a 4xx naming what is wrong with it."""
    text = body_text(event)
    if text is None:
        raise ValidationFailed.at(["body"], "a JSON body is required")
    return parse_json(text)
