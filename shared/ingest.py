"""Recording usage (`POST /ai_usage`) and repricing unpriced events.

`record_usage` validates the whole body first (nothing is written when any
event is bad), normalises provider usage and Claude Code results, prices every
event, then stores them with their aggregate and budget deltas through
`store.record_events`. Re-posting an event id is a `duplicate` (same content)
or a `conflict` (different content; the stored event wins) and changes no total.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared import budgets, pricing, store, table, telemetry
from shared.config import settings
from shared.errors import ValidationFailed
from shared.models import (
    MAX_EVENTS_PER_BATCH,
    Counts,
    UsageBatchIn,
    UsageEvent,
    UsageEventIn,
    canonical_json,
    content_hash,
    format_ts,
    parse,
)
from shared.money import usd
from shared.rollups import CellDelta, Totals, cell_deltas
from shared.usage import UsageShapeError, claude_code_run, normalise_usage

GITHUB_CLAIMS = ("repository", "run_id", "run_attempt", "workflow", "workflow_ref", "actor", "sha", "event_name")


@dataclass
class Recording:
    """The events of one request, priced, with what each will add where."""

    events: list[UsageEvent]
    outcomes: dict[str, store.Outcome]


def parse_events(body: Any) -> list[tuple[tuple[Any, ...], UsageEventIn]]:
    """The posted events with the loc prefix of each; every error of the body at once."""
    if isinstance(body, dict) and "events" in body:
        return [(("events", i), e) for i, e in enumerate(parse(UsageBatchIn, body, "events").events)]
    if not isinstance(body, dict):
        raise ValidationFailed.at([], f"must be an event object or {{\"events\": [...]}} with 1..{MAX_EVENTS_PER_BATCH} events")
    return [((), parse(UsageEventIn, body, "event"))]


def normalise(loc: tuple[Any, ...], inp: UsageEventIn, github_claims: dict[str, Any] | None,
              now: datetime) -> list[UsageEvent]:
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
    common = dict(
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
        id_generated=inp.event_id is None,
        loc=loc,
    )
    if inp.claude_code_result is not None:
        return _claude_code_events(loc, inp, base_id, submitted, common)
    try:
        counts = normalise_usage(inp.service, inp.usage) if inp.usage is not None else Counts(
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
        event_id=base_id, service=inp.service, model=inp.model or "", operation=inp.operation or "completion",
        counts=counts, metadata=inp.metadata, content_hash=content_hash(submitted), **common,
    )
    event.cost_usd = inp.cost_usd  # reported cost, if any; priced later
    return [event]


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
        raise ValidationFailed.at([*loc, "event_id"], f"GitHub OIDC callers must use event ids starting with {prefix!r}")
    github = {**(github or {}), **{k: claims[k] for k in GITHUB_CLAIMS if claims.get(k) is not None}}
    github["run_attempt"] = int(github["run_attempt"]) if "run_attempt" in github else None
    pull = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", str(claims.get("ref") or ""))
    if pull:
        github["pr_number"] = int(pull.group(1))
    return {k: v for k, v in github.items() if v is not None}, event_id


def _claude_code_events(loc: tuple[Any, ...], inp: UsageEventIn, base_id: str, submitted: dict[str, Any],
                        common: dict[str, Any]) -> list[UsageEvent]:
    try:
        run = claude_code_run(inp.claude_code_result)
    except UsageShapeError as exc:
        raise ValidationFailed.at([*loc, "claude_code_result", *exc.loc], str(exc)) from None
    entries = run.entries
    metadata = {**(inp.metadata or {}), **run.metadata}
    if run.error is not None:
        common = {**common, "status": "error", "error": inp.error or run.error}
    events = []
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
        events.append(event)
    return events


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
    events: list[UsageEvent] = []
    errors: list[dict[str, Any]] = []
    for loc, inp in parse_events(body):
        try:
            events.extend(normalise(loc, inp, github_claims, now))
        except ValidationFailed as exc:
            errors.extend(exc.details)
    if errors:
        raise ValidationFailed("invalid events", errors)
    overrides = pricing.load_overrides({e.service for e in events})
    for e in events:
        if not e.model and pricing.requires_model(e.service, e.operation, overrides):
            errors.append({"loc": [*e.loc, "model"], "msg": "Field required (only per-request priced operations may omit it)"})
        pricing.price_event(e, e.cost_usd, overrides)
    if errors:
        raise ValidationFailed("invalid events", errors)
    return events


def record_usage(body: Any, *, github_claims: dict[str, Any] | None = None, now: datetime | None = None,
                 write_stats: store.WriteStats | None = None) -> dict[str, Any]:
    """`POST /ai_usage`: the SPEC 4.5 response. A 200 means the events are in DynamoDB."""
    events = prepare(body, github_claims=github_claims, now=now)
    received_at = format_ts(now or datetime.now(UTC))
    unique = _first_of_each_id(events)
    outcomes: dict[str, store.Outcome] = {}
    remaining = unique
    active: list[budgets.Budget] = []
    while remaining:
        version, active = budgets.load_for_recording()
        writes = [_event_write(e, received_at, version, active) for e in remaining]
        try:
            outcomes.update(store.record_events(writes, version, write_stats))
            remaining = []
        except store.BudgetSetChanged as changed:
            outcomes.update(changed.outcomes)
            remaining = [e for e in remaining if e.event_id not in outcomes]
    created = [e for e in unique if outcomes[e.event_id].status == "created"]
    telemetry.usage_metrics(created)
    budgets.after_recording(created, active)
    return _response(events, unique, outcomes)


def _first_of_each_id(events: list[UsageEvent]) -> list[UsageEvent]:
    """A body may repeat an id; only its first event is written, the others are compared."""
    first: dict[str, UsageEvent] = {}
    for e in events:
        first.setdefault(e.event_id, e)
    return list(first.values())


def _event_write(e: UsageEvent, received_at: str, budget_version: int,
                 active: Sequence[budgets.Budget]) -> store.EventWrite:
    item = event_item(e, received_at, budget_version)
    deltas = cell_deltas([e])
    deltas.update(budgets.spend_deltas(e, active))
    puts = [{**table.unpriced_marker_key(item["ts"], e.event_id), "event_id": e.event_id}] if e.cost_source == "unpriced" else []
    return store.EventWrite(e.event_id, e.content_hash, item, deltas, puts)


def event_item(e: UsageEvent, received_at: str, budget_version: int) -> dict[str, Any]:
    """The stored event: every field flat, GSI keys, TTL."""
    ts = format_ts(e.ts)
    c = e.counts
    item: dict[str, Any] = {
        **table.event_key(e.event_id),
        **table.event_index_keys(event_id=e.event_id, ts=ts, service=e.service, job_id=e.job_id,
                                 batch_id=e.batch_id, repository=e.repository, pr_number=e.pr_number),
        "type": "event",
        "event_id": e.event_id,
        "ts": ts,
        "service": e.service,
        "model": e.model,
        "operation": e.operation,
        "input_tokens": c.input_tokens,
        "cache_read_tokens": c.cache_read_tokens,
        "cache_write_tokens": c.cache_write_tokens,
        "output_tokens": c.output_tokens,
        "reasoning_tokens": c.reasoning_tokens,
        "requests": e.requests,
        "cost_usd": e.cost_usd,
        "cost_source": e.cost_source,
        "status": e.status,
        "content_hash": e.content_hash,
        "received_at": received_at,
        "budget_version": budget_version,
        table.TTL_ATTRIBUTE: int((e.ts + timedelta(days=settings().raw_retention_days)).timestamp()),
    }
    optional = {
        "cache_write_1h_tokens": c.cache_write_1h_tokens or None,
        "web_search_requests": c.web_search_requests or None,
        "usage_details": c.details or None,
        "session_totals": c.session_totals or None,
        "list_cost_usd": e.list_cost_usd,
        "price_source": e.price_source,
        "price_version": e.price_version,
        "service_tier": e.service_tier,
        "credits": e.credits,
        "latency_ms": e.latency_ms,
        "error": e.error,
        "user_id": e.user_id,
        "project": e.project,
        "job_id": e.job_id,
        "batch_id": e.batch_id,
        "github": e.github,
        "tags": e.tags,
        "metadata": canonical_json(e.metadata) if e.metadata is not None else None,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


def _response(events: list[UsageEvent], unique: list[UsageEvent],
              outcomes: dict[str, store.Outcome]) -> dict[str, Any]:
    first = {e.event_id: e for e in unique}
    results = []
    for e in events:
        outcome = outcomes[e.event_id]
        stored = outcome.stored
        status = outcome.status
        if e is not first[e.event_id]:  # a repeat within the body: compare with what is stored
            status = "duplicate" if e.content_hash == stored.get("content_hash") else "conflict"
        results.append({"event_id": e.event_id, "status": status, "cost_usd": usd(stored.get("cost_usd")),
                        "cost_source": stored.get("cost_source")})
    return {
        "accepted": sum(1 for r in results if r["status"] == "created"),
        "duplicates": sum(1 for r in results if r["status"] == "duplicate"),
        "conflicts": sum(1 for r in results if r["status"] == "conflict"),
        "results": results,
    }


def event_json(item: dict[str, Any]) -> dict[str, Any]:
    """A stored event as the API shows it."""
    import json

    out: dict[str, Any] = {"event_id": item["event_id"], "timestamp": item["ts"]}
    for name in ("service", "model", "operation", "input_tokens", "cache_read_tokens", "cache_write_tokens",
                 "cache_write_1h_tokens", "output_tokens", "reasoning_tokens", "web_search_requests", "requests",
                 "latency_ms"):
        if name in item:
            out[name] = int(item[name]) if isinstance(item[name], Decimal) else item[name]
    out["cost_usd"] = usd(item.get("cost_usd"))
    out["cost_source"] = item.get("cost_source")
    if item.get("list_cost_usd") is not None:
        out["list_cost_usd"] = usd(item["list_cost_usd"])
    for name in ("price_source", "price_version", "service_tier", "status", "error", "user_id", "project",
                 "job_id", "batch_id", "tags", "received_at"):
        if item.get(name) is not None:
            out[name] = item[name]
    if item.get("credits") is not None:
        out["credits"] = float(item["credits"])
    if item.get("github"):
        out["github"] = {k: int(v) if isinstance(v, Decimal) else v for k, v in item["github"].items()}
    if item.get("metadata"):
        out["metadata"] = json.loads(item["metadata"])
    return out


def reprice_unpriced(start_date: str, end_date: str) -> dict[str, Any]:
    """Price the `unpriced` events of a date range whose price is now known; every total once."""
    from shared.query import parse_range

    start, end = parse_range(start_date, end_date)
    start_ts, end_ts = f"{start.isoformat()}T", f"{(end + timedelta(days=1)).isoformat()}T"
    examined = repriced = 0
    overrides: dict[str, list[pricing.PriceOverride]] = {}
    budget_set = list(budgets.load_for_recording())  # [version, budgets], reloaded only when it changes
    month = start.replace(day=1)
    while month <= end:
        for marker in store.query_all(table.unpriced_partition(month.strftime("%Y-%m")),
                                      sk_between=(start_ts, end_ts), consistent=True):
            examined += 1
            repriced += _reprice_one(marker["event_id"], overrides, budget_set)
        month = (month + timedelta(days=32)).replace(day=1)
    return {"examined": examined, "repriced": repriced, "still_unpriced": examined - repriced}


def _reprice_one(event_id: str, overrides: dict[str, list[pricing.PriceOverride]], budget_set: list[Any]) -> bool:
    """Reprice one event if a price exists now; the event update, marker delete and deltas are one transaction."""
    while True:
        item = store.get(table.event_key(event_id))
        if item is None or item.get("cost_source") != "unpriced":
            return False
        if item["service"] not in overrides:
            overrides[item["service"]] = pricing.load_overrides({item["service"]})
        event = event_of_item(item)
        pricing.price_event(event, None, overrides[item["service"]])
        if event.cost_source != "computed":
            return False
        version, active = budget_set
        added = Totals(cost_usd=event.cost_usd, unpriced_events=-1, credits=(event.credits or 0) - (item.get("credits") or 0))
        deltas = {k: CellDelta(d.attributes, Totals().add(added))
                  for k, d in {**cell_deltas([event]), **budgets.spend_deltas(event, active)}.items()}
        try:
            return store.reprice_event(item, event, deltas, version)
        except store.BudgetSetChanged:
            budget_set[:] = budgets.load_for_recording()


def event_of_item(item: dict[str, Any]) -> UsageEvent:
    """A stored event back as a `UsageEvent` (for repricing and budget backfill)."""
    import json

    return UsageEvent(
        event_id=item["event_id"],
        ts=datetime.strptime(item["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        service=item["service"],
        model=item["model"],
        operation=item["operation"],
        counts=Counts(
            input_tokens=int(item.get("input_tokens", 0)),
            cache_read_tokens=int(item.get("cache_read_tokens", 0)),
            cache_write_tokens=int(item.get("cache_write_tokens", 0)),
            cache_write_1h_tokens=int(item.get("cache_write_1h_tokens", 0)),
            output_tokens=int(item.get("output_tokens", 0)),
            reasoning_tokens=int(item.get("reasoning_tokens", 0)),
            web_search_requests=int(item.get("web_search_requests", 0)),
            details={k: int(v) for k, v in (item.get("usage_details") or {}).items()},
            session_totals=bool(item.get("session_totals")),
        ),
        requests=int(item.get("requests", 1)),
        cost_usd=item.get("cost_usd"),
        cost_source=item.get("cost_source", "unpriced"),
        service_tier=item.get("service_tier"),
        credits=item.get("credits"),
        status=item.get("status", "ok"),
        user_id=item.get("user_id"),
        project=item.get("project"),
        job_id=item.get("job_id"),
        batch_id=item.get("batch_id"),
        github=item.get("github"),
        tags=item.get("tags"),
        metadata=json.loads(item["metadata"]) if item.get("metadata") else None,
        content_hash=item.get("content_hash", ""),
    )


def reprice_body(body: Any) -> dict[str, Any]:
    """`POST /ai_usage/reprice {"start_date", "end_date"}`."""
    from shared.models import RepriceIn

    request = parse(RepriceIn, body, "reprice request")
    return reprice_unpriced(request.start_date.isoformat(), request.end_date.isoformat())
