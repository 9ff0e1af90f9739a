"""The aggregator, exactly once (SPEC 4.5, 13): redelivered, half-failed, crashed and bisected stream batches,
records that need more than one transaction, repricing through the stream, TTL deletions, and freshness.

The batches are the table's real stream records (read from moto's DynamoDB stream and shaped as Lambda
delivers them); the handler is the aggregator Lambda's. After every kind of trouble, every total equals the
sum over the distinct stored events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.money import usd

DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
SHARD = "shardId-test-0001"


def event(n: int, **changes) -> dict:
    return {
        "event_id": f"a-{n}",
        "timestamp": f"{DAY}T{n % 24:02d}:{n % 60:02d}:00Z",
        "service": ["openai", "anthropic"][n % 2],
        "model": f"m-{n % 3}",
        "input_tokens": 100 + n,
        "output_tokens": n,
        "cost_usd": f"0.{n:06d}",
        "user_id": f"u{n % 5}",
        "project": f"p{n % 2}",
        **changes,
    }


def post(api, events: list[dict]) -> None:
    for start in range(0, len(events), 500):
        answer = api.post("/ai_usage", {"events": events[start:start + 500]}, drain=False)
        assert answer.status == 200, answer


def stream_records() -> list[dict]:
    """Every event record of the table's stream so far, as the event source mapping would deliver them."""
    from tests.support.aggregation import poller

    return poller().history()


def deliver(records: list[dict], shard: str = SHARD) -> dict:
    from aiusage.local.stream import _Context
    from functions.aggregator.handler import lambda_handler

    return lambda_handler({"Records": records, "shardId": shard, "eventSourceARN": "arn:test", "state": {},
                           "window": {"start": DAY, "end": DAY}, "isFinalInvokeForWindow": False}, _Context())


def totals(api) -> tuple[float, int, int, int]:
    answer = api.get("/ai_usage", start_date=DAY, end_date=DAY, aggregation="user,project", drain=False)
    s = answer.json()["summary"]
    by_user = answer.json()["aggregations"]["by_user"]
    assert sum(b["events"] for b in by_user.values()) == s["events"]
    return s["total_cost_usd"], s["input_tokens"], s["total_api_calls"], s["events"]


def in_order(records: list[dict], events: list[dict]) -> list[dict]:
    """The posted events in the order of their stream records (a batch is written in parallel)."""
    by_id = {e["event_id"]: e for e in events}
    return [by_id[r["dynamodb"]["Keys"]["PK"]["S"].removeprefix("EVENT#")] for r in records]


def expected(events: list[dict]) -> tuple[float, int, int, int]:
    return (usd(sum(Decimal(e["cost_usd"]) for e in events)), sum(e["input_tokens"] for e in events), len(events),
            len(events))


def test_a_redelivered_batch_counts_nothing_twice(api):
    events = [event(n) for n in range(60)]
    post(api, events)
    records = stream_records()
    assert len(records) == 60
    assert deliver(records) == {"batchItemFailures": [], "state": {}}
    assert totals(api) == expected(events)
    assert deliver(records)["batchItemFailures"] == []  # the same batch again (Lambda retried it)
    assert deliver(records[10:30])["batchItemFailures"] == []  # and a part of it
    assert totals(api) == expected(events)


def test_a_half_failed_batch_is_retried_and_completed_from_its_stored_parts(api, monkeypatch):
    """200 events with as many users and projects need more than one transaction: the first applies its part
    and stores the rest as the shard's pending batch; the second fails. The batch is reported failed from its
    first record; the retry finishes the stored parts, and counts nothing twice."""
    from shared import checkpoints

    events = [event(n, user_id=f"user-{n}", project=f"project-{n}") for n in range(200)]
    post(api, events)
    records = stream_records()
    real = checkpoints.apply_part
    parts = []

    def second_part_fails(part):
        parts.append(part.part)
        if len(parts) == 2:
            raise RuntimeError("throttled beyond its retries")
        return real(part)

    monkeypatch.setattr(checkpoints, "apply_part", second_part_fails)
    answer = deliver(records)
    assert answer["batchItemFailures"] == [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
    assert parts == [1, 2]
    assert checkpoints.pending_batch(SHARD)["done"] == 1
    monkeypatch.setattr(checkpoints, "apply_part", real)
    # Lambda retries from the failed record (the whole batch, and whatever came after it).
    assert deliver(records)["batchItemFailures"] == []
    assert checkpoints.pending_batch(SHARD) is None
    assert totals(api) == expected(events)
    assert deliver(records)["batchItemFailures"] == []
    assert totals(api) == expected(events)


@pytest.mark.parametrize("redelivery", ["whole batch", "bisected"])
def test_an_aggregator_killed_mid_batch_is_exact_after_the_retry(api, monkeypatch, redelivery):
    from shared import checkpoints

    events = [event(n, user_id=f"user-{n}") for n in range(240)]
    post(api, events)
    records = stream_records()
    real = checkpoints.apply_part
    calls = []

    def dies_after_its_first_transaction(part):
        real(part)
        calls.append(part.parts)
        raise SystemExit("the instance was killed")  # not an error the handler may catch

    monkeypatch.setattr(checkpoints, "apply_part", dies_after_its_first_transaction)
    with pytest.raises(SystemExit):
        deliver(records)
    assert calls[0] > 1  # the batch needed more than one transaction; one is applied, the rest stored
    assert checkpoints.pending_batch(SHARD)["done"] == 1
    monkeypatch.setattr(checkpoints, "apply_part", real)
    if redelivery == "whole batch":
        assert deliver(records)["batchItemFailures"] == []
    else:  # BisectBatchOnFunctionError: the halves, one after the other
        half = len(records) // 2
        assert deliver(records[:half])["batchItemFailures"] == []
        assert deliver(records[half:])["batchItemFailures"] == []
    assert totals(api) == expected(events)


def test_a_record_needing_more_than_one_transaction_is_applied_in_parts_exactly_once(api, monkeypatch):
    """120 budgets count every event: even one record moves more than 100 items, so it is applied in parts
    (the pending batch); a crash between two parts loses nothing and counts nothing twice."""
    from shared import budgets, checkpoints

    for n in range(120):
        budgets.put_budget(f"b{n:03d}", {"period": "total", "limit_usd": 1000, "thresholds": [0.99]}, "test")
    api.get("/budgets", drain=True)  # their backfills are done (there is nothing to count yet)
    events = [event(n) for n in range(3)]
    post(api, events)
    records = stream_records()
    real = checkpoints.apply_part
    calls = []

    def dies_after_the_first_part(part):
        applied = real(part)
        calls.append(len(part.deltas))
        if len(calls) == 1:
            raise SystemExit("killed between two parts of one record")
        return applied

    monkeypatch.setattr(checkpoints, "apply_part", dies_after_the_first_part)
    with pytest.raises(SystemExit):
        deliver(records)
    monkeypatch.setattr(checkpoints, "apply_part", real)
    assert deliver(records)["batchItemFailures"] == []
    assert deliver(records)["batchItemFailures"] == []
    assert totals(api) == expected(events)
    for b in budgets.load_all():
        status = budgets.status(b, datetime.now(UTC))
        assert (status["spent_usd"], status["events"]) == (expected(events)[0], 3), b.budget_id
    assert calls == [98]  # 100 items per transaction: the checkpoint, the pending parts and 98 deltas


def test_repricing_flows_through_the_stream_exactly_once(api):
    unpriced = [{"event_id": f"u-{n}", "timestamp": f"{DAY}T10:00:00Z", "service": "acme", "model": "acme-1",
                 "input_tokens": 1_000_000, "output_tokens": 0} for n in range(3)]
    assert api.put("/budgets/acme", {"scope": {"service": "acme"}, "period": "total", "limit_usd": 100}).status == 201
    post(api, unpriced)
    answer = api.get("/ai_usage", start_date=DAY, end_date=DAY).json()["summary"]
    assert (answer["total_cost_usd"], answer["unpriced_events"], answer["events"]) == (0.0, 3, 3)
    assert api.put("/prices/acme/acme-1", {"input_per_mtok": 2, "valid_from": "2020-01-01"}).status in (200, 201)
    first = api.post("/ai_usage/reprice", {"start_date": DAY, "end_date": DAY}).json()
    again = api.post("/ai_usage/reprice", {"start_date": DAY, "end_date": DAY}).json()
    assert (first["repriced"], again["examined"]) == (3, 0)
    answer = api.get("/ai_usage", start_date=DAY, end_date=DAY).json()["summary"]
    assert (answer["total_cost_usd"], answer["unpriced_events"], answer["events"]) == (6.0, 0, 3)
    status = api.get("/budgets/acme").json()["status"]
    assert (status["spent_usd"], status["events"]) == (6.0, 3)
    # The stream carried one insert and one modification per event; delivering them again changes nothing.
    from tests.support.aggregation import poller

    assert deliver(stream_records(), shard=poller()._shards()[0])["batchItemFailures"] == []
    assert api.get("/ai_usage", start_date=DAY, end_date=DAY).json()["summary"]["total_cost_usd"] == 6.0


def test_expiry_of_raw_events_never_subtracts_from_a_total(api):
    """TTL deletes raw events after the retention: the stream says REMOVE, and the totals keep them."""
    from shared import store, table

    events = [event(n) for n in range(5)]
    post(api, events)
    assert totals(api) == (0.0, 0, 0, 0)  # not aggregated yet: drain=False
    api.get("/health")  # drains
    assert totals(api) == expected(events)
    for e in events:  # what DynamoDB's TTL process does
        store.delete(table.event_key(e["event_id"]))
    api.get("/health")
    assert totals(api) == expected(events)


def test_answers_say_how_fresh_they_are_and_catch_up(api):
    from tests.support.aggregation import drain

    posted = api.post("/ai_usage", {"events": [event(n) for n in range(4)]}, drain=False).json()
    before = api.get("/ai_usage", start_date=DAY, end_date=DAY, drain=False).json()
    assert before["summary"]["events"] == 0
    assert before["stats"]["aggregated_through"] < posted["received_at"]
    drain()
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while True:
        after = api.get("/ai_usage", start_date=DAY, end_date=DAY, drain=False).json()
        if after["stats"]["aggregated_through"] >= posted["received_at"] or datetime.now(UTC) > deadline:
            break
    assert after["stats"]["aggregated_through"] >= posted["received_at"]
    assert after["summary"]["events"] == 4
    check = api.post("/budgets/check", {"service": "openai", "estimated_cost_usd": 1}, drain=False).json()
    assert check["spend_as_of"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert json.dumps(after["stats"]).count("aggregated_through") == 1
