"""The aggregator's transactions: a stream shard's checkpoint, moved together with the deltas it covers.

`shared/aggregation.py` decides what a batch adds where; this module writes
it: each `BatchPart` is one transaction that applies its deltas and moves the
shard's checkpoint (`STREAM#<shard>`) or its pending multi-part batch, on
conditions that make a redelivered or retried part a no-op.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared import store, table
from shared.rollups import CellDelta, Totals


def checkpoint_seq(shard_id: str) -> str:
    """The last sequence number of a stream shard the aggregator applied ("" for none yet)."""
    item = store.get(table.checkpoint_key(shard_id)) or {}
    return item.get("seq", "")


def mark_busy(shard_id: str, since: str) -> None:
    """Note that the aggregator is applying a batch of the shard (freshness must not take it for idle);
    the transaction that moves the checkpoint past the batch removes the note."""
    store.update(table.checkpoint_key(shard_id), {"busy_since": since, **table.checkpoint_listing(shard_id)})


def pending_batch(shard_id: str) -> dict[str, Any] | None:
    """The shard's batch whose first part is applied and whose other parts are stored, if any."""
    return store.get(table.pending_batch_key(shard_id))


@dataclass
class BatchPart:
    """Part `part` of `parts` of an aggregator batch: its deltas, and how it moves the shard's checkpoint."""

    shard_id: str
    part: int
    parts: int
    first: str  # padded sequence numbers of the batch's first and last record
    last: str
    deltas: dict[tuple[str, str], CellDelta]
    through: str
    applied_at: str
    expires_at: int
    records: int
    later_parts: list[dict[tuple[str, str], CellDelta]] = field(default_factory=list)  # stored with part 1
    touched: str = "[]"


def apply_part(p: BatchPart) -> bool:
    """One transaction: the part's deltas and the checkpoint/pending-batch moves. False: already applied.

    Part 1 applies only while the checkpoint is below the batch and no batch is
    pending; it then either moves the checkpoint past the batch (one part) or
    stores the later parts as the pending batch. Part k applies only while the
    pending batch has k - 1 parts done; the last one moves the checkpoint and
    deletes the pending batch.
    """
    checkpoint_key = store.to_dynamo(table.checkpoint_key(p.shard_id))
    pending_key = store.to_dynamo(table.pending_batch_key(p.shard_id))
    # `through` (freshness) moves with `seq` only: when the whole batch is in.
    progress = {"applied_at": p.applied_at, table.TTL_ATTRIBUTE: p.expires_at, **table.checkpoint_listing(p.shard_id)}
    done = {**progress, "through": p.through}
    actions: list[dict[str, Any]] = []
    if p.part == 1:
        sets = {**done, "seq": p.last} if p.parts == 1 else {**progress, "pending": p.first}
        actions.append(_checkpoint_action(checkpoint_key, sets, p.records if p.parts == 1 else 0,
                                          remove=("busy_since",) if p.parts == 1 else (),
                                          condition="(attribute_not_exists(#seq) OR #seq < :first) "
                                                    "AND attribute_not_exists(#pending)",
                                          values={":first": p.first}))
        if p.parts > 1:
            actions.append(store.put_action({**table.pending_batch_key(p.shard_id), "first": p.first, "last": p.last,
                                       "done": 1, "parts": encode_parts(p.later_parts), "through": p.through,
                                       "touched": p.touched, "records": p.records,
                                       table.TTL_ATTRIBUTE: p.expires_at}))
    else:
        step = {"Update": {"TableName": store.table_name(), "Key": pending_key, "UpdateExpression": "SET #done = :done",
                           "ConditionExpression": "#first = :first AND #done = :before",
                           "ExpressionAttributeNames": {"#done": "done", "#first": "first"},
                           "ExpressionAttributeValues": store.to_dynamo({":done": p.part, ":before": p.part - 1,
                                                                   ":first": p.first})}}
        if p.part == p.parts:  # the last part: the checkpoint moves past the batch, which is no longer pending
            step = {"Delete": {k: v for k, v in step["Update"].items() if k not in ("UpdateExpression",)}}
            step["Delete"]["ExpressionAttributeNames"] = {"#done": "done", "#first": "first"}
            step["Delete"]["ExpressionAttributeValues"] = store.to_dynamo({":before": p.part - 1, ":first": p.first})
            actions.append(_checkpoint_action(checkpoint_key, {**done, "seq": p.last}, p.records,
                                              remove=("pending", "busy_since"),
                                              condition="#pending = :first", values={":first": p.first}))
        actions.append(step)
    actions += [store.add_action(table.key(*k), delta) for k, delta in p.deltas.items()]
    try:
        store.transact(actions)
    except store.client().exceptions.TransactionCanceledException as exc:
        reasons = exc.response.get("CancellationReasons", [])
        if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[:2]):
            return False
        raise
    return True


def _checkpoint_action(key: dict[str, Any], sets: dict[str, Any], records: int, *, remove: Sequence[str],
                       condition: str, values: dict[str, Any]) -> dict[str, Any]:
    names = {"#seq": "seq", "#pending": "pending", **{f"#s{i}": n for i, n in enumerate(sets)}}
    expression = "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets)))
    all_values = {**values, **{f":s{i}": v for i, v in enumerate(sets.values())}}
    if records:
        names["#n"] = "records"
        all_values[":n"] = records
        expression += " ADD #n :n"
    if remove:
        names.update({f"#r{i}": n for i, n in enumerate(remove)})
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    used = {n for n in names if n in expression or n in condition}
    return {"Update": {"TableName": store.table_name(), "Key": key, "UpdateExpression": expression,
                       "ConditionExpression": condition,
                       "ExpressionAttributeNames": {n: v for n, v in names.items() if n in used},
                       "ExpressionAttributeValues": store.to_dynamo(all_values)}}


def encode_parts(parts: Sequence[dict[tuple[str, str], CellDelta]]) -> bytes:
    """Parts of a batch as one compressed blob (DynamoDB numbers as text: exact)."""
    plain = [[[pk, sk, d.attributes, {n: str(v) for n, v in d.totals.counters().items()}]
              for (pk, sk), d in part.items()] for part in parts]
    return zlib.compress(json.dumps(plain, separators=(",", ":")).encode(), 6)


def decode_parts(blob: Any) -> list[dict[tuple[str, str], CellDelta]]:
    raw = json.loads(zlib.decompress(getattr(blob, "value", blob)))
    return [{(pk, sk): CellDelta(attributes, Totals.of_item(counters)) for pk, sk, attributes, counters in part}
            for part in raw]
