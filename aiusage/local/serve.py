"""`aiusage serve`: the whole stack on one machine, no Docker, no AWS account.

An embedded moto server stands in for DynamoDB (and its stream), SNS and
Secrets Manager; the table comes from `shared/table.py`; HTTP requests run
through the same authorizer and API handlers as in AWS (see `gateway.py`), and
the table's stream feeds the same aggregator handler as in AWS (see `stream.py`).
With `workers`, several processes serve the API at once, as several Lambda
instances do (see `workers.py`); with `contention`, the embedded DynamoDB
cancels conflicting transactions and throttles hot keys as real DynamoDB does
(see `moto_dynamodb.py`).
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 3000
    demo: bool = False
    dynamodb_endpoint: str | None = None
    table: str = "aiusage"
    workers: int = 1  # processes serving the API, each one "Lambda instance"
    contention: str | None = None  # e.g. "hold_ms=20,key_wcu=100" (aiusage.local.moto_dynamodb.Contention)
    quiet: bool = False  # no line per request
    data_dir: str | None = None  # keep the embedded table here between runs (<data_dir>/<table>.json)
    fresh: bool = False  # with data_dir: forget what was kept and start clean


class LocalStack:
    """The embedded AWS, the table, the admin key and the HTTP server, started and stopped together."""

    def __init__(self, options: ServeOptions):
        self.options = options
        self.admin_key = ""
        self.url = ""
        self._aws: Any = None
        self._http: Any = None
        self._stream: Any = None
        self._workers: list[Any] = []
        self._state: Path | None = None

    def start(self) -> None:
        o = self.options
        # Before any handler module is imported: Powertools reads these when a Logger is built.
        os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "aiusage")
        os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AIUsage")
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        # EMF metrics are for CloudWatch; locally they would only flood the terminal.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        # The write path's timing bounds at the scale of one machine (shared/config.py): the local
        # stream is polled every 50 ms, so totals follow a write within a fraction of a second.
        os.environ.setdefault("WRITE_BOUND_SECONDS", "2")
        # A stream read through another server's API (moto serialises a record in milliseconds) lags more.
        os.environ.setdefault("STREAM_LATENCY_SECONDS", "10" if o.dynamodb_endpoint else "0.5")
        os.environ.setdefault("BUDGET_FENCE_SECONDS", "0.5")

        from aiusage.local.aws import EmbeddedAws, ensure_table, ensure_topic, use_local_aws
        from aiusage.local.gateway import Gateway

        self._aws = EmbeddedAws()
        if o.contention:
            from aiusage.local import moto_dynamodb

            moto_dynamodb.enable_contention(moto_dynamodb.Contention.parse(o.contention))
        use_local_aws(self._aws.start(), o.dynamodb_endpoint)
        os.environ["TABLE_NAME"] = o.table

        import boto3

        from shared import store
        from shared.config import settings

        os.environ["ALERTS_TOPIC_ARN"] = ensure_topic(boto3.client("sns"), f"aiusage-{o.table}-alerts")
        settings.cache_clear()
        store.reset()
        ensure_table(store.client(), o.table)

        from aiusage.local.stream import StreamPoller
        from functions.aggregator.handler import lambda_handler as aggregator
        from shared import keys

        loaded = 0
        if o.data_dir and o.dynamodb_endpoint is None:
            self._state = Path(o.data_dir) / f"{o.table}.json"
            if o.fresh:
                self._state.unlink(missing_ok=True)
            elif self._state.exists():
                # Before the poller exists: loaded items come with their totals and are no new writes.
                loaded = load_state(self._state, o.table)
                print(f"loaded {loaded} items from {self._state} (--fresh starts clean)", flush=True)
        self._stream = StreamPoller(o.table, aggregator, embedded=o.dynamodb_endpoint is None)
        self.admin_key = os.environ.get("AIUSAGE_ADMIN_KEY") or keys.KEY_PREFIX + secrets.token_urlsafe(32)
        keys.ensure_key(self.admin_key, "admin (aiusage serve)", ["admin"])
        if o.demo and not loaded:
            self.seed_demo()
        self._stream.start()

        if o.workers > 1:
            from aiusage.local.workers import http_server, shared_socket, start_workers

            self._http = http_server(shared_socket(o.host, o.port), access_log=not o.quiet)
            host, port = self._http.server_address[:2]
            self._workers = start_workers(o.workers - 1, host, port, access_log=not o.quiet)
        else:
            from werkzeug.serving import make_server

            from aiusage.local.workers import log_request
            from functions.api.handler import lambda_handler as api
            from functions.authorizer.handler import lambda_handler as authorizer

            gateway = Gateway(api, authorizer, access_log=None if o.quiet else log_request)
            self._http = make_server(o.host, o.port, gateway, threaded=True)
            host, port = self._http.server_address[:2]
        self.url = f"http://{host}:{port}"

    def seed_demo(self) -> None:
        """The demo month through the API's code paths, then aggregated, saying how far it is as it goes."""
        from aiusage.local.demo import seed, seed_reports
        from shared.alerts import list_alerts

        started = time.monotonic()
        progress = Progress()
        counts = seed(progress=progress.step)
        total = counts["events"]
        # A generous bound: on a busy 2-core machine aggregating the month has taken over a minute.
        self._stream.drain(timeout=600, progress=lambda done: progress.step("aggregating", min(done, total), total))
        reports = seed_reports(progress=progress.step)
        progress.done(
            f"demo seeded in {time.monotonic() - started:.0f} s: {total} events, {counts['budgets']} budgets, "
            f"{len(list_alerts())} alerts, {reports} reports"
        )

    def serve_forever(self) -> None:
        self._http.serve_forever()

    def contention_stats(self) -> str | None:
        from aiusage.local import moto_dynamodb

        mode = moto_dynamodb.contention()
        if mode is None:
            return None
        return f"contention: {mode.conflicts} transactions cancelled by conflicts, {mode.throttles} writes throttled"

    def stop(self) -> None:
        stats = self.contention_stats() if self.options.contention else None
        if stats:
            print(stats, flush=True)
        if self._workers:
            from aiusage.local.workers import stop_workers

            stop_workers(self._workers)
        if self._http is not None:
            self._http.shutdown()
        if self._stream is not None:
            self._stream.stop()
            if self._state is not None:
                self._stream.drain()  # every stored event in the totals before they are kept
                saved = save_state(self._state, self.options.table)
                print(f"saved {saved} items to {self._state}", file=sys.stderr, flush=True)
        if self._aws is not None:
            self._aws.stop()


def _moto_table(name: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from shared.config import settings

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][settings().region].get_table(name)


def save_state(path: Path, table_name: str) -> int:
    """Every item of the embedded table, in DynamoDB JSON, to `path` (written whole, then renamed)."""
    import base64
    import json

    table = _moto_table(table_name)
    items = [item.to_json()["Attributes"] for item in table.all_items()]
    shard = table.stream_shard
    # The aggregator's per-shard checkpoint holds the last sequence number it applied: the next run's
    # stream goes on from there, or its records would look applied already.
    next_sequence = shard.starting_sequence_number + len(shard.items) if shard is not None else None
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"table": table_name, "stream_next_sequence": next_sequence, "items": items},
                                    default=lambda b: base64.b64encode(b).decode()))
    os.replace(temporary, path)
    return len(items)


def load_state(path: Path, table_name: str) -> int:
    """Put the items `save_state` kept back into the embedded table, without stream records: events come
    back with the cells and checkpoints that already count them, so the aggregator must not see them again."""
    import json

    table = _moto_table(table_name)
    state = json.loads(path.read_text())
    shard, table.stream_shard = table.stream_shard, None
    try:
        for attributes in state["items"]:
            table.put_item(attributes)
    finally:
        table.stream_shard = shard
    if shard is not None and state.get("stream_next_sequence"):
        shard.starting_sequence_number = max(shard.starting_sequence_number + len(shard.items),
                                             int(state["stream_next_sequence"]))
    return len(state["items"])


class Progress:
    """What the demo seeding is doing: one line rewritten in place on a terminal, a line per step elsewhere."""

    def __init__(self, stream: Any = None):
        self._out = stream or sys.stdout
        self._tty = self._out.isatty()
        self._last: tuple[str, int] = ("", -1)

    def step(self, what: str, done: int, total: int) -> None:
        line = f"seeding the demo: {what} {done}/{total}"
        quarter = (what, 4 * done // max(total, 1))
        if self._tty:
            self._out.write(f"\r{line:<72}")
        elif quarter != self._last:
            self._out.write(line + "\n")  # a log file or a pipe gets a line per quarter, not one per chunk
        self._last = quarter
        self._out.flush()

    def done(self, message: str) -> None:
        self._out.write((f"\r{message:<72}" if self._tty else message) + "\n")
        self._out.flush()


def banner(stack: LocalStack) -> str:
    key = stack.admin_key
    url = stack.url
    return "\n".join(
        [
            f"aiusage local stack (table {stack.options.table!r}{', demo month seeded' if stack.options.demo else ''})",
            f"admin key: {key}",
            # The key travels in the fragment, which no request carries; the page stores it for the tab and
            # removes it from the address bar (dashboard/src/main.ts).
            f"dashboard: {url}/dashboard#key={quote(key, safe='')}"
            "   (opens signed in; the key then leaves the address bar)",
            "try:",
            f"  curl -s -H 'Authorization: Bearer {key}' '{url}/ai_usage?aggregation=day,service'"
            " | python3 -m json.tool",
            f"  curl -s -X POST -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
            f'-d \'{{"service":"openai","model":"gpt-4o","input_tokens":1200,"output_tokens":300}}\' {url}/ai_usage',
            f"  curl -s -H 'Authorization: Bearer {key}' '{url}/ai_usage?group_by=day,service&format=csv'",
            f"listening on {url}",
        ]
    )


def serve(options: ServeOptions) -> None:
    stack = LocalStack(options)
    stack.start()

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print(banner(stack), flush=True)
    try:
        stack.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("stopped", file=sys.stderr, flush=True)
