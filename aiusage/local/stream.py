"""The local event source mapping: reads the table's DynamoDB stream and invokes the aggregator like Lambda.

`aiusage serve` (and the tests, through `drain`) run the very same aggregator
handler as AWS, fed the way Lambda feeds it: records filtered like the
mapping's filter (`shared.table.AGGREGATOR_FILTERS`), batched per shard up to
`batch_size` or the batching window, in the Lambda event shape with the
tumbling window's `shardId`; a partial batch response makes it retry from the
named record, an error bisects the batch and retries, and after
`max_retries` a batch is dropped and logged (the on-failure destination).
It also sends the scheduled tick every `tick_every` seconds.

The stream is read through the DynamoDB Streams API (`--dynamodb-endpoint`:
any server that has one), or, when the embedded moto runs in this very
process, straight from moto's stream shard: the same records, without moto
serialising every image attribute by attribute (tens of milliseconds each).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared import table

logger = logging.getLogger("aiusage.local")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class _Context:
    function_name = "aggregator"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:aggregator"
    aws_request_id = "local"
    log_group_name = "/aws/lambda/local"
    log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def matches(record: Mapping[str, Any], pattern: Mapping[str, Any]) -> bool:
    """Lambda's event filtering, for the patterns the mapping uses: nested objects of value lists."""
    for name, wanted in pattern.items():
        value = record.get(name)
        if isinstance(wanted, Mapping):
            if not isinstance(value, Mapping) or not matches(value, wanted):
                return False
        elif value not in wanted:
            return False
    return True


class StreamPoller:
    """One table's stream, polled shard by shard; `poll_once` hands every available batch over."""

    def __init__(self, table_name: str, handler: Handler, *, batch_size: int = 1000, window: float = 0.05,
                 tick_every: float = 1.0, max_retries: int = 6, client: Any = None, embedded: bool = False):
        self._table = table_name
        self._handler = handler
        self._batch_size = batch_size
        self._window = window
        self._tick_every = tick_every
        self._max_retries = max_retries
        self._client = client
        self._embedded = _EmbeddedStream(table_name) if embedded else None
        self._iterators: dict[str, str] = {}
        self._stream_arn: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_tick = 0.0
        self.batches = 0
        self.dropped = 0

    # --- the stream ---------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            from shared.config import settings

            s = settings()
            # Account-based stream endpoints are not what a local server answers on.
            self._client = boto3.client("dynamodbstreams", region_name=s.region, endpoint_url=s.dynamodb_endpoint,
                                        config=Config(account_id_endpoint_mode="disabled"))
        return self._client

    def _arn(self) -> str:
        if self._stream_arn is None:
            from shared import store

            self._stream_arn = store.client().describe_table(TableName=self._table)["Table"]["LatestStreamArn"]
        return self._stream_arn

    def _shards(self) -> list[str]:
        if self._embedded is not None:
            return self._embedded.shards()
        description = self.client.describe_stream(StreamArn=self._arn())["StreamDescription"]
        return [s["ShardId"] for s in description["Shards"]]

    def _iterator(self, shard_id: str, after: str | None = None, at: str | None = None) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self._arn(), "ShardId": shard_id}
        if at is not None:
            kwargs.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=at)
        elif after is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self.client.get_shard_iterator(**kwargs)["ShardIterator"]

    def _read(self, shard_id: str) -> list[dict[str, Any]]:
        """The shard's next records: up to the batch size, gathering for at most the batching window."""
        if self._embedded is not None:
            return self._embedded.read(shard_id, self._batch_size)
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + self._window
        while len(records) < self._batch_size:
            iterator = self._iterators.get(shard_id) or self._iterator(shard_id)
            # Small reads: a batch reaches the aggregator sooner when each record costs the server milliseconds.
            answer = self.client.get_records(ShardIterator=iterator, Limit=min(100, self._batch_size - len(records)))
            self._iterators[shard_id] = answer.get("NextShardIterator") or ""
            records += answer["Records"]
            if not records or time.monotonic() >= deadline:
                break
            if not answer["Records"]:
                time.sleep(min(0.01, max(deadline - time.monotonic(), 0)))
        return records

    def history(self) -> list[dict[str, Any]]:
        """Every record the stream holds that passes the filter, from its start, as Lambda would deliver
        them (for benchmarks and tests; the poller's own place in the stream does not move)."""
        records: list[dict[str, Any]] = []
        for shard_id in self._shards():
            if self._embedded is not None:
                raw = [r.to_json() for r in self._embedded._shard().items]
            else:
                raw, iterator = [], self._iterator(shard_id)
                while True:
                    answer = self.client.get_records(ShardIterator=iterator, Limit=1000)
                    if not answer["Records"]:
                        break
                    raw += answer["Records"]
                    iterator = answer["NextShardIterator"]
            records += [_lambda_record(r, self._arn()) for r in raw
                        if any(matches(r, p) for p in table.AGGREGATOR_FILTERS)]
        return records

    # --- handing batches over --------------------------------------------------------------

    def poll_once(self) -> int:
        """Read every shard once and invoke the aggregator with what passes the filter; records handed over."""
        handed = 0
        for shard_id in self._shards():
            records = self._read(shard_id)
            if not records:
                continue
            wanted = [_lambda_record(r, self._arn()) for r in records
                      if any(matches(r, p) for p in table.AGGREGATOR_FILTERS)]
            if wanted:
                self._invoke(shard_id, wanted)
                handed += len(wanted)
        return handed

    def _invoke(self, shard_id: str, records: Sequence[dict[str, Any]], attempt: int = 0) -> None:
        """Invoke with one batch; retry from a reported failure, bisect on an error, give up after max_retries."""
        while records:
            try:
                answer = self._handler(self._event(shard_id, records), _Context())
            except Exception:  # noqa: BLE001 - a crashed invocation: Lambda retries (bisecting)
                logger.exception("aggregator failed on %d records of %s", len(records), shard_id)
                if attempt >= self._max_retries:
                    self.dropped += len(records)
                    logger.error("dropped %d records after %d retries (on-failure destination)", len(records), attempt)
                    return
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
                if len(records) > 1:
                    half = len(records) // 2
                    self._invoke(shard_id, records[:half], attempt + 1)
                    self._invoke(shard_id, records[half:], attempt + 1)
                    return
                attempt += 1
                continue
            self.batches += 1
            failures = (answer or {}).get("batchItemFailures") or []
            if not failures:
                return
            first = min(failures, key=lambda f: int(f["itemIdentifier"]))["itemIdentifier"]
            if attempt >= self._max_retries:
                self.dropped += len(records)
                logger.error("dropped records from %s after %d retries (on-failure destination)", first, attempt)
                return
            attempt += 1
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
            records = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(first)]

    def _event(self, shard_id: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"Records": list(records), "shardId": shard_id, "eventSourceARN": self._arn(),
                "window": {"start": now, "end": now}, "state": {}, "isFinalInvokeForWindow": False,
                "isWindowTerminatedEarly": False}

    def drain(self, timeout: float = 60, progress: Callable[[int], None] | None = None) -> None:
        """Hand over everything the stream holds and run the budget backfills still due; return when none is left.

        `progress` is told the number of records handed over so far after each round."""
        from shared import budgets

        deadline = time.monotonic() + timeout
        handed = 0
        while time.monotonic() < deadline:
            if n := self.poll_once():
                handed += n
                if progress:
                    progress(handed)
                continue
            if not any(b.backfilled_at is None for b in budgets.load_all()):
                return
            self.tick()
            time.sleep(0.02)
        raise TimeoutError(f"the stream of {self._table} did not drain in {timeout} s")

    def tick(self) -> dict[str, Any]:
        self._last_tick = time.monotonic()
        return self._handler({"version": "0", "source": "aws.events", "detail-type": "Scheduled Event",
                              "detail": {}}, _Context())

    # --- running in the background -----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aiusage-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                handed = self.poll_once()
                if time.monotonic() - self._last_tick >= self._tick_every:
                    self.tick()
            except Exception:  # noqa: BLE001 - keep polling; the next round retries
                logger.exception("stream polling failed")
                handed = 0
            if not handed:
                self._stop.wait(self._window)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class _EmbeddedStream:
    """moto's stream shard of a table in this process, read by position like GetRecords."""

    def __init__(self, table_name: str):
        self._table_name = table_name
        self._next: dict[str, int] = {}

    def _shard(self) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        from shared.config import settings

        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][settings().region]
        return backend.get_table(self._table_name).stream_shard

    def shards(self) -> list[str]:
        return [self._shard().id]

    def read(self, shard_id: str, limit: int) -> list[dict[str, Any]]:
        shard = self._shard()
        start = self._next.get(shard_id, 0)
        records = [r.to_json() for r in shard.items[start:start + limit]]
        self._next[shard_id] = start + len(records)
        return records


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it (epoch seconds, the stream's ARN)."""
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = created.timestamp()
    return {"eventID": record.get("eventID"), "eventName": record["eventName"], "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": record.get("awsRegion", "us-east-1"), "dynamodb": body,
            "eventSourceARN": stream_arn}
