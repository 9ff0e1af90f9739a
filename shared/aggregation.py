"""The aggregator: folds the table's stream of events into cells and budget spend, exactly once.

`POST /ai_usage` writes each event and nothing else (SPEC 13). DynamoDB
Streams hands the aggregator function batches of the event items' INSERT and
MODIFY records, one stream shard per batch, in order (`table.AGGREGATOR_FILTERS`).
`apply_batch` turns a batch into merged deltas: `+` the new image and `-` the
old one in every hour, day and dimension cell and in the spend item of every
budget that counts it — so an insert adds an event and a reprice adds exactly
its difference. A batch of 1,000 events writes a few dozen cells once.

Exactly once: each transaction applies a run of consecutive records together
with the shard's checkpoint (`STREAM#<shard>`), on condition that the
checkpoint is still below the run's first sequence number. A redelivered,
retried or bisected batch skips what the checkpoint already covers; a crash
between transactions loses nothing and counts nothing twice. Runs are cut so
that a transaction holds at most 100 items; a single record needing more is
applied in parts the checkpoint also tracks.

Budgets: a budget generation counts, here, the records written (stamped) from
its `live_from` on; the records stamped before it are its backfill's
(`shared/budgets.py`). After each batch the budgets it touched are evaluated:
threshold and forecast alerts (once each, by dedup key) and `BudgetUtilization`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import budgets, events, freshness, store, table
from shared.events import UsageEvent
from shared.models import format_ts
from shared.rollups import CellDelta, Totals, event_cells

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
        if record.get("eventName") not in ("INSERT", "MODIFY") or body.get("Keys", {}).get("SK", {}).get("S") != table.EVENT_SK:
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


@dataclass
class Run:
    """Records applied in one transaction with the checkpoint: whole ones, or one record's part."""

    changes: list[Change]
    deltas: dict[Key, CellDelta]
    part: int = 0  # 1..parts when one record is split over several transactions
    parts: int = 0

    @property
    def first(self) -> Change:
        return self.changes[0]

    @property
    def last(self) -> Change:
        return self.changes[-1]


def plan(changes: Sequence[Change], active: Sequence[budgets.Budget]) -> list[Run]:
    """Cut consecutive changes into transactions of at most 100 items (the checkpoint is one)."""
    room = MAX_TRANSACTION_ITEMS - 1
    runs: list[Run] = []
    current: Run | None = None
    for change in changes:
        deltas = change_deltas(change, active)
        if len(deltas) > room:  # one record alone needs more: split it
            if current is not None:
                runs.append(current)
                current = None
            keys = sorted(deltas)
            parts = [keys[i:i + room] for i in range(0, len(keys), room)]
            runs += [Run([change], {k: deltas[k] for k in part}, n, len(parts)) for n, part in enumerate(parts, 1)]
            continue
        if current is not None and len(current.deltas.keys() | deltas.keys()) > room:
            runs.append(current)
            current = None
        if current is None:
            current = Run([], {})
        current.changes.append(change)
        for key, delta in deltas.items():
            _add(current.deltas, key, delta.attributes, delta.totals)
    if current is not None:
        runs.append(current)
    return runs


# --- applying a batch ------------------------------------------------------------------------


@dataclass
class Checkpoint:
    seq: str = ""
    part_seq: str = ""
    parts_done: int = 0

    @classmethod
    def read(cls, shard_id: str) -> Checkpoint:
        item = store.get(table.checkpoint_key(shard_id)) or {}
        return cls(item.get("seq", ""), item.get("part_seq", ""), int(item.get("parts_done", 0)))

    def covers(self, run: Run) -> bool:
        if run.last.seq <= self.seq:
            return True
        return bool(run.part and run.first.seq == self.part_seq and run.part <= self.parts_done)


@dataclass
class BatchResult:
    applied: int = 0  # transactions committed
    skipped: int = 0  # records the checkpoint already covered
    failed_from: str | None = None  # the sequence number to retry from (partial batch response)
    touched: dict[tuple[str, str], tuple[budgets.Budget, budgets.Period]] = field(default_factory=dict)


def apply_batch(shard_id: str, records: Sequence[Mapping[str, Any]], now: datetime | None = None) -> BatchResult:
    """Fold one stream batch (one shard, in order) into the totals; exactly once whatever is redelivered."""
    result = BatchResult()
    changes = changes_of(records)
    if not changes:
        return result
    # Read after the batch arrived: a budget written later than this has a `live_from`
    # after every record here, so none of them is ours to count for it (budgets.put_budget).
    active = budgets.load_all()
    checkpoint = Checkpoint.read(shard_id)
    pending = [c for c in changes if c.seq > checkpoint.seq]
    result.skipped = len(changes) - len(pending)
    moved = 0
    while pending and result.failed_from is None:
        for run in plan(pending, active):
            if checkpoint.covers(run):
                continue
            try:
                applied = store.apply_run(shard_id, _checkpoint_update(run, now), run.deltas)
            except Exception:  # noqa: BLE001 - throttled or failed after retries: Lambda retries from here
                result.failed_from = run.first.sequence_number
                break
            if not applied:
                # The checkpoint moved under us (another delivery of the same records): start
                # over from where it is now.
                checkpoint = Checkpoint.read(shard_id)
                pending = [c for c in pending if c.seq > checkpoint.seq]
                moved += 1
                if moved > MAX_CHECKPOINT_MOVES:
                    result.failed_from = pending[0].sequence_number if pending else None
                break
            result.applied += 1
            checkpoint = _after(run, checkpoint)
        else:
            pending = []
    # Evaluate every budget the batch touched, applied now or before (a crash after the
    # transaction and before the alert must not lose the alert; the dedup key keeps it once).
    done = [c for c in changes if result.failed_from is None or c.seq < result.failed_from.zfill(SEQUENCE_WIDTH)]
    budgets.evaluate(_touched(done, active), now)
    return result


def _checkpoint_update(run: Run, now: datetime | None) -> store.CheckpointUpdate:
    now = now or datetime.now(UTC)
    through = max(c.stamp for c in run.changes)
    common = {"through": format_ts(through), "applied_at": format_ts(now),
              table.TTL_ATTRIBUTE: int((now + CHECKPOINT_RETENTION).timestamp())}
    if not run.part:
        return store.CheckpointUpdate(below=run.first.seq, no_part=True,
                                      set_values={"seq": run.last.seq, **common}, remove=("part_seq", "parts_done"),
                                      records=len(run.changes))
    if run.part == 1:
        condition = store.CheckpointUpdate(below=run.first.seq, no_part=True)
    else:
        condition = store.CheckpointUpdate(below=run.first.seq, part_seq=run.first.seq, parts_done=run.part - 1)
    if run.part == run.parts:
        condition.set_values = {"seq": run.first.seq, **common}
        condition.remove = ("part_seq", "parts_done")
        condition.records = 1
    else:
        condition.set_values = {"part_seq": run.first.seq, "parts_done": run.part, **common}
    return condition


def _after(run: Run, checkpoint: Checkpoint) -> Checkpoint:
    if run.part and run.part < run.parts:
        return Checkpoint(checkpoint.seq, run.first.seq, run.part)
    return Checkpoint(run.last.seq)


def _touched(changes: Iterable[Change], active: Sequence[budgets.Budget]) -> list[tuple[budgets.Budget, budgets.Period]]:
    touched: dict[tuple[str, str], tuple[budgets.Budget, budgets.Period]] = {}
    for change in changes:
        for b in active:
            for image in (change.new, change.old):
                if image is not None and change.stamp >= b.live_from and b.counts(image):
                    period = b.period_of(image.ts)
                    touched.setdefault((b.budget_id, period.key), (b, period))
    return list(touched.values())


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
