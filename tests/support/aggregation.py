"""Waiting for totals to catch up with recorded events.

Totals (`GET /ai_usage`, budget spend, reports) are being moved off the
ingest path onto a stream aggregator (issue 12). Tests that read a total
after recording events call one of these first, so they keep passing once
aggregation is asynchronous:

- `drain()` in-process (the `aws` fixture): apply every pending change now;
- `Server.wait_aggregated()` (tests/e2e/conftest.py) against `aiusage serve`.

Today totals are written with each event, so there is nothing to wait for.
"""

from __future__ import annotations


def drain() -> None:
    """Apply every recorded event to the totals before the test reads them."""
