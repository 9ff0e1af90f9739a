"""How fresh the totals are (SPEC 4.5): a time before which every written event is counted.

Totals follow the event stream (`shared/aggregation.py`); every answer built
from them says how far aggregation has come, from the stream checkpoints the
aggregator keeps (listed together under GSI2 `CHECKPOINTS`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared import repository, store, table
from shared.config import settings
from shared.events import parse_ts
from shared.models import EARLIEST, format_ts


def aggregated_through(now: datetime | None = None, stats: store.ReadStats | None = None) -> datetime:
    """A time before which every written event counts in the totals.

    Per stream shard: one the aggregator applied recently, or is applying a
    batch of now, is through its newest fully applied write, less the write
    bound (an event stamped earlier was stored before that write, so the shard
    delivered it first); a shard quiet for longer than the write bound plus the
    stream's latency has delivered everything up to that long ago. The answer
    is the least over the shards.
    """
    now = now or datetime.now(UTC)
    s = settings()
    bound = timedelta(seconds=s.write_bound_seconds)
    quiet = bound + timedelta(seconds=s.stream_latency_seconds)
    through = now - quiet
    for item in repository.current().query(table.CHECKPOINTS_LISTING, index=table.GSI_LISTINGS, stats=stats):
        busy = "busy_since" in item or "pending" in item
        if busy or now - parse_ts(item.get("applied_at") or item["busy_since"]) < quiet:
            last = parse_ts(item["through"]) if "through" in item else EARLIEST
            through = min(through, last - bound)
    return through


def freshness_json(now: datetime | None = None, stats: store.ReadStats | None = None) -> dict[str, Any]:
    """`aggregated_through` and the lag behind `now`, for an answer's `stats`."""
    now = now or datetime.now(UTC)
    through = aggregated_through(now, stats)
    return {"aggregated_through": format_ts(through),
            "aggregation_lag_seconds": round(max((now - through).total_seconds(), 0.0), 3)}
