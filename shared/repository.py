"""The repository the domain talks to: a small interface over the single table, and its DynamoDB implementation.

Budgets, ingest, aggregation, alerts and freshness read and write through
`current()`: a `Repository`. In Lambda and the local stack it is `Dynamo`,
which calls `shared/store.py` (and the modules built on it); unit tests
install an in-memory one with `use()` (`tests/support/memory.py`), which
keeps the same conditions: a conditional write that loses raises
`ConditionFailed` (a multi-item write) or answers False/None, as here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared import checkpoints, event_writes, store, table
from shared.checkpoints import BatchPart
from shared.retry import ConditionFailed
from shared.rollups import CellDelta

Item = dict[str, Any]
Key = dict[str, str]


@dataclass(frozen=True)
class Put:
    """Write `item` whole.

    `if_absent`: only a new key; `if_equal=(name, value)`: only while the stored item holds it.
    """

    item: Item
    if_absent: bool = False
    if_equal: tuple[str, Any] | None = None


@dataclass(frozen=True)
class Delete:
    """Delete the item at `key`; `if_equal=(name, value)`: only while it holds that value."""

    key: Key
    if_equal: tuple[str, Any] | None = None


class Repository(Protocol):
    """What the domain needs of the table."""

    def get(self, key: Key, *, stats: store.ReadStats | None = None) -> Item | None:
        """The item at `key` (a strongly consistent read), or None."""

    def query(self, partition: str, *, index: table.Gsi | None = None, sk_between: tuple[str, str] | None = None,
              sk_prefix: str | None = None, forward: bool = True, consistent: bool = False,
              attributes: Sequence[str] | None = None, stats: store.ReadStats | None = None) -> Iterator[Item]:
        """Every item of a partition of the table or of a GSI, in sort key order (reversed: `forward=False`)."""

    def put(self, item: Item, *, if_absent: bool = False) -> bool:
        """Put an item; with `if_absent`, only when its key is new (False when it existed)."""

    def put_event(self, item: Item) -> Item | None:
        """One attempt at storing a new event item: None when stored, else the item already stored under its key."""

    def update(self, key: Key, set_values: Item, *, if_equal: tuple[str, Any] | None = None) -> Item | None:
        """SET attributes (creating the item if need be); the new item, or None when `if_equal` failed."""

    def write_all(self, writes: Sequence[Put | Delete]) -> None:
        """All the writes or none (a transaction); `ConditionFailed` when a condition fails."""

    def add_once(self, key: Key, delta: CellDelta, marker: str) -> bool:
        """ADD a delta unless `marker` is already set on the item; sets the marker (False: it was set)."""

    def checkpoint_seq(self, shard_id: str) -> str:
        """The last sequence number of a stream shard the aggregator applied ("" for none yet)."""

    def mark_busy(self, shard_id: str, since: str) -> None:
        """Note that the aggregator is applying a batch of the shard."""

    def pending_batch(self, shard_id: str) -> Item | None:
        """The shard's batch whose first part is applied and whose other parts are stored, if any."""

    def apply_part(self, part: BatchPart) -> bool:
        """One transaction: a batch part's deltas with its checkpoint move; False when already applied."""


class Dynamo:
    """The repository on the DynamoDB table (`shared/store.py`, `event_writes.py`, `checkpoints.py`)."""

    def get(self, key: Key, *, stats: store.ReadStats | None = None) -> Item | None:
        return store.get(key, stats=stats)

    def query(self, partition: str, **kwargs: Any) -> Iterator[Item]:
        return store.query_all(partition, **kwargs)

    def put(self, item: Item, *, if_absent: bool = False) -> bool:
        return store.put(item, if_absent=if_absent)

    def put_event(self, item: Item) -> Item | None:
        return event_writes.put_event(item)

    def update(self, key: Key, set_values: Item, *, if_equal: tuple[str, Any] | None = None) -> Item | None:
        return store.update(key, set_values, if_equal=if_equal)

    def write_all(self, writes: Sequence[Put | Delete]) -> None:
        actions = [store.put_action(w.item, if_absent=w.if_absent, if_equal=w.if_equal) if isinstance(w, Put)
                   else store.delete_action(w.key, if_equal=w.if_equal) for w in writes]
        try:
            store.transact(actions)
        except Exception as exc:
            if store.is_condition_failure(exc):
                raise ConditionFailed(str(exc)) from exc
            raise

    def add_once(self, key: Key, delta: CellDelta, marker: str) -> bool:
        return store.add_once(key, delta, marker)

    def checkpoint_seq(self, shard_id: str) -> str:
        return checkpoints.checkpoint_seq(shard_id)

    def mark_busy(self, shard_id: str, since: str) -> None:
        checkpoints.mark_busy(shard_id, since)

    def pending_batch(self, shard_id: str) -> Item | None:
        return checkpoints.pending_batch(shard_id)

    def apply_part(self, part: BatchPart) -> bool:
        return checkpoints.apply_part(part)


_DYNAMO = Dynamo()
_current: list[Repository] = []


def current() -> Repository:
    """The repository in use: the innermost `use()`, else DynamoDB."""
    return _current[-1] if _current else _DYNAMO


@contextlib.contextmanager
def use(repository: Repository) -> Iterator[Repository]:
    """Talk to `repository` within the block (tests: an in-memory table)."""
    _current.append(repository)
    try:
        yield repository
    finally:
        _current.remove(repository)
