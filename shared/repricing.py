"""Repricing (`POST /ai_usage/reprice`): price the `unpriced` events of a date range once a price exists.

Unpriced events are listed by the sparse GSI2 `UNPRICED#<month>#<shard>`.
Each is repriced with one conditional update (`cost_source = unpriced`, so a
concurrent second reprice is a no-op) that also takes it off that index and
keeps what it counted before (`repriced_from`). Totals follow through the
same stream as new events: the aggregator adds the MODIFY's difference (new
image minus old) to every cell and budget, exactly once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared import event_writes, events, periods, pricing, store, table
from shared.errors import ValidationFailed
from shared.events import UsageEvent
from shared.models import format_ts
from shared.retry import retrying

MAX_RANGE_DAYS = 400
UPDATE_ATTEMPTS = 6


def reprice_unpriced(start: date, end: date) -> dict[str, Any]:
    """Price the `unpriced` events dated in [start, end] whose price is now known."""
    if start > end:
        raise ValidationFailed.at(["start_date"], "is after end_date")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed.at(["end_date"], f"the range is longer than {MAX_RANGE_DAYS} days")
    bounds = table.time_sort_bounds(f"{start.isoformat()}T", f"{(end + timedelta(days=1)).isoformat()}T")
    examined = repriced = 0
    overrides: dict[str, list[pricing.PriceOverride]] = {}
    for month in periods.months_between(start, end):
        for shard in table.shard_range(table.EVENT_INDEX_SHARDS):
            for item in store.query_all(table.unpriced_partition(month, shard),
                                        index=table.GSI_LISTINGS, sk_between=bounds):
                examined += 1
                repriced += _reprice_one(events.from_item(item), overrides)
    return {"examined": examined, "repriced": repriced, "still_unpriced": examined - repriced}


def _reprice_one(e: UsageEvent, overrides: dict[str, list[pricing.PriceOverride]]) -> bool:
    if e.service not in overrides:
        overrides[e.service] = pricing.load_overrides({e.service})
    before_cost, before_credits = e.cost_usd, e.credits
    pricing.price_event(e, None, overrides[e.service])
    if e.cost_source != "computed":
        return False
    values: dict[str, Any] = {"cost_usd": e.cost_usd, "cost_source": "computed", "price_source": e.price_source,
                              "price_version": e.price_version,
                              "repriced_from": {"cost_usd": before_cost or 0, "credits": before_credits}}
    if e.credits is not None:
        values["credits"] = e.credits
    stamps: list[str] = []

    def attempt(_: int) -> bool:
        # Stamped before each attempt, like an ingest put (the write bound of shared/aggregation.py).
        values["written_at"] = format_ts(datetime.now(UTC))
        stamps.append(values["written_at"])
        return event_writes.update_event(table.event_key(e.event_id), values, remove=("GSI2PK", "GSI2SK"),
                                  if_equal=("cost_source", "unpriced"))

    if retrying(attempt, retry_on=event_writes.is_transient, attempts=UPDATE_ATTEMPTS):
        return True
    # Priced already: by an attempt of ours whose answer was lost, or by a concurrent reprice.
    now = store.get(table.event_key(e.event_id)) or {}
    return len(stamps) > 1 and now.get("written_at") in stamps
