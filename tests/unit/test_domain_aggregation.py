"""The aggregator on the in-memory repository: exactly once across redeliveries, parts and crashes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared import aggregation, ingest, table

SHARD = "shard-000"


def usage(n: int) -> dict:
    return {
        "event_id": f"a-{n}",
        "timestamp": f"2026-11-20T{n % 24:02d}:00:00Z",
        "service": ["openai", "anthropic"][n % 2],
        "model": f"m-{n % 3}",
        "input_tokens": 100 + n,
        "output_tokens": n,
        "cost_usd": f"0.{n:06d}",
        "user_id": f"u{n % 5}",
    }


def record(memory, count: int) -> list[dict]:
    assert ingest.record_usage({"events": [usage(n) for n in range(count)]})["accepted"] == count
    return list(memory.stream)


def day_totals(memory) -> tuple[Decimal, int, int]:
    """Cost, events and input tokens summed over every day cell (each event counts in exactly one)."""
    cells = [item for partition in table.day_cell_partitions("2026-11") for item in memory.query(partition)]
    return (sum((c.get("cost_usd", Decimal(0)) for c in cells), Decimal(0)), int(sum(c["events"] for c in cells)),
            int(sum(c["input_tokens"] for c in cells)))


def expected(count: int) -> tuple[Decimal, int, int]:
    return (sum((Decimal(f"0.{n:06d}") for n in range(count)), Decimal(0)), count,
            sum(100 + n for n in range(count)))


def day_cell(memory, n: int) -> dict:
    u = usage(n)
    return memory.get(table.day_cell_key("2026-11-20", u["service"], u["model"], "completion"))


def test_a_batch_is_applied_once_however_often_it_is_delivered(memory):
    records = record(memory, 6)
    first = aggregation.apply_batch(SHARD, records)
    assert (first.applied, first.skipped, first.failed_from) == (1, 0, None)
    cell = day_cell(memory, 4)  # a-4 alone in its day cell (openai, m-1)
    assert (cell["events"], cell["cost_usd"], cell["input_tokens"], cell["output_tokens"]) == (
        1,
        Decimal("0.000004"),
        104,
        4,
    )
    assert day_totals(memory) == expected(6)
    again = aggregation.apply_batch(SHARD, records)
    assert (again.applied, again.skipped) == (0, 6)
    half = aggregation.apply_batch(SHARD, records[3:])
    assert (half.applied, half.skipped) == (0, 3)
    assert day_totals(memory) == expected(6)
    assert memory.checkpoint_seq(SHARD) == records[-1]["dynamodb"]["SequenceNumber"].zfill(aggregation.SEQUENCE_WIDTH)
    assert memory.pending_batch(SHARD) is None


def test_a_batch_in_parts_survives_a_crash_between_parts_and_counts_nothing_twice(memory, monkeypatch):
    monkeypatch.setattr(aggregation, "ROOM", 5)  # a few items per transaction: the batch needs several
    records = record(memory, 8)
    real = memory.apply_part
    parts_seen = []

    def dies_after_the_first_part(part):
        applied = real(part)
        parts_seen.append((part.part, part.parts))
        if len(parts_seen) == 1:
            raise SystemExit("killed between two parts")
        return applied

    monkeypatch.setattr(memory, "apply_part", dies_after_the_first_part)
    with pytest.raises(SystemExit):
        aggregation.apply_batch(SHARD, records)
    pending = memory.pending_batch(SHARD)
    parts = parts_seen[0][1]
    assert parts > 2 and pending["done"] == 1 and memory.checkpoint_seq(SHARD) == ""
    assert Decimal(0) < day_totals(memory)[0] < expected(8)[0]  # the first part's cells only
    monkeypatch.setattr(memory, "apply_part", real)
    redelivered = aggregation.apply_batch(SHARD, records)
    assert redelivered.applied == parts - 1 and redelivered.failed_from is None
    assert memory.pending_batch(SHARD) is None and memory.checkpoint_seq(SHARD) > ""
    assert aggregation.apply_batch(SHARD, records).applied == 0
    assert day_totals(memory) == expected(8)
    checkpoint = memory.get(table.checkpoint_key(SHARD))
    assert checkpoint["records"] == 8 and "busy_since" not in checkpoint and "pending" not in checkpoint


def test_a_failed_transaction_reports_the_batch_failed_from_its_first_record(memory, monkeypatch):
    records = record(memory, 3)

    def throttled(part):
        raise RuntimeError("ThrottlingError")

    monkeypatch.setattr(memory, "apply_part", throttled)
    result = aggregation.apply_batch(SHARD, records)
    assert result.applied == 0 and result.failed_from == records[0]["dynamodb"]["SequenceNumber"]
    assert memory.get(table.checkpoint_key(SHARD))["busy_since"]  # freshness waits for it
