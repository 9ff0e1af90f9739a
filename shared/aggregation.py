"""The aggregator: folds the table's stream of events into cells and budget spend, exactly once.

`POST /ai_usage` writes each event and nothing else (SPEC 13). DynamoDB
Streams hands the aggregator function batches of the event items' INSERT and
MODIFY records, one stream shard per batch, in order (`table.AGGREGATOR_FILTERS`).
`apply_batch` turns a batch into merged deltas: `+` the new image and `-` the
old one in every hour, day and dimension cell and in the spend item of every
budget that counts it — so an insert adds an event and a reprice adds exactly
its difference. A batch of 1,000 events writes a few dozen cells once.

Exactly once: a batch's deltas are applied together with the shard's
checkpoint (`STREAM#<shard>`), on condition that the checkpoint is still
below the batch's first sequence number. When they need more than one
transaction (100 items each), the first also stores the remaining parts as
the shard's pending batch, each later one applies the next part on condition
that the one before it is done, and the last moves the checkpoint. A
redelivered, retried or bisected batch skips what the checkpoint covers and
first finishes a pending batch; a crash between transactions loses nothing
and counts nothing twice. Each item is written once per batch, so a hot cell
takes one transaction per batch however many users, jobs or batches it holds.

Budgets: a budget generation counts, here, the records written (stamped) from
its `live_from` on; the records stamped before it are its backfill's
(`shared/budgets/backfill.py`). After each batch the budgets it touched are evaluated:
threshold and forecast alerts (once each, by dedup key) and `BudgetUtilization`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import budgets, checkpoints, events, freshness, repository, store, table
from shared.events import UsageEvent
from shared.models import format_ts
from shared.rollups import CellDelta, Totals, event_cells

logger = logging.getLogger(__name__)
MAX_TRANSACTION_ITEMS = store.MAX_TRANSACTION_ITEMS
SEQUENCE_WIDTH = 40  # DynamoDB Streams sequence numbers are 21..40 digits: padded, text order is number order
CHECKPOINT_RETENTION = timedelta(days=2)  # the stream keeps records 24 hours
MAX_CHECKPOINT_MOVES = 20
Key = tuple[str, str]


@dataclass(frozen=True)
class Change:
    """One stream record of an event item: its position and the event before and after."""

    seq: str  # zero-padded
    sequence_number: str  # as the stream gave it (what a partial batch response names)
    new: UsageEvent | None
    old: UsageEvent | None

    @property
    def stamp(self) -> datetime:
        """When this write happened, by the writer's clock (ingest's `received_at`, or the reprice)."""
        image = self.new or self.old
        assert image is not None
        return image.last_written or image.ts


def changes_of(records: Sequence[Mapping[str, Any]]) -> list[Change]:
    """The Lambda stream event's records (DynamoDB JSON images) as changes, in stream order."""
    changes = []
    for record in records:
        body = record["dynamodb"]
        if (
            record.get("eventName") not in ("INSERT", "MODIFY")
            or body.get("Keys", {}).get("SK", {}).get("S") != table.EVENT_SK
        ):
            continue  # the mapping's filter sends only these; anything else changes no total
        new, old = body.get("NewImage"), body.get("OldImage")
        changes.append(Change(
            seq=body["SequenceNumber"].zfill(SEQUENCE_WIDTH),
            sequence_number=body["SequenceNumber"],
            new=events.from_item(store.from_dynamo(new)) if new else None,
            old=events.from_item(store.from_dynamo(old)) if old else None,
        ))
    return changes


# --- what a change adds where ----------------------------------------------------------------


def change_deltas(change: Change, active: Sequence[budgets.Budget]) -> dict[Key, CellDelta]:
    """Every cell and spend item this change moves, and by how much (new image minus old image)."""
    deltas: dict[Key, CellDelta] = {}
    for image, sign in ((change.new, 1), (change.old, -1)):
        if image is None:
            continue
        totals = Totals.of_event(image).scaled(sign)
        for key, attributes in event_cells(image):
            _add(deltas, (key["PK"], key["SK"]), attributes, totals)
        for b in active:
            if change.stamp >= b.live_from and b.counts(image):
                period = b.period_of(image.ts)
                k = budgets.spend_key(b, period.key)
                _add(deltas, (k["PK"], k["SK"]), {"budget_id": b.budget_id, "period_key": period.key}, totals)
    return {k: d for k, d in deltas.items() if d.totals.counters()}


def _add(deltas: dict[Key, CellDelta], key: Key, attributes: dict[str, str], totals: Totals) -> None:
    delta = deltas.get(key)
    if delta is None:
        deltas[key] = CellDelta(dict(attributes), Totals().add(totals))
    else:
        delta.totals.add(totals)


# --- applying a batch ------------------------------------------------------------------------

# Items a transaction has room for besides the checkpoint and the pending parts' item.
ROOM = MAX_TRANSACTION_ITEMS - 2


@dataclass
class Batch:
    """The changes of one delivery not yet applied, merged: every item written once, cut into parts."""

    first: Change
    last: Change
    parts: list[dict[Key, CellDelta]]
    through: datetime  # the newest write stamp among them (freshness)
    touched: list[tuple[str, str]]  # (budget id, an event time in the period): what to evaluate
    records: int


def merge(changes: Sequence[Change], active: Sequence[budgets.Budget]) -> Batch:
    """One delta per item for all the changes; the items sorted and cut into parts of `ROOM`."""
    deltas: dict[Key, CellDelta] = {}
    for change in changes:
        for key, delta in change_deltas(change, active).items():
            _add(deltas, key, delta.attributes, delta.totals)
    keys = sorted(k for k, d in deltas.items() if d.totals.counters())
    parts = [{k: deltas[k] for k in keys[i:i + ROOM]} for i in range(0, len(keys), ROOM)] or [{}]
    touched = sorted({(b.budget_id, format_ts(image.ts)) for b, image in _counted(changes, active)})
    return Batch(changes[0], changes[-1], parts, max(c.stamp for c in changes), touched, len(changes))


@dataclass
class BatchResult:
    applied: int = 0  # transactions committed
    skipped: int = 0  # records the checkpoint already covered
    failed_from: str | None = None  # the sequence number to retry from (partial batch response)


def apply_batch(shard_id: str, records: Sequence[Mapping[str, Any]], now: datetime | None = None) -> BatchResult:
    """Fold one stream batch (one shard, in order) into the totals; exactly once whatever is redelivered.

    The changes the checkpoint does not cover yet are merged into one delta per
    item. When they fit one transaction, it applies them with the checkpoint;
    otherwise the first transaction also stores the remaining parts (the
    shard's pending batch) and each later one applies the next part, the last
    moving the checkpoint. A delivery first finishes a pending batch an earlier
    one began. Every item is written once per batch whatever its size, so a hot
    cell takes one transaction per batch.
    """
    result = BatchResult()
    changes = changes_of(records)
    if not changes:
        return result
    # Read after the batch arrived: a budget written later than this has a `live_from`
    # after every record here, so none of them is ours to count for it (budgets.changes).
    active = budgets.load_all()
    touched: list[tuple[str, str]] = []
    for _attempt in range(MAX_CHECKPOINT_MOVES):
        try:
            result.applied += finish_pending(shard_id, active, touched, now)
            seq = repository.current().checkpoint_seq(shard_id)
            pending = [c for c in changes if c.seq > seq]
            result.skipped = len(changes) - len(pending)
            if not pending:
                break
            batch = merge(pending, active)
            repository.current().mark_busy(shard_id, format_ts(now or datetime.now(UTC)))
            if not _apply_part(shard_id, batch, 1, now):
                continue  # another delivery moved the checkpoint: look again
            result.applied += 1
            touched += batch.touched
            result.applied += finish_pending(shard_id, active, touched, now)
            break
        except Exception:  # noqa: BLE001 - throttled or failed after retries: Lambda retries from here
            logger.exception("aggregator transaction failed")
            break
    through = _checkpoint_seq_or_none(shard_id)
    if through is None or changes[-1].seq > through:
        result.failed_from = next(c.sequence_number for c in changes if through is None or c.seq > through)
    # Evaluate every budget the batch touched, applied now or before (a crash after the
    # transaction and before the alert must not lose the alert; the dedup key keeps it once).
    budgets.evaluate(_periods(touched or [(b.budget_id, format_ts(image.ts))
                                          for b, image in _counted(changes, active)], active), now)
    return result


def finish_pending(shard_id: str, active: Sequence[budgets.Budget], touched: list[tuple[str, str]],
                   now: datetime | None = None) -> int:
    """Apply the remaining parts of the shard's pending batch, if any; the transactions committed."""
    pending = repository.current().pending_batch(shard_id)
    if pending is None:
        return 0
    batch = Batch(first=Change(pending["first"], "", None, None), last=Change(pending["last"], "", None, None),
                  parts=[{}] + checkpoints.decode_parts(pending["parts"]), through=events.parse_ts(pending["through"]),
                  touched=[tuple(t) for t in json.loads(pending["touched"])], records=int(pending["records"]))
    applied = 0
    for part in range(int(pending["done"]) + 1, len(batch.parts) + 1):
        if not _apply_part(shard_id, batch, part, now):
            return applied  # another delivery finished it
        applied += 1
    touched += batch.touched
    return applied


def _apply_part(shard_id: str, batch: Batch, part: int, now: datetime | None) -> bool:
    now = now or datetime.now(UTC)
    return repository.current().apply_part(checkpoints.BatchPart(
        shard_id=shard_id, part=part, parts=len(batch.parts), first=batch.first.seq, last=batch.last.seq,
        deltas=batch.parts[part - 1], through=format_ts(batch.through), applied_at=format_ts(now),
        expires_at=int((now + CHECKPOINT_RETENTION).timestamp()), records=batch.records,
        later_parts=batch.parts[1:] if part == 1 else [], touched=json.dumps(batch.touched)))


def _checkpoint_seq_or_none(shard_id: str) -> str | None:
    try:
        return repository.current().checkpoint_seq(shard_id)
    except Exception:  # noqa: BLE001 - DynamoDB is failing: retry the whole batch
        return None


def _counted(
    changes: Iterable[Change], active: Sequence[budgets.Budget]
) -> Iterator[tuple[budgets.Budget, UsageEvent]]:
    for change in changes:
        for b in active:
            for image in (change.new, change.old):
                if image is not None and change.stamp >= b.live_from and b.counts(image):
                    yield b, image


def _periods(touched: Iterable[tuple[str, str]],
             active: Sequence[budgets.Budget]) -> list[tuple[budgets.Budget, budgets.Period]]:
    by_id = {b.budget_id: b for b in active}
    found: dict[tuple[str, str], tuple[budgets.Budget, budgets.Period]] = {}
    for budget_id, ts in touched:
        b = by_id.get(budget_id)
        if b is not None:
            period = b.period_of(events.parse_ts(ts))
            found.setdefault((budget_id, period.key), (b, period))
    return list(found.values())


# --- the scheduled tick ----------------------------------------------------------------------------


def tick(now: datetime | None = None) -> dict[str, Any]:
    """Every minute (and locally every poll): run the budget backfills that are due, report utilization.

    A backfill is due once every event stamped before its generation's
    `live_from` is stored and counted in the cells (so the cells name every
    service it must read): `aggregated_through` has passed `live_from`.
    """
    now = now or datetime.now(UTC)
    through = freshness.aggregated_through(now)
    ran = []
    for b in budgets.load_all():
        if b.backfill_due(now) and through >= b.live_from:
            budgets.backfill(b, now)
            ran.append(b.budget_id)
    budgets.report_utilization(now)
    return {"backfilled": ran, "aggregated_through": format_ts(through)}
