"""Waiting for totals to catch up with recorded events.

Totals (`GET /ai_usage`, budget spend, reports) follow the table's stream:
the aggregator folds recorded events in seconds later (SPEC 13). Tests that
read a total after recording events wait for it the way a user would:

- `drain()` in-process (the `aws` fixture): play the event source mapping
  now (`aiusage.local.stream.StreamPoller`) until the stream is empty and no
  budget backfill is still due;
- `Server.wait_aggregated()` (tests/e2e/conftest.py) against `aiusage serve`:
  poll `GET /ai_usage` until `stats.aggregated_through` passes the last write.
"""

from __future__ import annotations

import os
from typing import Any

_POLLERS: dict[str, Any] = {}


def poller() -> Any:
    """The stream poller of the current moto table (one per table, so it keeps its place in the stream)."""
    from aiusage.local.stream import StreamPoller
    from functions.aggregator.handler import lambda_handler
    from shared import store

    table = os.environ["TABLE_NAME"]
    arn = store.client().describe_table(TableName=table)["Table"]["LatestStreamArn"]
    if arn not in _POLLERS:
        _POLLERS.clear()
        _POLLERS[arn] = StreamPoller(table, lambda_handler, window=0, embedded=True)
    return _POLLERS[arn]


def drain(timeout: float = 300) -> None:
    """Apply every recorded event to the totals (and run due budget backfills) before the test reads them.

    The timeout is generous: 120 budget backfills take seconds alone, minutes on a busy 2-core machine."""
    poller().drain(timeout)
