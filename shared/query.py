"""Answering `GET /ai_usage`, `GET /ai_usage/events` and `POST /ai_usage/estimate`.

`GET /ai_usage` reads pre-aggregated cells whenever they can answer: the
service x model x operation cells (by hour or by day) for time, service, model
and operation views, and the dimension cells for user, project and repository
by day. Only job, batch and PR views (and cross filters no cell holds) read raw
events, through their GSIs and never more than `MAX_RAW_EVENTS` of them.
Every answer's `stats` says what DynamoDB returned and how fresh the totals
are (`aggregated_through`: the cells follow the event stream).

Event GSI partitions and cell partitions are sharded (`shared/table.py`):
readers fan out over the shards and merge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared import budgets, events, freshness, periods, pricing, store, table
from shared.errors import ValidationFailed
from shared.events import UsageEvent
from shared.models import Counts, EstimateIn
from shared.money import ZERO, round_usd, usd
from shared.rollups import (
    CELL_NAMES,
    DIMENSION_NAMES,
    TIME_NAMES,
    Folded,
    Record,
    fold,
    record_of_cell,
    record_of_event,
)

MAX_RAW_EVENTS = 20_000
FILTERS = ("service", "model", "operation", "user_id", "project", "job_id", "batch_id", "repository", "pr_number")
CELL_FILTERS = ("service", "model", "operation")
DIMENSION_FILTERS = {"user_id": "user", "project": "project", "repository": "repository", "job_id": "job",
                     "batch_id": "batch"}
REF_FILTERS = ("pr_number",)


@dataclass
class UsageQuery:
    """What `GET /ai_usage` asks: an inclusive date range, breakdowns, cross-tab dimensions and filters
    (name -> any of these values; `pr_number` needs `repository`)."""

    start: date
    end: date
    aggregation: list[str]
    group_by: list[str]
    filters: dict[str, list[str]] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return set(self.aggregation) | set(self.group_by)


@dataclass
class UsageAnswer:
    """The exact answer to a usage query, and what DynamoDB returned for it (`stats`, with freshness)."""

    query: UsageQuery
    folded: Folded
    stats: dict[str, Any]


# --- GET /ai_usage ---------------------------------------------------------------------------


def query_usage(q: UsageQuery) -> UsageAnswer:
    stats = store.ReadStats()
    now = datetime.now(UTC)
    fresh = freshness.freshness_json(now, stats)  # read first: the cells are at least this fresh
    folded = aggregate(q, stats)
    return UsageAnswer(q, folded, {**stats.as_json(), **fresh})


def aggregate(q: UsageQuery, stats: store.ReadStats | None = None) -> Folded:
    """The exact (unrounded) answer to a usage query, from cells wherever cells can answer."""
    stats = stats if stats is not None else store.ReadStats()
    if _needs_raw_events(q):
        return fold(_event_records(q, stats), q.aggregation, q.group_by)
    if dim_filter := _dimension_filter(q):
        return fold(_dimension_records(dim_filter, q, stats), q.aggregation, q.group_by)
    return _from_cells(q, stats)


def _needs_raw_events(q: UsageQuery) -> bool:
    """True when no family of cells holds every dimension this answer needs together."""
    names = q.names
    dims_filtered = {DIMENSION_FILTERS[f] for f in q.filters if f in DIMENSION_FILTERS}
    cell_filtered = any(f in q.filters for f in CELL_FILTERS)
    if any(f in q.filters for f in REF_FILTERS) or len(dims_filtered) > 1:
        return True
    if dims_filtered:
        (dim,) = dims_filtered
        return cell_filtered or bool(names - {"day", "week", "month", dim})
    group_dims = set(q.group_by) & set(DIMENSION_NAMES)
    if group_dims and (len(group_dims) > 1 or set(q.group_by) - {"day", "week", "month", *group_dims}):
        return True
    return bool(names & set(DIMENSION_NAMES)) and (cell_filtered or "hour" in q.group_by)


def _dimension_filter(q: UsageQuery) -> tuple[str, list[str]] | None:
    for f, dim in DIMENSION_FILTERS.items():
        if f in q.filters:
            return dim, q.filters[f]
    return None


def _months(start: date, end: date) -> Iterator[str]:
    yield from budgets.months_between(start, end)


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _day_range_in_month(month: str, start: date, end: date) -> tuple[str, str]:
    first = start.strftime("%d") if start.strftime("%Y-%m") == month else "01"
    last = end.strftime("%d") if end.strftime("%Y-%m") == month else "31"
    return table.cell_sort_range(first, last)


def _service_cells(q: UsageQuery, stats: store.ReadStats, *, hourly: bool) -> Iterator[Record]:
    if hourly:
        for day in _days(q.start, q.end):
            for partition in table.hour_cell_partitions(day.isoformat()):
                for item in store.query_all(partition, stats=stats):
                    yield record_of_cell(item)
    else:
        for month in _months(q.start, q.end):
            for partition in table.day_cell_partitions(month):
                for item in store.query_all(
                    partition, sk_between=_day_range_in_month(month, q.start, q.end), stats=stats
                ):
                    yield record_of_cell(item)


def _dimension_records(
    dim_filter: tuple[str, list[str] | None], q: UsageQuery, stats: store.ReadStats
) -> Iterator[Record]:
    dim, values = dim_filter
    for month in _months(q.start, q.end):
        for partition in table.dimension_cell_partitions(dim, month):
            for item in store.query_all(partition, sk_between=_day_range_in_month(month, q.start, q.end), stats=stats):
                if values is None or item["value"] in values:
                    yield record_of_cell(item)


def _matches(record: Record, filters: Mapping[str, list[str]]) -> bool:
    return all(record.dims.get(name) in values for name, values in filters.items() if name in CELL_FILTERS)


def _from_cells(q: UsageQuery, stats: store.ReadStats) -> Folded:
    """Summary and time/service/model/operation views from service cells; dimensions from theirs."""
    cell_names = [n for n in q.aggregation if n in TIME_NAMES or n in CELL_NAMES]
    group_dims = [n for n in q.group_by if n in DIMENSION_NAMES]
    records = (r for r in _service_cells(q, stats, hourly="hour" in q.names) if _matches(r, q.filters))
    folded = fold(records, cell_names, [] if group_dims else q.group_by)
    for name in (n for n in q.aggregation if n in DIMENSION_NAMES):
        # Hour breakdowns of a dimension are not kept; day cells answer its by_<name> map.
        folded.by[name] = fold(_dimension_records((name, None), q, stats), [name], []).by[name]
    if group_dims:
        folded.rows = fold(_dimension_records((group_dims[0], None), q, stats), [], q.group_by).rows
    return folded


def _event_records(q: UsageQuery, stats: store.ReadStats) -> Iterator[Record]:
    for read, e in enumerate(_raw_events(q, stats), start=1):
        if read > MAX_RAW_EVENTS:
            raise ValidationFailed.at(
                ["query"], f"this view reads raw events and would read more than {MAX_RAW_EVENTS}; "
                           "narrow the date range or filter by job_id, batch_id or pr_number")
        record = record_of_event(e)
        if _event_matches(e, record, q.filters):
            yield record


def _event_matches(e: UsageEvent, record: Record, filters: Mapping[str, list[str]]) -> bool:
    for name, values in filters.items():
        if name == "pr_number":
            if e.pr_number is None or str(e.pr_number) not in values:
                return False
            continue
        if record.dims.get(DIMENSION_FILTERS.get(name, name)) not in values:
            return False
    return True


def _time_bounds(start: date, end: date) -> tuple[str, str]:
    return table.time_sort_bounds(f"{start.isoformat()}T", f"{(end + timedelta(days=1)).isoformat()}T")


def _raw_events(q: UsageQuery, stats: store.ReadStats) -> Iterator[UsageEvent]:
    """The events of the query's range, read through the narrowest index its filters allow."""
    bounds = _time_bounds(q.start, q.end)
    f = q.filters
    groups: list[list[tuple[table.Gsi, str]]]
    if "job_id" in f:
        groups = [_shards(table.GSI_BY_JOB, table.job_partition, job) for job in f["job_id"]]
    elif "batch_id" in f:
        groups = [_shards(table.GSI_BY_BATCH, table.batch_partition, batch) for batch in f["batch_id"]]
    elif "pr_number" in f:
        groups = [_shards(table.GSI_BY_PR, table.pr_partition, repo, int(pr))
                  for repo in f["repository"] for pr in f["pr_number"]]
    else:
        groups = _service_month_groups(q.start, q.end, f.get("service"), stats)
    for group in groups:
        for index, partition in group:
            for item in store.query_all(partition, index=index, sk_between=bounds, stats=stats):
                yield events.from_item(item)


def _shards(index: table.Gsi, partition: Any, *args: Any) -> list[tuple[table.Gsi, str]]:
    """Every shard of one logical GSI partition."""
    return [(index, partition(*args, n)) for n in table.shard_range(table.EVENT_INDEX_SHARDS)]


def _service_month_groups(start: date, end: date, services: list[str] | None,
                          stats: store.ReadStats) -> list[list[tuple[table.Gsi, str]]]:
    """Newest month first: the service GSI partitions of the given services, or of every service
    the day cells saw in that month's part of the range."""
    groups = []
    for month in reversed(list(_months(start, end))):
        month_start = date.fromisoformat(month + "-01")
        month_end = periods.month_end(month_start)
        first, last = max(start, month_start), min(end, month_end)
        names = services if services is not None else _services_in(month, first, last, stats)
        groups.append([p for service in names for p in _shards(table.GSI_BY_SERVICE, table.service_month_partition,
                                                                 service, month)])
    return groups


def _services_in(month: str, first: date, last: date, stats: store.ReadStats) -> list[str]:
    found: set[str] = set()
    for partition in table.day_cell_partitions(month):
        for item in store.query_all(
            partition,
            sk_between=table.cell_sort_range(first.strftime("%d"), last.strftime("%d")),
            attributes=["service"],
            stats=stats,
        ):
            found.add(item["service"])
    return sorted(found)


# --- GET /ai_usage/events ---------------------------------------------------------------------


MAX_LISTING_SCAN = 50_000  # items a repository listing may read (and drop) to fill one page


@dataclass
class EventsQuery:
    """What `GET /ai_usage/events` asks: a date range, at most one of service, job_id, batch_id, pr_number
    (with repository), optionally a repository, a page size and the previous page's token."""

    start: date
    end: date
    service: str | None = None
    job_id: str | None = None
    batch_id: str | None = None
    pr_number: int | None = None
    repository: str | None = None
    limit: int = 100
    next_token: str | None = None


@dataclass
class EventsPage:
    events: list[UsageEvent]
    next_token: str | None
    stats: dict[str, Any]


def list_events(q: EventsQuery) -> EventsPage:
    """Stored events newest first, read through the narrowest index the filters allow, merged over
    its shards; `next_token` is opaque (a month position and the last sort key returned)."""
    lo, hi = _time_bounds(q.start, q.end)
    stats = store.ReadStats()
    groups, where = _listing(q, stats)
    asked = [q.start.isoformat(), q.end.isoformat(), q.service, q.job_id, q.batch_id,
             None if q.pr_number is None else str(q.pr_number), q.repository]
    fingerprint = hashlib.sha256(json.dumps(asked).encode()).hexdigest()[:16]
    position, boundary = _decode_token(q.next_token, fingerprint)
    found: list[UsageEvent] = []
    while position < len(groups) and len(found) < q.limit:
        top = boundary if boundary is not None else hi
        page, more = _merge_newest(groups[position], (lo, top), boundary, q.limit - len(found), where, stats)
        found.extend(page)
        if more:
            boundary = events.sort_key(found[-1]) if found else boundary
            if not page:
                raise ValidationFailed.at(["query", "repository"], f"read {MAX_LISTING_SCAN} events without one of "
                                          "this repository; narrow the date range or add service or pr_number")
            break
        position, boundary = position + 1, None
    more = position < len(groups)
    return EventsPage(found, _encode_token(position, boundary, fingerprint) if more else None, stats.as_json())


def _listing(q: EventsQuery,
             stats: store.ReadStats) -> tuple[list[list[tuple[table.Gsi, str]]], tuple[list[str], str] | None]:
    """The groups of partitions to list, newest group first, and a filter on what they hold."""
    chosen = [name for name in ("service", "job_id", "batch_id", "pr_number") if getattr(q, name) is not None]
    if len(chosen) > 1:
        raise ValidationFailed.at(
            ["query", chosen[1]], f"give one of service, job_id, batch_id, pr_number (got {', '.join(chosen)})"
        )
    if q.pr_number is not None:
        if not q.repository:
            raise ValidationFailed.at(["query", "repository"], "is required with pr_number")
        return [_shards(table.GSI_BY_PR, table.pr_partition, q.repository, q.pr_number)], None
    where = (["github", "repository"], q.repository) if q.repository else None
    if q.job_id:
        return [_shards(table.GSI_BY_JOB, table.job_partition, q.job_id)], where
    if q.batch_id:
        return [_shards(table.GSI_BY_BATCH, table.batch_partition, q.batch_id)], where
    services = [q.service] if q.service else None
    return _service_month_groups(q.start, q.end, services, stats), where


def _merge_newest(partitions: list[tuple[table.Gsi, str]], bounds: tuple[str, str], boundary: str | None,
                  want: int, where: tuple[list[str], str] | None,
                  stats: store.ReadStats) -> tuple[list[UsageEvent], bool]:
    """Up to `want` events of these partitions, newest first (a k-way merge over their pages).

    Returns them and whether more remain. Each partition is read a page at a time
    from its newest end; only the events returned, plus one page per partition, are read.
    """
    page_size = max(10, want // max(len(partitions), 1) + 1)
    cursors = [_Cursor(index, partition, bounds, boundary, page_size, where) for index, partition in partitions]
    heap = [(_Desc(c.peek_key()), n) for n, c in enumerate(cursors) if c.fill(stats)]
    heapq.heapify(heap)
    taken: list[UsageEvent] = []
    scanned_before = stats.items_read
    while heap and len(taken) < want:
        _, n = heapq.heappop(heap)
        taken.append(cursors[n].pop())
        if cursors[n].fill(stats):
            heapq.heappush(heap, (_Desc(cursors[n].peek_key()), n))
        if where is not None and stats.items_read - scanned_before > MAX_LISTING_SCAN:
            return taken, True
    return taken, bool(heap)


class _Desc(str):
    """A sort key that orders descending in a min-heap."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)


@dataclass
class _Cursor:
    index: table.Gsi
    partition: str
    bounds: tuple[str, str]
    boundary: str | None
    page_size: int
    where: tuple[list[str], str] | None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    start_key: dict[str, Any] | None = None
    exhausted: bool = False

    def fill(self, stats: store.ReadStats) -> bool:
        """Make sure an item is buffered (reading the next page if needed); False when none is left."""
        while not self.buffer and not self.exhausted:
            items, self.start_key = store.query_page(
                self.partition, index=self.index, sk_between=self.bounds, forward=False, limit=self.page_size,
                start_key=self.start_key, stats=stats, where=self.where)
            self.exhausted = self.start_key is None
            sort = self.index.sort_key
            self.buffer = [i for i in items if self.boundary is None or i[sort] < self.boundary]
        return bool(self.buffer)

    def peek_key(self) -> str:
        return self.buffer[0][self.index.sort_key]

    def pop(self) -> UsageEvent:
        return events.from_item(self.buffer.pop(0))


def _encode_token(position: int, boundary: str | None, fingerprint: str) -> str:
    raw = json.dumps({"p": position, "b": boundary, "f": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str | None, fingerprint: str) -> tuple[int, str | None]:
    if not token:
        return 0, None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if raw["f"] != fingerprint or not isinstance(raw["p"], int) or raw["p"] < 0:
            raise ValueError
        if raw["b"] is not None and not isinstance(raw["b"], str):
            raise ValueError
        return raw["p"], raw["b"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.at(["query", "next_token"], "is not a token from this query") from None


# --- POST /ai_usage/estimate ---------------------------------------------------------------------


def estimate(request: EstimateIn, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    overrides = pricing.load_overrides({i.service for i in request.items})
    items, total, unpriced = [], ZERO, 0
    for n, item in enumerate(request.items):
        operation = item.operation or "completion"
        if not item.model and pricing.requires_model(item.service, operation, overrides):
            raise ValidationFailed.at(
                ["items", n, "model"], "Field required (only per-request priced operations may omit it)"
            )
        counts = Counts(input_tokens=item.input_tokens, cache_read_tokens=item.cache_read_tokens,
                        cache_write_tokens=item.cache_write_tokens, output_tokens=item.output_tokens)
        q = pricing.quote(item.service, item.model or "", operation, counts, 1, now, item.service_tier, overrides)
        unit = q.cost_usd if q else None
        line_total = unit * item.count if unit is not None else None
        if line_total is None:
            unpriced += 1
        else:
            total += line_total
        items.append({"service": item.service, "model": item.model, "operation": operation, "count": item.count,
                      "unit_cost_usd": usd(unit), "total_cost_usd": usd(line_total),
                      "price_source": q.source if q else None, "priced": q is not None})
    return {"items": items, "total_estimated_cost_usd": usd(round_usd(total)), "unpriced_items": unpriced,
            "budgets": budgets.estimate_impact(request.scope, total, now)}
