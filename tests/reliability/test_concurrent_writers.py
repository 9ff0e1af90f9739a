"""Concurrent writers against `aiusage serve` over HTTP (SPEC 4.5: exact under concurrent writers).

Two `aiusage serve` processes share one DynamoDB (a moto server), so their recording transactions really
race; 8 writer threads post overlapping batches of the same event ids to both at once, some ids with two
different contents. Afterwards: every id was `created` exactly once across all answers, every other answer
for it is `duplicate` or `conflict` against the stored content, and every total (usage, budget, report)
equals the sum over the stored events.
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

WRITERS = 8
IDS = [f"cw-{n:03d}" for n in range(80)]
CONTESTED = set(IDS[::5])  # posted with two different contents
DAY = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1"}


def content(event_id: str, variant: int) -> dict:
    n = int(event_id.split("-")[1])
    return {
        "event_id": event_id,
        "timestamp": f"{DAY}T{n % 24:02d}:{n % 60:02d}:00Z",
        "service": ["openai", "anthropic"][n % 2],
        "model": "m-1",
        "input_tokens": 100 * n + variant,
        "output_tokens": n,
        "requests": 1 + n % 3,
        "cost_usd": f"{n}.{variant}{n % 10}",
        "user_id": f"user-{n % 4}",
    }


@pytest.fixture(scope="module")
def servers():
    from aiusage.local.aws import EmbeddedAws

    aws = EmbeddedAws()
    endpoint = aws.start()
    args = ("--dynamodb-endpoint", endpoint, "--table", f"concurrent-{uuid.uuid4().hex[:8]}")
    started = []
    try:
        started.append(start_server(*args, env=AWS_ENV))
        started.append(start_server(*args, env=AWS_ENV))
        yield started
    finally:
        for server in started:
            server.stop()
        aws.stop()


def test_eight_writers_posting_the_same_ids_at_once_store_each_event_once(servers):
    status, _, _ = servers[0].request("PUT", "/budgets/everything", {"period": "total", "limit_usd": 100000})
    assert status == 201
    answers: list[list[dict]] = [[] for _ in range(WRITERS)]
    posted: list[dict[str, dict]] = [{} for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        rng = random.Random(w)
        ids = IDS[:]
        rng.shuffle(ids)
        try:
            start.wait()
            while ids:
                size = rng.randint(5, 20)
                batch, ids = ids[:size], ids[size:]
                bodies = [content(i, w % 2 if i in CONTESTED else 0) for i in batch]
                status, body, _ = servers[w % 2].request("POST", "/ai_usage", {"events": bodies})
                assert status == 200, (status, body)
                answers[w].extend(body["results"])
                posted[w].update({b["event_id"]: b for b in bodies})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors

    created = Counter(r["event_id"] for results in answers for r in results if r["status"] == "created")
    assert created == Counter({i: 1 for i in IDS})  # each id stored by exactly one writer
    statuses = Counter(r["status"] for results in answers for r in results)
    assert statuses["duplicate"] > 0 and statuses["conflict"] > 0 and sum(statuses.values()) == WRITERS * len(IDS)

    status, listing, _ = servers[1].request("GET", f"/ai_usage/events?start_date={DAY}&end_date={DAY}&limit=1000")
    assert status == 200
    stored = {e["event_id"]: e for e in listing["events"]}
    assert len(listing["events"]) == len(stored) == len(IDS) and set(stored) == set(IDS)

    # The stored content is one writer's, and every answer agrees with it.
    winner = {}
    for w in range(WRITERS):
        for r in answers[w]:
            sent = posted[w][r["event_id"]]
            same = sent["input_tokens"] == stored[r["event_id"]]["input_tokens"]
            if r["status"] == "created":
                assert same
                winner[r["event_id"]] = sent
            else:
                assert r["status"] == ("duplicate" if same else "conflict"), (r, sent, stored[r["event_id"]])
    assert len(winner) == len(IDS)

    servers[0].wait_aggregated(timeout=120, since=max(s.last_write for s in servers))
    cost = sum((Decimal(e["cost_usd"]) for e in winner.values()), Decimal(0))
    tokens = sum(e["input_tokens"] for e in winner.values())
    calls = sum(e["requests"] for e in winner.values())
    for server in servers:
        status, body, _ = server.request("GET", f"/ai_usage?start_date={DAY}&end_date={DAY}&aggregation=service,user")
        s = body["summary"]
        assert (s["total_cost_usd"], s["input_tokens"], s["total_api_calls"], s["events"]) == (
            usd(cost),
            tokens,
            calls,
            80,
        )
        assert sum(b["events"] for b in body["aggregations"]["by_user"].values()) == 80
        budget = server.request("GET", "/budgets/everything")[1]["status"]
        assert (budget["spent_usd"], budget["events"]) == (usd(cost), 80)
    status, report, _ = servers[0].request("POST", "/reports", {"kind": "daily", "period": DAY})
    assert status == 200 and (report["totals"]["total_cost_usd"], report["totals"]["events"]) == (usd(cost), 80)
