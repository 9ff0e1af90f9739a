"""SPEC 13: what the write path sustains on real DynamoDB, measured on the requests the stack really sends.

A realistic mix (`mix_requests`) goes through the real ingest code against the local DynamoDB, with every
request logged (`dynamodb_model.WriteLog`). The table's stream is then fed to the real aggregator the way
the event source mapping feeds it at 10,000 events/s: records spread over `SHARDS` shards by their key
(as DynamoDB spreads partitions), batched per shard by `BATCH_SIZE` and `BATCHING_WINDOW` (the values the
CDK stack deploys). Writes that do not grow with the event rate (cells, once per batch) are thereby
charged at what they cost at 10,000 events/s. `dynamodb_model.charge` prices every request by SPEC 13.

The same mix goes through the previous design (`benchmarks/previous.py`, run from `PREVIOUS_COMMIT`).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks import dynamodb_model as model

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS_COMMIT = "9e6b4d2"  # the last commit of the transactional write path (one transaction per request)
RATE = 10_000  # events per second the stream is fed at
SHARDS = 10  # DynamoDB gives a table taking 10,000 WCU/s at least 10 partitions, so 10 stream shards
BATCH_SIZE = 1000  # infra/constructs/aggregation.py
BATCHING_WINDOW = 1.0
BUDGETS = {
    "everything": {"name": "Everything", "period": "monthly", "limit_usd": 1_000_000},
    "anthropic": {"name": "Anthropic", "scope": {"service": "anthropic"}, "period": "monthly", "limit_usd": 500_000},
}
SDK_MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("google", "gemini-2.5-flash"),
              ("anthropic", "claude-haiku-4-5"), ("openai", "text-embedding-3-small")]
REPOSITORIES = ["acme/web", "acme/api", "acme/infra", "acme/ml"]


def mix_requests(events: int, seed: int = 13) -> list[dict[str, Any]]:
    """`POST /ai_usage` bodies: 40 % of the events in SDK batches of 25, 30 % single events, 30 % Claude
    Code results from GitHub Actions (two models each), all within the last minutes."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bodies: list[dict[str, Any]] = []
    made = 0
    n = 0

    def ts() -> str:
        return (now - timedelta(seconds=rng.uniform(1, 240))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def sdk_event() -> dict[str, Any]:
        nonlocal n
        n += 1
        service, name = rng.choice(SDK_MODELS)
        return {"event_id": f"mix-{seed}-{n}", "timestamp": ts(), "service": service, "model": name,
                "input_tokens": rng.randint(200, 8000), "output_tokens": rng.randint(0, 900),
                "user_id": f"user-{rng.randint(1, 60):02d}", "project": rng.choice(["search", "support", "docs", "ml"]),
                "latency_ms": rng.randint(100, 5000), "tags": {"env": "prod"}}

    while made < events:
        kind = rng.random()
        if kind < 0.4 / 25 / (0.4 / 25 + 0.3 + 0.3 / 2):  # requests, weighted so events split 40/30/30
            job = "nightly-embeddings" if rng.random() < 0.5 else f"etl-{rng.randint(1, 20)}"
            batch = f"batch-{seed}-{len(bodies)}"
            bodies.append({"events": [{**sdk_event(), "job_id": job, "batch_id": batch} for _ in range(25)]})
            made += 25
        elif kind < 0.4 / 25 / (0.4 / 25 + 0.3 + 0.3 / 2) + 0.3 / (0.4 / 25 + 0.3 + 0.3 / 2):
            bodies.append(sdk_event())
            made += 1
        else:
            n += 1
            repo = rng.choice(REPOSITORIES)
            run = rng.randint(10**9, 10**10)
            sonnet = (rng.randint(10, 90), rng.randint(60_000, 180_000), rng.randint(800, 6000))
            haiku = (rng.randint(500, 4000), rng.randint(100, 900))
            bodies.append(
                {
                    "event_id": f"gh:{repo}:{run}:1:review:{n}",
                    "timestamp": ts(),
                    "service": "anthropic",
                    "github": {
                        "repository": repo,
                        "pr_number": rng.randint(1, 400),
                        "run_id": str(run),
                        "run_attempt": 1,
                        "workflow": "Claude Code Review",
                        "job": "review",
                        "actor": "dev",
                        "event_name": "pull_request",
                        "sha": f"{rng.getrandbits(160):040x}",
                    },
                    "claude_code_result": {
                        "type": "result",
                        "subtype": "success",
                        "is_error": False,
                        "num_turns": rng.randint(3, 20),
                        "duration_ms": rng.randint(20_000, 300_000),
                        "session_id": f"session-{seed}-{n}",
                        "total_cost_usd": 0.5,
                        "modelUsage": {
                            "claude-sonnet-4-5": {
                                "inputTokens": sonnet[0],
                                "cacheReadInputTokens": sonnet[1],
                                "cacheCreationInputTokens": 0,
                                "outputTokens": sonnet[2],
                                "costUSD": 0.45,
                            },
                            "claude-haiku-4-5": {
                                "inputTokens": haiku[0],
                                "cacheReadInputTokens": 0,
                                "cacheCreationInputTokens": 0,
                                "outputTokens": haiku[1],
                                "costUSD": 0.05,
                            },
                        },
                    },
                }
            )
            made += 2
    return bodies


def _decimal_bodies(bodies: list[dict[str, Any]]) -> list[Any]:
    return [json.loads(json.dumps(b), parse_float=Decimal) for b in bodies]


def measure_current(bodies: list[dict[str, Any]], progress: Any = print) -> dict[str, Any]:
    """The mix through today's ingest, then its stream through the aggregator at `RATE` events/s."""
    from aiusage.local.aws import local_aws
    from aiusage.local.stream import StreamPoller
    from benchmarks.data import BENCH_ENV
    from functions.aggregator.handler import lambda_handler as aggregator
    from shared import budgets, events, ingest, store, table

    with local_aws(BENCH_ENV, stream=True):
        poller = StreamPoller(os.environ["TABLE_NAME"], aggregator, window=0, embedded=True)
        for budget_id, body in BUDGETS.items():
            budgets.put_budget(budget_id, json.loads(json.dumps(body), parse_float=Decimal), "bench")
        poller.drain()
        log = model.WriteLog()
        log.attach(store.client())
        log.attach(store.event_client())
        for n, body in enumerate(_decimal_bodies(bodies)):
            ingest.record_usage(body)
            if n % 2000 == 0:
                progress(f"    ingest: {n:,} of {len(bodies):,} requests")
        ingest_requests = log.mark()
        records = poller.history()
        stored = len(records)
        batches = simulated_batches(records)
        progress(f"    aggregate: {stored:,} events in {len(batches)} batches over {SHARDS} shards")
        for shard_id, batch in batches:
            answer = aggregator({"Records": batch, "shardId": shard_id, "eventSourceARN": "arn:bench", "state": {}},
                                _Context())
            assert not answer["batchItemFailures"], answer
        _check_totals(records)
        lookup = _moto_lookup()
        gsis = {g.name: g.partition_key for g in table.GSIS}
        ingest_charge = model.charge(log.requests[:ingest_requests], gsis, lookup)
        aggregate_charge = model.charge(log.since(ingest_requests), gsis, lookup)
        sizes = [events.item_size(store.from_dynamo(r["dynamodb"]["NewImage"])) for r in records]
    total = model.Charge().add(ingest_charge).add(aggregate_charge)
    return {"events": stored, "requests": len(bodies), "ingest": ingest_charge.summary(stored),
            "aggregation": aggregate_charge.summary(stored), "total": total.summary(stored),
            "event_item_bytes": {"median": sorted(sizes)[len(sizes) // 2], "max": max(sizes),
                                 "over_1kb": sum(1 for s in sizes if s > 1024)}}


class _Context:
    function_name, memory_limit_in_mb, aws_request_id = "aggregator", 1024, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:aggregator"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def simulated_batches(records: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The stream as the event source mapping delivers it at `RATE` events/s: a record arrives at i / RATE,
    lands on the shard of its key, and each shard's batch closes at `BATCH_SIZE` records or `BATCHING_WINDOW`."""
    open_batches: dict[int, list[dict[str, Any]]] = {}
    opened: dict[int, float] = {}
    out: list[tuple[float, str, list[dict[str, Any]]]] = []
    for i, record in enumerate(records):
        at = i / RATE
        shard = zlib.crc32(record["dynamodb"]["Keys"]["PK"]["S"].encode()) % SHARDS
        if shard in open_batches and at - opened[shard] >= BATCHING_WINDOW:
            out.append((opened[shard] + BATCHING_WINDOW, f"shard-{shard}", open_batches.pop(shard)))
        if shard not in open_batches:
            open_batches[shard], opened[shard] = [], at
        open_batches[shard].append(record)
        if len(open_batches[shard]) >= BATCH_SIZE:
            out.append((at, f"shard-{shard}", open_batches.pop(shard)))
    for shard, batch in open_batches.items():
        out.append((opened[shard] + BATCHING_WINDOW, f"shard-{shard}", batch))
    return [(shard_id, batch) for _, shard_id, batch in sorted(out, key=lambda b: b[0])]


def _check_totals(records: list[dict[str, Any]]) -> None:
    """The aggregated totals equal the sum over the stored events (the benchmark measures a correct run)."""
    from functions.api.routes.usage import usage_json
    from shared import events, store
    from shared.query import UsageQuery, query_usage

    stored = [events.from_item(store.from_dynamo(r["dynamodb"]["NewImage"])) for r in records]
    days = sorted({e.ts.date() for e in stored})
    answer = usage_json(query_usage(UsageQuery(days[0], days[-1], ["day"], [])))
    assert answer["summary"]["events"] == len(stored), answer["summary"]
    total = sum((e.cost_usd or 0 for e in stored), Decimal(0))
    assert Decimal(str(answer["summary"]["total_cost_usd"])) == total.quantize(Decimal("0.000001")), answer["summary"]


def _moto_lookup() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    def item_after(table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        t = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(t, key)
        item = t.get_item(hash_key, range_key)
        return item.to_json()["Attributes"] if item is not None else None

    return item_after


def measure_previous(bodies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The same mix through the previous design's own code, from its commit (None when git cannot give it)."""
    with tempfile.TemporaryDirectory(prefix="aiusage-previous-") as tmp:
        tree = Path(tmp) / "tree"
        archive = subprocess.run(["git", "archive", "--format=tar", PREVIOUS_COMMIT], cwd=ROOT, capture_output=True)
        if archive.returncode != 0:
            return None
        tree.mkdir()
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        requests = Path(tmp) / "requests.json"
        requests.write_text(json.dumps(bodies))
        out = Path(tmp) / "previous.json"
        subprocess.run([sys.executable, str(Path(__file__).parent / "previous.py"), str(tree), str(requests), str(out)],
                       check=True, cwd=tmp)
        return json.loads(out.read_text())
