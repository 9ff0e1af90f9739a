"""An in-memory `shared.repository.Repository`: the table as a dict, with DynamoDB's conditions.

Items go in and out through boto3's own DynamoDB type codec (as `shared/store.py`
sends them), so numbers come back as Decimal and a float is refused as DynamoDB
refuses it. Conditional writes behave as on the table: `attribute_not_exists`
on a put, `name = value` conditions, all-or-nothing multi-item writes that raise
`ConditionFailed`, and the aggregator's checkpoint and pending-batch conditions.
No moto, no boto3 client: a domain test on it runs in milliseconds.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from shared import checkpoints, store, table
from shared.checkpoints import BatchPart
from shared.repository import Delete, Item, Key, Put
from shared.retry import ConditionFailed
from shared.rollups import CellDelta

_MISSING = object()


class MemoryTable:
    """The repository over a dict of items keyed by (PK, SK)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Item] = {}
        self.writes = 0  # item writes that happened (a failed condition writes nothing)
        self.stream: list[dict[str, Any]] = []  # the stream records of stored event items, as Lambda gets them

    # --- storage --------------------------------------------------------------------------------

    @staticmethod
    def _id(key: Key | Item) -> tuple[str, str]:
        return key[table.TABLE_KEYS[0]], key[table.TABLE_KEYS[1]]

    def _store(self, item: Item) -> None:
        self.items[self._id(item)] = store.from_dynamo(store.to_dynamo(item))  # DynamoDB's types, a copy
        self.writes += 1

    def _read(self, key: Key | Item) -> Item | None:
        item = self.items.get(self._id(key))
        return copy.deepcopy(item) if item is not None else None

    @staticmethod
    def _holds(item: Item | None, if_equal: tuple[str, Any] | None) -> bool:
        if if_equal is None:
            return True
        name, value = if_equal
        return item is not None and item.get(name, _MISSING) == store.from_dynamo(store.to_dynamo({"v": value}))["v"]

    # --- the repository ---------------------------------------------------------------------------

    def get(self, key: Key, *, stats: store.ReadStats | None = None) -> Item | None:
        item = self._read(key)
        if stats is not None:
            stats.dynamodb_requests += 1
            stats.items_read += item is not None
        return item

    def query(self, partition: str, *, index: table.Gsi | None = None, sk_between: tuple[str, str] | None = None,
              sk_prefix: str | None = None, forward: bool = True, consistent: bool = False,
              attributes: Sequence[str] | None = None, stats: store.ReadStats | None = None) -> Iterator[Item]:
        pk, sk = (index.partition_key, index.sort_key) if index else table.TABLE_KEYS
        found = [i for i in self.items.values() if i.get(pk) == partition and sk in i]
        if sk_between is not None:
            found = [i for i in found if sk_between[0] <= i[sk] <= sk_between[1]]
        elif sk_prefix is not None:
            found = [i for i in found if i[sk].startswith(sk_prefix)]
        found.sort(key=lambda i: (i[sk], i[table.TABLE_KEYS[0]], i[table.TABLE_KEYS[1]]), reverse=not forward)
        if stats is not None:
            stats.dynamodb_requests += 1
            stats.items_read += len(found)
        for item in found:
            item = copy.deepcopy(item)
            yield {a: item[a] for a in attributes if a in item} if attributes else item

    def put(self, item: Item, *, if_absent: bool = False) -> bool:
        if if_absent and self._id(item) in self.items:
            return False
        self._store(item)
        return True

    def put_event(self, item: Item) -> Item | None:
        stored = self._read(item)
        if stored is not None:
            return stored
        self._store(item)
        if item[table.TABLE_KEYS[1]] == table.EVENT_SK:
            self.stream.append({"eventName": "INSERT", "dynamodb": {
                "Keys": store.to_dynamo(dict(zip(table.TABLE_KEYS, self._id(item), strict=True))),
                "NewImage": store.to_dynamo(item), "SequenceNumber": str(10**20 + len(self.stream))}})
        return None

    def update(self, key: Key, set_values: Item, *, if_equal: tuple[str, Any] | None = None) -> Item | None:
        item = self._read(key)
        if not self._holds(item, if_equal):
            return None
        self._store({**(item or dict(key)), **set_values})
        return self._read(key)

    def write_all(self, writes: Sequence[Put | Delete]) -> None:
        for w in writes:  # every condition first: all or nothing
            stored = self._read(w.item if isinstance(w, Put) else w.key)
            if isinstance(w, Put) and w.if_absent and stored is not None:
                raise ConditionFailed("ConditionalCheckFailed: the item exists")
            if not self._holds(stored, w.if_equal):
                raise ConditionFailed(f"ConditionalCheckFailed: {w.if_equal[0]} differs")
        for w in writes:
            if isinstance(w, Put):
                self._store(w.item)
            else:
                self.items.pop(self._id(w.key), None)
                self.writes += 1

    def add_once(self, key: Key, delta: CellDelta, marker: str) -> bool:
        item = self._read(key)
        if item is not None and marker in item:
            return False
        self._add(key, CellDelta({**delta.attributes, marker: "1"}, delta.totals))
        return True

    def _add(self, key: Key, delta: CellDelta) -> None:
        """SET the delta's attributes and ADD its counters (a missing counter counts from 0)."""
        item = self._read(key) or dict(key)
        item.update(delta.attributes)
        for name, value in delta.totals.counters().items():
            item[name] = Decimal(item.get(name, 0)) + Decimal(value)
        self._store(item)

    # --- the aggregator's checkpoints ---------------------------------------------------------------

    def checkpoint_seq(self, shard_id: str) -> str:
        return (self._read(table.checkpoint_key(shard_id)) or {}).get("seq", "")

    def mark_busy(self, shard_id: str, since: str) -> None:
        self.update(table.checkpoint_key(shard_id), {"busy_since": since, **table.checkpoint_listing(shard_id)})

    def pending_batch(self, shard_id: str) -> Item | None:
        return self._read(table.pending_batch_key(shard_id))

    def apply_part(self, p: BatchPart) -> bool:
        """The conditions and moves of `checkpoints.apply_part`, as one all-or-nothing write."""
        key = table.checkpoint_key(p.shard_id)
        checkpoint = self._read(key) or dict(key)
        pending_key = table.pending_batch_key(p.shard_id)
        pending = self._read(pending_key)
        progress = {
            "applied_at": p.applied_at,
            table.TTL_ATTRIBUTE: p.expires_at,
            **table.checkpoint_listing(p.shard_id),
        }
        done = {**progress, "through": p.through, "seq": p.last}
        if p.part == 1:
            if not (("seq" not in checkpoint or checkpoint["seq"] < p.first) and "pending" not in checkpoint):
                return False
        elif pending is None or pending.get("first") != p.first or pending.get("done") != p.part - 1:  # noqa: SIM114 - kept apart as in checkpoints.apply_part
            return False
        elif p.part == p.parts and checkpoint.get("pending") != p.first:
            return False
        last = p.part == p.parts
        if last:
            checkpoint.update(done)
            checkpoint["records"] = Decimal(checkpoint.get("records", 0)) + p.records
            for name in ("busy_since",) + (("pending",) if p.parts > 1 else ()):
                checkpoint.pop(name, None)
            self._store(checkpoint)
        elif p.part == 1:
            self._store({**checkpoint, **progress, "pending": p.first})
        if p.part == 1 and p.parts > 1:
            self._store({**pending_key, "first": p.first, "last": p.last, "done": 1,
                         "parts": checkpoints.encode_parts(p.later_parts), "through": p.through,
                         "touched": p.touched, "records": p.records, table.TTL_ATTRIBUTE: p.expires_at})
        elif p.part > 1:
            if last:
                self.items.pop(self._id(pending_key))
            else:
                self._store({**pending, "done": p.part})
        for (pk, sk), delta in p.deltas.items():
            self._add(table.key(pk, sk), delta)
        return True
