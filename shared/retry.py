"""The one retry helper: every "try again" of the domain goes through `retrying`.

Two kinds of retry use it:

- transient failures (throttling, a 5xx, a lost connection, a transaction
  conflict): a bounded number of attempts with an exponential `backoff`;
- optimistic concurrency (a conditional write lost to another writer): read
  again and retry at once, until the write wins (each loss means another
  writer won, so this ends).

The operation is given the attempt number (from 1), so an attempt can stamp
itself (ingest and repricing remember the stamp of every attempt).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ConditionFailed(Exception):
    """A conditional write lost to a concurrent writer: read again and retry."""


def backoff(attempt: int) -> None:
    """Wait before retry `attempt` (exponential with jitter, at most a second)."""
    time.sleep(min(1.0, 0.02 * 2 ** attempt) * random.uniform(0.5, 1.0))


def retrying(operation: Callable[[int], T], *, retry_on: Callable[[Exception], bool], attempts: int | None,
             pause: bool = True) -> T:
    """Run `operation(attempt)` until it returns; retry what `retry_on` accepts.

    `attempts=None` retries without bound; `pause`: `backoff` before each retry (else retry at once).
    The last attempt's exception, or one `retry_on` refuses, propagates unchanged.
    """
    attempt = 1
    while True:
        try:
            return operation(attempt)
        except Exception as exc:
            if (attempts is not None and attempt >= attempts) or not retry_on(exc):
                raise
        if pause:
            backoff(attempt)
        attempt += 1


def until_no_conflict(operation: Callable[[int], T]) -> T:
    """Optimistic concurrency: repeat `operation` while it raises `ConditionFailed`.

    The operation reads, then writes conditionally.
    """
    return retrying(operation, retry_on=lambda exc: isinstance(exc, ConditionFailed), attempts=None, pause=False)
