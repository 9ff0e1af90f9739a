"""The stored usage event: the `UsageEvent` model and its one codec (model <-> item <-> JSON).

Every module that writes, reads or shows an event goes through here, so the
item, the stream images the aggregator folds, and the API's JSON view can
never drift apart: attributes are derived from the model's fields, not listed
field by field in several places.

The item is kept small (SPEC 12: an ordinary event is at most 1 KB, one write
unit for the item and one for each GSI entry): fields equal to their default
(zero counters, `requests` 1, `status` ok, ...) are not stored, the event id
lives in the key only, and metadata over `COMPRESS_METADATA_OVER` bytes is
stored zlib-compressed.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import table
from shared.models import Counts, canonical_json, format_ts
from shared.money import usd

CostSource = Literal["reported", "computed", "unpriced"]
COUNT_FIELDS = tuple(f.name for f in fields(Counts))
# The plain token counters (the others: per-modality `details`, and the `session_totals` flag).
TOKEN_COUNTERS = tuple(f.name for f in fields(Counts) if f.type in (int, "int"))
COMPRESS_METADATA_OVER = 200
MONEY_FIELDS = ("cost_usd", "list_cost_usd", "credits")
# Kept on the model but never part of the stored item or the JSON view.
_NOT_STORED = {"event_id", "counts", "ts", "metadata", "received_at", "written_at"}


class RepricedFrom(BaseModel):
    """What an event counted before it was repriced (a budget created in between counts it as it was then)."""

    cost_usd: Decimal
    credits: Decimal | None = None


class UsageEvent(BaseModel):
    """A normalised, priced event: what is stored, aggregated and shown."""

    model_config = ConfigDict(validate_assignment=False)

    event_id: str
    ts: datetime
    service: str
    model: str = ""
    operation: str = "completion"
    counts: Counts = Field(default_factory=Counts)
    requests: int = 1
    cost_usd: Decimal | None = None
    cost_source: CostSource = "unpriced"
    list_cost_usd: Decimal | None = None
    price_source: str | None = None
    price_version: str | None = None
    service_tier: str | None = None
    credits: Decimal | None = None
    latency_ms: int | None = None
    status: str = "ok"
    error: str | None = None
    user_id: str | None = None
    project: str | None = None
    job_id: str | None = None
    batch_id: str | None = None
    github: dict[str, Any] | None = None
    tags: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None
    content_hash: str = ""
    # When ingest wrote it; the boundary between a new budget's backfill and the aggregator.
    received_at: datetime | None = None
    # When it was last written: `received_at`, or the moment it was repriced.
    written_at: datetime | None = None
    repriced_from: RepricedFrom | None = None

    @property
    def repository(self) -> str | None:
        return (self.github or {}).get("repository")

    @property
    def pr_number(self) -> int | None:
        value = (self.github or {}).get("pr_number")
        return int(value) if value is not None else None

    @property
    def last_written(self) -> datetime | None:
        return self.written_at or self.received_at


# --- item ------------------------------------------------------------------------------------


def to_item(e: UsageEvent, retention_days: int) -> dict[str, Any]:
    """The DynamoDB item of an event: its key, GSI keys, TTL and every non-default field."""
    ts = format_ts(e.ts)
    item: dict[str, Any] = {
        **table.event_key(e.event_id),
        **table.event_index_keys(event_id=e.event_id, ts=ts, service=e.service, job_id=e.job_id,
                                 batch_id=e.batch_id, repository=e.repository, pr_number=e.pr_number,
                                 unpriced=e.cost_source == "unpriced"),
        "ts": ts,
        **{k: v for k, v in asdict(e.counts).items() if v},
        **e.model_dump(exclude=_NOT_STORED, exclude_defaults=True, exclude_none=True),
        "cost_source": e.cost_source,  # always: the reprice condition reads it
        table.TTL_ATTRIBUTE: int((e.ts + timedelta(days=retention_days)).timestamp()),
    }
    if e.received_at is not None:
        item["received_at"] = format_ts(e.received_at)
    if e.written_at is not None and e.written_at != e.received_at:
        item["written_at"] = format_ts(e.written_at)
    if e.metadata is not None:
        text = canonical_json(e.metadata)
        if len(text) > COMPRESS_METADATA_OVER:
            item["metadata_z"] = zlib.compress(text.encode("utf-8"), 9)
        else:
            item["metadata"] = text
    return item


def from_item(item: dict[str, Any]) -> UsageEvent:
    """An event back from its item (or from a stream image of it)."""
    data = {k: v for k, v in item.items() if k in UsageEvent.model_fields and k not in _NOT_STORED}
    metadata = None
    if "metadata_z" in item:
        raw = item["metadata_z"]
        metadata = json.loads(zlib.decompress(getattr(raw, "value", raw)))
    elif "metadata" in item:
        metadata = json.loads(item["metadata"])
    if data.get("github"):
        data["github"] = {k: int(v) if isinstance(v, Decimal) else v for k, v in data["github"].items()}
    return UsageEvent(
        **data,
        event_id=table.event_id_of_key(item["PK"]),
        ts=parse_ts(item["ts"]),
        counts=Counts(**{k: int(item.get(k, 0)) for k in TOKEN_COUNTERS},
                      details={k: int(v) for k, v in (item.get("details") or {}).items()},
                      session_totals=bool(item.get("session_totals"))),
        metadata=metadata,
        received_at=parse_ts(item["received_at"]) if "received_at" in item else None,
        written_at=parse_ts(item["written_at"]) if "written_at" in item else None,
    )


def sort_key(e: UsageEvent) -> str:
    """The event's sort key in every event GSI: time order, then id."""
    return f"{format_ts(e.ts)}#{e.event_id}"


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item in bytes (names + values, as AWS documents the rule)."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3 Binary
        return len(value.value)
    if isinstance(value, int | float | Decimal):
        digits = len(Decimal(value).normalize().as_tuple().digits)
        return (digits + 1) // 2 + 1
    if isinstance(value, dict):
        return 3 + sum(len(k.encode("utf-8")) + 1 + _value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return 3 + sum(1 + _value_size(v) for v in value)
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


# --- JSON (the API's view: GET /ai_usage/events) ----------------------------------------------


def to_json(e: UsageEvent) -> dict[str, Any]:
    """A stored event as the API shows it: counters always, optional fields when set, money rounded once."""
    out: dict[str, Any] = {"event_id": e.event_id, "timestamp": format_ts(e.ts), "service": e.service,
                           "model": e.model, "operation": e.operation}
    counts = {k: getattr(e.counts, k) for k in TOKEN_COUNTERS}
    out.update({k: v for k, v in counts.items() if v or k not in ("cache_write_1h_tokens", "web_search_requests")})
    out["requests"] = e.requests
    shown = e.model_dump(exclude=_NOT_STORED | {"service", "model", "operation", "requests", "content_hash",
                                               "repriced_from"}, exclude_none=True)
    for name in MONEY_FIELDS:
        if name in shown:
            shown[name] = usd(shown[name]) if name != "credits" else float(shown[name])
    out.update(shown)
    out.setdefault("cost_usd", None)
    if e.received_at is not None:
        out["received_at"] = format_ts(e.received_at)
    if e.metadata is not None:
        out["metadata"] = e.metadata
    return out


# --- what an event adds to totals ----------------------------------------------------------


def counted_as_of(e: UsageEvent, moment: datetime) -> UsageEvent:
    """The event as it counted at `moment`: before a later reprice, its unpriced self."""
    if e.repriced_from is None or e.written_at is None or e.written_at < moment:
        return e
    return e.model_copy(update={"cost_usd": e.repriced_from.cost_usd, "credits": e.repriced_from.credits,
                                "cost_source": "unpriced", "written_at": e.received_at, "repriced_from": None})
