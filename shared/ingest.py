"""Recording usage (`POST /ai_usage`): validate, normalise, price, then one conditional put per event.

`record_usage` validates the whole body first (nothing is written when any
event is bad), normalises provider usage and Claude Code results, prices every
event, then writes each event item with `attribute_not_exists(PK)` and nothing
else: no transaction, no item another event shares (SPEC 13). Totals follow
from the table's stream (`shared/aggregation.py`). Re-posting an event id is a
`duplicate` (same content) or a `conflict` (different content; the stored
event wins) and changes no total.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import event_writes, events, pricing, repository, telemetry
from shared.config import settings
from shared.errors import ValidationFailed
from shared.events import UsageEvent
from shared.models import (
    MAX_EVENTS_PER_BATCH,
    Counts,
    UsageBatchIn,
    UsageEventIn,
    content_hash,
    format_ts,
    parse,
)
from shared.money import usd
from shared.retry import retrying
from shared.usage import UsageShapeError, claude_code_run, normalise_usage

GITHUB_CLAIMS = ("repository", "run_id", "run_attempt", "workflow", "workflow_ref", "actor", "sha", "event_name")
PUT_ATTEMPTS = 6
PUT_THREADS = 16  # parallel puts for a batch (a put is ~5 ms; 1,000 events in well under a second)
Located = tuple[tuple[Any, ...], UsageEvent]  # an event and where in the body it came from


@dataclass
class Outcome:
    status: str  # created | duplicate | conflict
    stored: UsageEvent
    written_at: datetime | None = None


def parse_events(body: Any) -> list[tuple[tuple[Any, ...], UsageEventIn]]:
    """The posted events with the loc prefix of each; every error of the body at once."""
    if isinstance(body, dict) and "events" in body:
        return [(("events", i), e) for i, e in enumerate(parse(UsageBatchIn, body, "events").events)]
    if not isinstance(body, dict):
        raise ValidationFailed.at(
            [], f'must be an event object or {{"events": [...]}} with 1..{MAX_EVENTS_PER_BATCH} events'
        )
    return [((), parse(UsageEventIn, body, "event"))]


def normalise(loc: tuple[Any, ...], inp: UsageEventIn, github_claims: dict[str, Any] | None,
              now: datetime) -> list[Located]:
    """One posted event -> the events to store (one per model for a Claude Code result)."""
    errors = [{"loc": [*loc, *field], "msg": msg} for field, msg in inp.field_errors()]
    if errors:
        raise ValidationFailed("invalid event", errors)
    github = inp.github.model_dump(exclude_none=True) if inp.github else None
    base_id = inp.event_id or str(uuid.uuid4())
    if github_claims:
        github, base_id = _stamp_github_claims(loc, inp, github, github_claims)
    submitted = inp.model_dump(exclude_none=True)
    if github is not None:
        submitted["github"] = github
    common: dict[str, Any] = dict(
        ts=inp.timestamp or now,
        requests=inp.requests,
        service_tier=inp.service_tier,
        credits=inp.credits,
        latency_ms=inp.latency_ms,
        status=inp.status,
        error=inp.error,
        user_id=inp.user_id,
        project=inp.project,
        job_id=inp.job_id,
        batch_id=inp.batch_id,
        github=github,
        tags=inp.tags,
    )
    if inp.claude_code_result is not None:
        return _claude_code_events(loc, inp, base_id, submitted, common)
    service = inp.service
    assert service is not None  # field_errors: required unless a Claude Code result gives the services
    try:
        counts = normalise_usage(service, inp.usage) if inp.usage is not None else Counts(
            input_tokens=inp.input_tokens or 0,
            cache_read_tokens=inp.cache_read_tokens or 0,
            cache_write_tokens=inp.cache_write_tokens or 0,
            output_tokens=inp.output_tokens or 0,
            reasoning_tokens=inp.reasoning_tokens or 0,
        )
        _check_parts(counts)
    except UsageShapeError as exc:
        raise ValidationFailed.at([*loc, "usage", *exc.loc], str(exc)) from None
    event = UsageEvent(
        event_id=base_id, service=service, model=inp.model or "", operation=inp.operation or "completion",
        counts=counts, metadata=inp.metadata, content_hash=content_hash(submitted), **common,
    )
    event.cost_usd = inp.cost_usd  # reported cost, if any; priced later
    return [(loc, event)]


def _stamp_github_claims(loc: tuple[Any, ...], inp: UsageEventIn, github: dict[str, Any] | None,
                         claims: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The OIDC token's claims overwrite what the caller says about itself.

    Its event ids live under `gh:<repository>:` (a missing id is generated
    there), so one repository can neither record as another nor take another's
    ids first, which would turn the real run's post into a conflict.
    """
    repository = claims["repository"]
    prefix = f"gh:{repository}:"
    event_id = inp.event_id or prefix + str(uuid.uuid4())
    if not event_id.startswith(prefix):
        raise ValidationFailed.at(
            [*loc, "event_id"], f"GitHub OIDC callers must use event ids starting with {prefix!r}"
        )
    github = {**(github or {}), **{k: claims[k] for k in GITHUB_CLAIMS if claims.get(k) is not None}}
    github["run_attempt"] = int(github["run_attempt"]) if "run_attempt" in github else None
    pull = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", str(claims.get("ref") or ""))
    if pull:
        github["pr_number"] = int(pull.group(1))
    return {k: v for k, v in github.items() if v is not None}, event_id


def _claude_code_events(loc: tuple[Any, ...], inp: UsageEventIn, base_id: str, submitted: dict[str, Any],
                        common: dict[str, Any]) -> list[Located]:
    try:
        assert inp.claude_code_result is not None  # normalise calls this only for a Claude Code result
        run = claude_code_run(inp.claude_code_result)
    except UsageShapeError as exc:
        raise ValidationFailed.at([*loc, "claude_code_result", *exc.loc], str(exc)) from None
    entries = run.entries
    metadata = {**(inp.metadata or {}), **run.metadata}
    if run.error is not None:
        common = {**common, "status": "error", "error": inp.error or run.error}
    located: list[Located] = []
    for entry in entries:
        event_id = f"{base_id}:{_id_safe(entry.model)}"
        if len(event_id) > 128:
            raise ValidationFailed.at([*loc, "event_id"], f"is too long once the model is appended ({event_id!r})")
        event = UsageEvent(
            event_id=event_id, service=inp.service or "anthropic", model=entry.model,
            operation=inp.operation or "code_review", counts=entry.counts, metadata=metadata,
            content_hash=content_hash({**submitted, "_model": entry.model}), **common,
        )
        event.cost_usd = inp.cost_usd if inp.cost_usd is not None and len(entries) == 1 else entry.cost_usd
        located.append((loc, event))
    return located


def _id_safe(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._:@/-]", "-", model)


def _check_parts(c: Counts) -> None:
    if c.cache_read_tokens + c.cache_write_tokens > c.input_tokens:
        raise UsageShapeError("cache tokens exceed the input tokens that include them")
    if c.reasoning_tokens > c.output_tokens:
        raise UsageShapeError("reasoning tokens exceed the output tokens that include them")


def prepare(body: Any, *, github_claims: dict[str, Any] | None = None,
            now: datetime | None = None) -> list[UsageEvent]:
    """Validate, normalise and price every event of a body; raise before anything is written."""
    now = now or datetime.now(UTC)
    located: list[Located] = []
    errors: list[dict[str, Any]] = []
    for loc, inp in parse_events(body):
        try:
            located.extend(normalise(loc, inp, github_claims, now))
        except ValidationFailed as exc:
            errors.extend(exc.details)
    if errors:
        raise ValidationFailed("invalid events", errors)
    overrides = pricing.load_overrides({e.service for _, e in located})
    for loc, e in located:
        if not e.model and pricing.requires_model(e.service, e.operation, overrides):
            errors.append(
                {"loc": [*loc, "model"], "msg": "Field required (only per-request priced operations may omit it)"}
            )
        pricing.price_event(e, e.cost_usd, overrides)
    if errors:
        raise ValidationFailed("invalid events", errors)
    return [e for _, e in located]


def record_usage(
    body: Any, *, github_claims: dict[str, Any] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """`POST /ai_usage`: the SPEC 4.5 response. A 200 means the events are in DynamoDB."""
    prepared = prepare(body, github_claims=github_claims, now=now)
    unique = _first_of_each_id(prepared)
    outcomes = store_events(unique)
    telemetry.usage_metrics([e for e in unique if outcomes[e.event_id].status == "created"])
    return _response(prepared, unique, outcomes)


def store_events(unique: list[UsageEvent]) -> dict[str, Outcome]:
    """Put every event (in parallel for a batch); each is created, a duplicate or a conflict."""
    retention = settings().raw_retention_days
    if len(unique) <= 1:
        return {e.event_id: _put(e, retention) for e in unique}
    with ThreadPoolExecutor(max_workers=min(PUT_THREADS, len(unique))) as pool:
        return dict(zip((e.event_id for e in unique), pool.map(lambda e: _put(e, retention), unique), strict=True))


def _put(e: UsageEvent, retention_days: int) -> Outcome:
    """One conditional put, retried on transient errors with a fresh `received_at` each time.

    A retry after an attempt that did land (its answer was lost) finds the item
    it wrote itself: one of its own stamps tells it apart from a duplicate.
    """
    stamps: list[datetime] = []

    def attempt(_: int) -> tuple[datetime, dict[str, Any] | None]:
        stamp = datetime.now(UTC)
        stamps.append(stamp)
        e.received_at = e.written_at = stamp
        return stamp, repository.current().put_event(events.to_item(e, retention_days))

    stamp, found = retrying(attempt, retry_on=event_writes.is_transient, attempts=PUT_ATTEMPTS)
    if found is None:
        return Outcome("created", e, stamp)
    stored = events.from_item(found)
    if stored.received_at in stamps:
        return Outcome("created", stored, stored.received_at)
    return Outcome("duplicate" if stored.content_hash == e.content_hash else "conflict", stored)


def _first_of_each_id(prepared: list[UsageEvent]) -> list[UsageEvent]:
    """A body may repeat an id; only its first event is written, the others are compared."""
    first: dict[str, UsageEvent] = {}
    for e in prepared:
        first.setdefault(e.event_id, e)
    return list(first.values())


def _response(prepared: list[UsageEvent], unique: list[UsageEvent], outcomes: dict[str, Outcome]) -> dict[str, Any]:
    first = {e.event_id: e for e in unique}
    results = []
    for e in prepared:
        outcome = outcomes[e.event_id]
        status = outcome.status
        if e is not first[e.event_id]:  # a repeat within the body: compare with what is stored
            status = "duplicate" if e.content_hash == outcome.stored.content_hash else "conflict"
        results.append({"event_id": e.event_id, "status": status, "cost_usd": usd(outcome.stored.cost_usd),
                        "cost_source": outcome.stored.cost_source})
    written = [o.written_at for o in outcomes.values() if o.written_at is not None]
    return {
        "accepted": sum(1 for r in results if r["status"] == "created"),
        "duplicates": sum(1 for r in results if r["status"] == "duplicate"),
        "conflicts": sum(1 for r in results if r["status"] == "conflict"),
        "results": results,
        # Totals count these events once `stats.aggregated_through` (GET /ai_usage) reaches this.
        "received_at": format_ts(max(written)) if written else None,
    }
