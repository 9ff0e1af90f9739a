"""`make bench`: measure what SPEC 12 targets, side by side with the seed system's way.

- items read / requests of `GET /ai_usage` (cells) vs reading every raw event of
  the range through the service/date GSI (the seed system), for 2k/20k/200k events;
- item writes and write requests per ingested event by batch size;
- cold import time of each handler module as a ratio to `import boto3`;
- pure-Python time per event (validate + normalise + price), DynamoDB stubbed;
- the Lambda asset's unzipped size.

Everything runs against moto in this process (with the local stack's
transaction patch); DynamoDB item counts are what moto's responses report,
exactly as DynamoDB would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HANDLERS = {
    "api (query/ingest/admin)": "functions.api.handler",
    "authorizer": "functions.authorizer.handler",
    "reports": "functions.reports.handler",
    "notifier": "functions.notifier.handler",
}
TARGETS = {
    "sustained_events_per_second": 10_000,
    "wcu_per_event": 4,
    "items_read_90d": 2500,
    "writes_per_event_batch100": 6,
    "query_import_ratio": 2.0,
    "ingest_import_ratio": 3.0,
    "ms_per_event": 0.5,
    "asset_mb": 30,
}


@contextlib.contextmanager
def fresh_table(stream: bool = False) -> Iterator[None]:
    """A new moto table (from shared/table.py); with `stream`, its DynamoDB stream on, as deployed.

    The read benchmarks bulk-load up to 200,000 events: without a stream moto keeps no copy of each.
    """
    from aiusage.local.aws import local_aws
    from benchmarks.data import BENCH_ENV

    with local_aws(BENCH_ENV, stream=stream):
        yield


def _body(events: list[dict[str, Any]]) -> Any:
    return json.loads(json.dumps({"events": events}), parse_float=Decimal)


def seed(count: int, days: int, end: datetime) -> float:
    """Store `count` events and the cells they count in, straight through `shared/store.py`.

    The same code builds the items as the write path (`ingest.prepare`, `events.to_item`, the
    aggregator's `change_deltas`); they are bulk-loaded as finished items because moto re-parses every
    UpdateExpression in Python, which makes 200,000 recordings take most of an hour. Items read by the
    queries depend only on what is stored, which is identical.
    """
    from benchmarks.data import events
    from shared import aggregation, ingest, store
    from shared import events as codec

    started = time.perf_counter()
    received_at = datetime.now(UTC)
    generated = list(events(count, days, end))
    prepared = []
    for i in range(0, len(generated), 1000):
        prepared += ingest.prepare(_body(generated[i:i + 1000]))
    items = []
    cells: dict[tuple[str, str], Any] = {}
    for e in prepared:
        e.received_at = received_at
        items.append(codec.to_item(e, 400))
        for key, delta in aggregation.change_deltas(aggregation.Change("", "", e, None), []).items():
            aggregation._add(cells, key, delta.attributes, delta.totals)
    for (pk, sk), delta in cells.items():
        items.append({"PK": pk, "SK": sk, **delta.attributes, **delta.totals.counters()})
    store.put_items(items)
    return time.perf_counter() - started


def seed_approach(start: str, end: str) -> dict[str, Any]:
    """The seed system's answer: every raw event of the range through the service/date GSI."""
    from functions.api.params import date_range
    from shared import store, table
    from shared.query import _months, _time_bounds

    first, last = date_range(start, end)
    stats = store.ReadStats()
    cost, count = Decimal(0), 0
    services = {"openai", "anthropic", "google", "bedrock", "google_places"}
    for service in sorted(services):
        for month in _months(first, last):
            # DynamoDB reads (and pages over) whole items whatever the projection; projecting
            # cost_usd only spares moto's slow Python serialiser the rest of each item.
            for shard in table.shard_range(table.EVENT_INDEX_SHARDS):
                for item in store.query_all(table.service_month_partition(service, month, shard),
                                            index=table.GSI_BY_SERVICE, sk_between=_time_bounds(first, last),
                                            stats=stats, attributes=["cost_usd"]):
                    cost += item.get("cost_usd") or 0
                    count += 1
    return {"stats": stats.as_json(), "cost": cost, "events": count}


def measure_reads(sizes: list[int], end: datetime) -> list[dict[str, Any]]:
    from functions.api.routes.usage import usage_json
    from shared.query import UsageQuery, query_usage

    rows = []
    for size in sizes:
        with fresh_table():
            seconds = seed(size, 90, end)
            print(f"  seeded {size:,} events over 90 days in {seconds:.0f} s", flush=True)
            for window in (7, 30, 90):
                start = (end - timedelta(days=window - 1)).date().isoformat()
                stop = end.date().isoformat()
                seed_answer = seed_approach(start, stop)
                for aggregation in ("day,service", "day,service,model,operation"):
                    answer = usage_json(query_usage(UsageQuery(date.fromisoformat(start), date.fromisoformat(stop),
                                                               aggregation.split(","), [])))
                    total = Decimal(str(answer["summary"]["total_cost_usd"]))
                    assert abs(total - seed_answer["cost"].quantize(Decimal("0.000001"))) <= Decimal("0.000001"), (
                        total, seed_answer["cost"])
                    assert answer["summary"]["events"] == seed_answer["events"]
                    rows.append({
                        "events_stored": size, "days": window, "aggregation": aggregation,
                        "events_in_range": seed_answer["events"],
                        "items_read": answer["stats"]["items_read"], "requests": answer["stats"]["dynamodb_requests"],
                        "seed_items_read": seed_answer["stats"]["items_read"],
                        "seed_requests": seed_answer["stats"]["dynamodb_requests"],
                    })
    return rows


def measure_writes(end: datetime, per_size: int = 2000) -> list[dict[str, Any]]:
    """Item writes per event by batch size: the event puts, and the aggregator's writes for them."""
    from aiusage.local.stream import StreamPoller
    from benchmarks.data import events
    from benchmarks.dynamodb_model import WriteLog
    from functions.aggregator.handler import lambda_handler as aggregator
    from shared import store
    from shared.ingest import record_usage

    rows = []
    for batch_size in (1, 25, 100, 1000):
        with fresh_table(stream=True):
            log = WriteLog()
            log.attach(store.client())
            log.attach(store.event_client())
            generated = list(events(per_size, 2, end, seed=batch_size))
            for i in range(0, len(generated), batch_size):
                record_usage(_body(generated[i:i + batch_size]))
            StreamPoller(os.environ["TABLE_NAME"], aggregator, window=0, embedded=True).drain()
            writes = [(op, p) for op, p in log.requests if op in ("PutItem", "UpdateItem", "TransactWriteItems")]
            items = sum(len(p["TransactItems"]) if op == "TransactWriteItems" else 1 for op, p in writes)
            rows.append({"batch": batch_size, "events": len(generated), "item_writes_per_event": items / len(generated),
                         "write_requests_per_event": len(writes) / len(generated)})
    return rows


def _import_us(module: str) -> int:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "0"})
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-500:])
    for line in reversed(result.stderr.splitlines()):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1])
    raise RuntimeError(f"no importtime line for {module}")


def measure_imports(runs: int = 9) -> list[dict[str, Any]]:
    """Median import time of each handler module and of boto3, measured in alternation.

    Interleaving the runs exposes boto3 and the handlers to the same machine
    noise, so their ratio is steadier than either time.
    """
    modules = {"import boto3": "boto3", **{f"{label}: {module}": module for label, module in HANDLERS.items()}}
    available = {}
    for label, module in modules.items():
        try:
            _import_us(module)  # also warms the bytecode caches
            available[label] = module
        except RuntimeError:
            continue
    samples: dict[str, list[int]] = {label: [] for label in available}
    for _ in range(runs):
        for label, module in available.items():
            samples[label].append(_import_us(module))
    boto = statistics.median(samples["import boto3"])
    return [{"module": label, "ms": statistics.median(us) / 1000, "ratio": statistics.median(us) / boto}
            for label, us in samples.items()]


def measure_pure_python(count: int = 1000, rounds: int = 10) -> float:
    """Milliseconds per event for validate + normalise + price (no DynamoDB: overrides stubbed)."""
    from benchmarks.data import events
    from shared import ingest, pricing

    real = pricing.load_overrides
    pricing.load_overrides = lambda services: []
    try:
        body = _body(list(events(count, 1, datetime.now(UTC) - timedelta(hours=2))))
        ingest.prepare(body)  # warm: genai-prices' first lookup builds its tables
        started = time.perf_counter()
        for _ in range(rounds):
            ingest.prepare(body)
        return (time.perf_counter() - started) / (count * rounds) * 1000
    finally:
        pricing.load_overrides = real


def measure_asset() -> dict[str, Any] | None:
    """The Lambda asset built the way the stack builds it (needs the infra bundler)."""
    try:
        from infra import bundling
    except ImportError:
        return None
    path = Path(bundling.build_asset("real").path)
    size = bundling.tree_size(path)
    forbidden = [d for d in ("boto3", "botocore", "aws_cdk", "jsii", "pytest", "moto", "typer", "rich")
                 if (path / d).exists()]
    return {"path": str(path), "mb": size / 1_000_000, "forbidden": forbidden}


def _machine() -> dict[str, str]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", f":!{RESULTS.relative_to(ROOT)}"],
                           capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def render_scale(scale: dict[str, Any]) -> list[str]:
    from benchmarks.scale import BATCH_SIZE, BATCHING_WINDOW, PREVIOUS_COMMIT, RATE, SHARDS

    current, previous = scale["current"], scale.get("previous")
    lines = ["", "## Scale on real DynamoDB (SPEC 13's model; target: >= 10,000 events/s and <= 4 WCU per event)", "",
             f"A mix of {current['events']:,} events in {current['requests']:,} requests (40 % SDK batches of 25, "
             "30 % single events, 30 % Claude Code results of two models from GitHub Actions; two budgets), "
             "every DynamoDB request counted and priced per key. The aggregator is fed the stream at "
             f"{RATE:,} events/s over {SHARDS} shards (batches of up to {BATCH_SIZE:,} or {BATCHING_WINDOW:g} s).", "",
             "| design | WCU / event | hottest key | its WCU / event | hottest item | its transactions / event "
             "| sustained events/s | limited by | $ / million events |",
             "|---|---:|---|---:|---|---:|---:|---|---:|"]
    rows = [("stream aggregation (this commit)", current["total"])]
    if previous:
        rows.append((f"one transaction per request ({PREVIOUS_COMMIT})", previous["total"]))
    for name, t in rows:
        lines.append(
            f"| {name} | {t['wcu_per_event']:.2f} | `{t['hottest_key']}` | {t['hottest_key_wcu_per_event']:.4f} "
            f"| `{t['hottest_item']}` | {t['hottest_item_transactions_per_event']:.4f} "
            f"| {t['sustained_events_per_second']:,.0f} | {t['limited_by']} | {t['usd_per_million_events']:.2f} |"
        )
    if not previous:
        lines.append(
            f"| previous design ({PREVIOUS_COMMIT}) | not measured: git has no such commit here | | | | | | | |"
        )
    i, a = current["ingest"], current["aggregation"]
    size = current["event_item_bytes"]
    lines += [
        "",
        f"This commit, by path: ingest {i['wcu_per_event']:.2f} WCU per event (hottest key `{i['hottest_key']}`, "
        f"sustains {i['sustained_events_per_second']:,.0f}/s), aggregation {a['wcu_per_event']:.2f} "
        f"(hottest key `{a['hottest_key']}`, item `{a['hottest_item']}`, sustains "
        f"{a['sustained_events_per_second']:,.0f}/s). Event items: median {size['median']} bytes, "
        f"largest {size['max']}, {size['over_1kb']} over 1 KB. Requests: ingest {i['requests']}, "
        f"aggregation {a['requests']}.",
    ]
    return lines


def render(machine: dict[str, str], reads: list[dict], writes: list[dict], imports: list[dict], ms_per_event: float,
           asset: dict | None, scale: dict[str, Any] | None = None) -> str:
    lines = ["# Benchmark results", "", "Written by `make bench`; numbers from one run on this machine.", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    if scale is not None:
        lines += render_scale(scale)
    lines += [
        "",
        "## GET /ai_usage: DynamoDB items read (target: <= 2,500 for 90 days by day,service at any volume)",
        "",
        "| events stored | days | aggregation | events in range | items read | requests "
        "| seed: items read | seed: requests | seed / cells |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in reads:
        lines.append(f"| {r['events_stored']:,} | {r['days']} | {r['aggregation']} | {r['events_in_range']:,} | "
                     f"{r['items_read']:,} | {r['requests']} | {r['seed_items_read']:,} | {r['seed_requests']} | "
                     f"{r['seed_items_read'] / max(r['items_read'], 1):.1f}x |")
    lines += [
        "",
        "## Write path: DynamoDB item writes per event, event puts and aggregator writes (target: <= 6 at batch 100)",
        "",
        "| batch size | events | item writes / event | write requests / event |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {w['batch']} | {w['events']:,} | {w['item_writes_per_event']:.2f} | {w['write_requests_per_event']:.3f} |"
        for w in writes
    ]
    lines += [
        "",
        "## Cold import (`python -X importtime`, median of 9 alternating runs; "
        "target: query <= 2x, ingest <= 3x `import boto3`)",
        "",
        "| module | ms | x boto3 |",
        "|---|---:|---:|",
    ]
    lines += [f"| {i['module']} | {i['ms']:.1f} | {i['ratio']:.2f} |" for i in imports]
    lines += ["", "## Pure Python per event (validate + normalise + price; target: <= 0.5 ms)", "",
              f"{ms_per_event:.3f} ms per event", ""]
    lines += ["## Lambda asset (target: <= 30 MB unzipped, no CDK or test packages)", ""]
    if asset is None:
        lines.append("not measured: the infra bundler (infra/bundling.py) is not available")
    else:
        lines.append(f"{asset['mb']:.1f} MB unzipped; forbidden packages inside: {asset['forbidden'] or 'none'}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="aiusage benchmarks (SPEC 12)")
    parser.add_argument("--sizes", default="2000,20000,200000", help="events stored, comma separated")
    parser.add_argument("--scale-events", type=int, default=10_000, help="events of the SPEC 13 mix")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    from benchmarks import scale as scale_bench

    print(f"scale (SPEC 13): {args.scale_events:,} events through ingest and the aggregator ...", flush=True)
    bodies = scale_bench.mix_requests(args.scale_events)
    scale = {"current": scale_bench.measure_current(bodies, progress=lambda m: print(m, flush=True))}
    print(f"  this commit: {scale['current']['total']['sustained_events_per_second']:,.0f} events/s, "
          f"{scale['current']['total']['wcu_per_event']:.2f} WCU per event", flush=True)
    print(f"scale: the same mix through the previous design ({scale_bench.PREVIOUS_COMMIT}) ...", flush=True)
    scale["previous"] = scale_bench.measure_previous(bodies)
    if scale["previous"]:
        print(f"  previous: {scale['previous']['total']['sustained_events_per_second']:,.0f} events/s, "
              f"{scale['previous']['total']['wcu_per_event']:.2f} WCU per event", flush=True)
    print("reads ...", flush=True)
    reads = measure_reads(sizes, end)
    print("writes ...", flush=True)
    writes = measure_writes(end)
    print("imports ...", flush=True)
    imports = measure_imports()
    print("pure python ...", flush=True)
    ms_per_event = measure_pure_python()
    print("asset ...", flush=True)
    asset = measure_asset()
    report = render(_machine(), reads, writes, imports, ms_per_event, asset, scale)
    RESULTS.write_text(report)
    print()
    print(report)
    print(f"(bench took {time.perf_counter() - started:.0f} s; written to {RESULTS.relative_to(ROOT)})")
    failures = check_targets(reads, writes, imports, ms_per_event, asset, scale)
    for failure in failures:
        print("TARGET MISSED:", failure)
    sys.exit(1 if failures else 0)


def check_targets(reads: list[dict], writes: list[dict], imports: list[dict], ms_per_event: float,
                  asset: dict | None, scale: dict[str, Any] | None = None) -> list[str]:
    failures = []
    if scale is not None:
        total = scale["current"]["total"]
        if total["sustained_events_per_second"] < TARGETS["sustained_events_per_second"]:
            failures.append(f"sustains {total['sustained_events_per_second']:,.0f} events/s")
        if total["wcu_per_event"] > TARGETS["wcu_per_event"]:
            failures.append(f"{total['wcu_per_event']:.2f} WCU per event")
    for r in reads:
        if r["days"] == 90 and r["aggregation"] == "day,service" and r["items_read"] > TARGETS["items_read_90d"]:
            failures.append(f"{r['events_stored']} events: {r['items_read']} items read for 90 days")
    for w in writes:
        if w["batch"] == 100 and w["item_writes_per_event"] > TARGETS["writes_per_event_batch100"]:
            failures.append(f"batch 100: {w['item_writes_per_event']:.2f} writes per event")
    for i in imports:
        if i["module"].startswith("api") and i["ratio"] > TARGETS["query_import_ratio"]:
            failures.append(f"{i['module']}: {i['ratio']:.2f}x boto3")
    if ms_per_event > TARGETS["ms_per_event"]:
        failures.append(f"{ms_per_event:.3f} ms per event")
    if asset is not None and (asset["mb"] > TARGETS["asset_mb"] or asset["forbidden"]):
        failures.append(f"asset {asset['mb']:.1f} MB, forbidden {asset['forbidden']}")
    return failures
