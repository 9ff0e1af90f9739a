"""Real DynamoDB's limits, emulated (SPEC 13): conflicting transactions are cancelled, hot keys throttled.

moto applies one request at a time, so it never shows a hot key or a transaction conflict. The local
DynamoDB's contention mode (`aiusage.local.moto_dynamodb.Contention`) does: a transaction holds its items
for a while after it ran and one touching a held item is cancelled with `TransactionConflict`; a partition
key that takes more write units than its rate within a second is throttled. Against it, `aiusage serve
--workers 4` (four processes, as four Lambda instances) takes concurrent writers posting repeats, batches
and conflicting contents while a budget is created: no 5xx, every id stored once, every total exact. The
write path has no item every event touches and no hot key: only the aggregator meets conflicts (the parts
of one batch follow each other on the shard's pending batch), and retries them.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.money import usd
from tests.e2e.conftest import start_server

DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def test_the_contention_mode_cancels_conflicting_transactions_and_throttles_a_hot_key(aws):
    import time

    from botocore.config import Config

    from aiusage.local import moto_dynamodb
    from shared import store, table

    mode = moto_dynamodb.enable_contention(moto_dynamodb.Contention(hold_seconds=0.3, key_wcu_per_second=5))
    try:
        raw = store.client()
        import boto3

        c = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
        name = store.settings().table_name

        def bump(pk: str) -> dict:
            return {"Update": {"TableName": name, "Key": store.to_dynamo(table.key(pk, "X")),
                               "UpdateExpression": "ADD #n :one", "ExpressionAttributeNames": {"#n": "n"},
                               "ExpressionAttributeValues": {":one": {"N": "1"}}}}

        c.transact_write_items(TransactItems=[bump("SHARED"), bump("A")])
        with pytest.raises(raw.exceptions.TransactionCanceledException) as cancelled:
            c.transact_write_items(TransactItems=[bump("B"), bump("SHARED")])
        reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
        assert reasons == ["None", "TransactionConflict"]
        assert mode.conflicts == 1
        time.sleep(0.35)  # the first transaction no longer holds the item
        c.transact_write_items(TransactItems=[bump("B"), bump("SHARED")])
        assert store.get(table.key("SHARED", "X"))["n"] == 2 and store.get(table.key("B", "X"))["n"] == 1

        for n in range(5):  # 5 write units a second on one partition key
            c.put_item(TableName=name, Item=store.to_dynamo({"PK": "HOT", "SK": str(n)}))
        with pytest.raises(raw.exceptions.ProvisionedThroughputExceededException):
            c.put_item(TableName=name, Item=store.to_dynamo({"PK": "HOT", "SK": "5"}))
        c.put_item(TableName=name, Item=store.to_dynamo({"PK": "COLD", "SK": "0"}))  # another key is fine
        assert mode.throttles == 1
        time.sleep(1.05)
        c.put_item(TableName=name, Item=store.to_dynamo({"PK": "HOT", "SK": "5"}))  # the second has passed
    finally:
        moto_dynamodb.disable_contention()


def event(n: int, variant: int = 0) -> dict:
    return {"event_id": f"ct-{n:04d}", "timestamp": f"{DAY}T{n % 24:02d}:{n % 60:02d}:00Z",
            "service": ("openai", "anthropic", "google")[n % 3], "model": f"m-{n % 4}",
            "input_tokens": 100 * n + variant, "output_tokens": n % 50, "cost_usd": f"{n % 7}.{variant}{n % 10}",
            "user_id": f"user-{n % 200}", "project": f"p-{n % 3}", **({"job_id": "big-job"} if n % 2 else {})}


@pytest.mark.e2e
def test_four_instances_under_contention_answer_every_writer_and_count_exactly():
    # 200 users make a batch of a few dozen events more than one transaction: its parts follow each other on
    # the shard's pending batch within the hold (500 ms), so the aggregator meets conflicts; keys at 60 WCU/s.
    # Five processes on a small machine: each event write may take up to 5 s (the AWS setting), not the local 2 s,
    # so a slow moment of the machine is not mistaken for a write that cannot be bounded (a 500).
    server = start_server("--workers", "4", "--contention", "hold_ms=500,key_wcu=60",
                          "--table", f"contention-{uuid.uuid4().hex[:6]}", env={"WRITE_BOUND_SECONDS": "5"})
    try:
        ids = list(range(600))
        contested = set(ids[::7])
        answers: list[dict] = []
        posted: dict[tuple[int, int], dict] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def writer(w: int) -> None:
            rng = random.Random(w)
            order = ids[:]
            rng.shuffle(order)
            try:
                start.wait()
                while order:
                    size = rng.choice([1, 1, 1, 25])  # single events, and SDK batches of 25
                    batch, order = order[:size], order[size:]
                    variant = w % 2
                    bodies = [event(n, variant if n in contested else 0) for n in batch]
                    status, body, _ = server.request(
                        "POST", "/ai_usage", bodies[0] if size == 1 else {"events": bodies}
                    )
                    assert status == 200, (status, body)
                    answers.extend(body["results"])
                    for n, b in zip(batch, bodies, strict=True):
                        posted[(w, n)] = b
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        status, _, _ = server.request("PUT", "/budgets/everything", {"period": "total", "limit_usd": 100000})
        assert status == 201
        for t in threads:
            t.join(300)
        assert not errors, errors[:3]

        created = Counter(r["event_id"] for r in answers if r["status"] == "created")
        assert created == Counter({f"ct-{n:04d}": 1 for n in ids})  # each stored by exactly one writer
        assert len(answers) == 8 * len(ids)

        server.wait_aggregated(timeout=120)
        stored = {}
        token = None
        while True:
            query = f"/ai_usage/events?start_date={DAY}&end_date={DAY}&limit=1000" + (
                f"&next_token={token}" if token else ""
            )
            status, page, _ = server.request("GET", query)
            assert status == 200, page
            stored.update({e["event_id"]: e for e in page["events"]})
            token = page["next_token"]
            if not token:
                break
        assert set(stored) == {f"ct-{n:04d}" for n in ids}
        cost = sum((Decimal(str(e["cost_usd"])) for e in stored.values()), Decimal(0))
        tokens = sum(e["input_tokens"] for e in stored.values())
        status, body, _ = server.request(
            "GET", f"/ai_usage?start_date={DAY}&end_date={DAY}&aggregation=service,user,job"
        )
        s = body["summary"]
        assert (s["total_cost_usd"], s["input_tokens"], s["events"]) == (usd(cost), tokens, len(ids))
        assert sum(b["events"] for b in body["aggregations"]["by_user"].values()) == len(ids)
        assert body["aggregations"]["by_job"]["big-job"]["events"] == len(ids) // 2
        budget = server.request("GET", "/budgets/everything")[1]["status"]
        assert (budget["spent_usd"], budget["events"]) == (usd(cost), len(ids))
        status, report, _ = server.request("POST", "/reports", {"kind": "daily", "period": DAY})
        assert status == 200 and (report["totals"]["total_cost_usd"], report["totals"]["events"]) == (
            usd(cost),
            len(ids),
        )
    finally:
        server.stop()
    stats = [line for line in server.output if line.startswith("contention:")]
    assert stats, server.output[-5:]
    cancelled = int(stats[0].split()[1])
    assert cancelled > 0, stats  # the mode was on, and the aggregator retried what it cancelled
    assert not any("dropped" in line for line in server.output)  # no batch given up (on-failure destination)
