"""The backfill of a budget generation: the events stamped before its `live_from`, counted once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from shared import events, repository, table
from shared.budgets.definitions import (
    BACKFILL_MARKER,
    MAX_FUTURE,
    RETENTION_LOOKBACK_DAYS,
    Budget,
    spend_key,
)
from shared.budgets.status import evaluate
from shared.events import UsageEvent
from shared.models import format_ts
from shared.periods import Period, months_between
from shared.rollups import CellDelta, Totals


def backfill(b: Budget, now: datetime) -> None:
    """Count, once, the events of this generation's first period stamped before its `live_from`.

    Run by the aggregator's tick once the backfill is due (`aggregation.tick`).
    Reads the raw events of the period through the service GSI (the services
    from the day cells, or the budget's own), adds them to their period's spend
    item with a marker that makes a second run add nothing, then marks the
    generation done — unless the budget changed meanwhile.
    """
    first = b.period_of(b.live_from)
    start = max(first.start, b.counting_from) if b.counting_from else first.start
    start_utc = max(start.astimezone(UTC), now - timedelta(days=RETENTION_LOOKBACK_DAYS))
    end_utc = b.live_from + MAX_FUTURE  # nothing stamped before live_from is dated later
    services = [b.scope["service"]] if b.scope.get("service") else services_between(start_utc, end_utc)
    deltas: dict[str, CellDelta] = {}
    periods: dict[str, Period] = {first.key: first}
    for e in _events_between(services, start_utc, end_utc):
        if e.received_at is not None and e.received_at >= b.live_from:
            continue  # the aggregator counts it
        e = events.counted_as_of(e, b.live_from)
        if not b.counts(e):
            continue
        period = b.period_of(e.ts)
        if period.start < first.start:
            continue  # before the generation's first period: not counted (late arrivals to it are)
        periods[period.key] = period
        deltas.setdefault(period.key, CellDelta({"budget_id": b.budget_id, "period_key": period.key})).totals.add(
            Totals.of_event(e))
    for key in periods:
        repository.current().add_once(
            spend_key(b, key),
            deltas.get(key) or CellDelta({"budget_id": b.budget_id, "period_key": key}),
            BACKFILL_MARKER,
        )
    repository.current().update(table.budget_definition_key(b.budget_id), {BACKFILL_MARKER: format_ts(now)},
                 if_equal=("generation", b.generation))
    evaluate([(b, p) for p in periods.values()], now)


def services_between(start: datetime, end: datetime) -> list[str]:
    """Every service the day cells of these days count (the aggregator has counted them by now)."""
    found: set[str] = set()
    first, last = start.date(), end.date()
    for month in months_between(first, last):
        low = first.strftime("%d") if first.strftime("%Y-%m") == month else "01"
        high = last.strftime("%d") if last.strftime("%Y-%m") == month else "31"
        for partition in table.day_cell_partitions(month):
            for item in repository.current().query(
                partition, sk_between=table.cell_sort_range(low, high), attributes=["service"]
            ):
                found.add(item["service"])
    return sorted(found)


def _events_between(services: Sequence[str], start: datetime, end: datetime) -> Iterator[UsageEvent]:
    bounds = table.time_sort_bounds(format_ts(start), format_ts(end))
    for service in services:
        for month in months_between(start.date(), end.date()):
            for shard in table.shard_range(table.EVENT_INDEX_SHARDS):
                for item in repository.current().query(table.service_month_partition(service, month, shard),
                                            index=table.GSI_BY_SERVICE, sk_between=bounds):
                    yield events.from_item(item)
