"""DynamoDB access: the only module that speaks boto3 to the table.

Keys come from `shared/table.py`; money goes in and out as Decimal (DynamoDB
numbers). Every read helper counts what DynamoDB returned into a `ReadStats`
so `GET /ai_usage` can show what an answer cost.

Recording writes each event with one conditional put (`attribute_not_exists(PK)`
is the idempotency) and nothing else; the aggregator applies runs of the event
stream to the cells and budget spend items in transactions that also move its
checkpoint (`apply_run`), so every total counts every stored event exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from shared import retry, table
from shared.config import settings
from shared.retry import retrying
from shared.rollups import CellDelta

MAX_TRANSACTION_ITEMS = 100
TRANSACTION_ATTEMPTS = 8


@dataclass
class ReadStats:
    """Items and requests DynamoDB actually returned for one answer."""

    items_read: int = 0
    dynamodb_requests: int = 0

    def as_json(self) -> dict[str, int]:
        return {"items_read": self.items_read, "dynamodb_requests": self.dynamodb_requests}


@dataclass
class WriteStats:
    """Item writes and requests of a recording (for `make bench`)."""

    item_writes: int = 0
    write_requests: int = 0


@lru_cache(maxsize=1)
def client() -> Any:
    """The DynamoDB client, built on first use (boto3 costs ~100 ms to import)."""
    import boto3
    from botocore.config import Config

    s = settings()
    return boto3.client(
        "dynamodb",
        region_name=s.region,
        endpoint_url=s.dynamodb_endpoint,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10,
                      tcp_keepalive=True),
    )


@lru_cache(maxsize=1)
def event_client() -> Any:
    """The client that writes events: no retries of its own and short timeouts.

    Ingest retries a put itself, stamping the event anew each time, so every
    stored `received_at` is at most one attempt (`write_bound_seconds`) before
    the write landed (shared/aggregation.py relies on that bound).
    """
    import boto3
    from botocore.config import Config

    s = settings()
    # An attempt (connect, then the answer) takes at most half the bound: a write that lands, lands within it.
    attempt = max(s.write_bound_seconds / 2, 0.1)
    return boto3.client(
        "dynamodb", region_name=s.region, endpoint_url=s.dynamodb_endpoint,
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=min(attempt / 3, 1.0),
                      read_timeout=attempt - min(attempt / 3, 1.0), tcp_keepalive=True, max_pool_connections=32),
    )


@lru_cache(maxsize=1)
def _codec() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def reset() -> None:
    """Forget the cached clients (tests switch between moto instances)."""
    client.cache_clear()
    event_client.cache_clear()


def _table() -> str:
    return settings().table_name


def to_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    ser = _codec()[0]
    return {k: ser.serialize(v) for k, v in item.items() if v is not None}


def from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    de = _codec()[1]
    return {k: de.deserialize(v) for k, v in item.items()}


# --- generic reads and writes -------------------------------------------------------


def get(key: dict[str, str], *, stats: ReadStats | None = None, consistent: bool = True) -> dict[str, Any] | None:
    response = client().get_item(TableName=_table(), Key=to_dynamo(key), ConsistentRead=consistent)
    if stats is not None:
        stats.dynamodb_requests += 1
        stats.items_read += 1 if "Item" in response else 0
    return from_dynamo(response["Item"]) if "Item" in response else None


def batch_get(keys: Sequence[dict[str, str]], *, stats: ReadStats | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {_table(): {"Keys": [to_dynamo(k) for k in keys[start:start + 100]], "ConsistentRead": True}}
        attempt = 0
        while pending:
            response = client().batch_get_item(RequestItems=pending)
            got = response["Responses"].get(_table(), [])
            if stats is not None:
                stats.dynamodb_requests += 1
                stats.items_read += len(got)
            items.extend(from_dynamo(i) for i in got)
            pending = response.get("UnprocessedKeys") or {}
            if pending:
                attempt += 1
                retry.backoff(attempt)
    return items


def query_page(
    partition: str,
    *,
    index: table.Gsi | None = None,
    sk_between: tuple[str, str] | None = None,
    sk_prefix: str | None = None,
    forward: bool = True,
    limit: int | None = None,
    start_key: dict[str, Any] | None = None,
    consistent: bool = False,
    stats: ReadStats | None = None,
    attributes: Sequence[str] | None = None,
    where: tuple[Sequence[str], Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of a Query on a partition of the table or of a GSI (optionally only some attributes).

    `where=(attribute path, value)` keeps only items whose (nested) attribute equals the value;
    DynamoDB still reads, and `stats` counts, the items it drops.
    """
    pk, sk = (index.partition_key, index.sort_key) if index else table.TABLE_KEYS
    names = {"#pk": pk}
    values: dict[str, Any] = {":pk": {"S": partition}}
    condition = "#pk = :pk"
    if sk_between is not None:
        names["#sk"] = sk
        values.update({":lo": {"S": sk_between[0]}, ":hi": {"S": sk_between[1]}})
        condition += " AND #sk BETWEEN :lo AND :hi"
    elif sk_prefix is not None:
        names["#sk"] = sk
        values[":prefix"] = {"S": sk_prefix}
        condition += " AND begins_with(#sk, :prefix)"
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": forward,
    }
    if index is not None:
        kwargs["IndexName"] = index.name
    else:
        kwargs["ConsistentRead"] = consistent
    if attributes:
        kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(attributes)))
        names.update({f"#p{i}": a for i, a in enumerate(attributes)})
    if where is not None:
        path, value = where
        names.update({f"#w{i}": part for i, part in enumerate(path)})
        values[":w"] = to_dynamo({"v": value})["v"]
        kwargs["FilterExpression"] = ".".join(f"#w{i}" for i in range(len(path))) + " = :w"
    if limit is not None:
        kwargs["Limit"] = limit
    if start_key is not None:
        kwargs["ExclusiveStartKey"] = start_key
    response = client().query(**kwargs)
    if stats is not None:
        stats.dynamodb_requests += 1
        stats.items_read += response.get("ScannedCount", response.get("Count", 0))
    return [from_dynamo(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")


def query_all(partition: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a partition range, page by page."""
    start_key = None
    while True:
        items, start_key = query_page(partition, start_key=start_key, **kwargs)
        yield from items
        if start_key is None:
            return


def put(item: dict[str, Any], *, if_absent: bool = False) -> bool:
    """Put an item; with `if_absent`, only when its key is new (returns False when it existed)."""
    kwargs: dict[str, Any] = {"TableName": _table(), "Item": to_dynamo(item)}
    if if_absent:
        kwargs["ConditionExpression"] = "attribute_not_exists(PK)"
    try:
        client().put_item(**kwargs)
    except client().exceptions.ConditionalCheckFailedException:
        return False
    return True


def update(key: dict[str, str], set_values: dict[str, Any], *, require_exists: bool = False,
           remove: Sequence[str] = (), if_equal: tuple[str, Any] | None = None,
           require_unset: Sequence[str] = ()) -> dict[str, Any] | None:
    """SET (and REMOVE) attributes; returns the new item, or None when a condition failed.

    `require_exists`: only an existing item; `if_equal=(name, value)`: only while it holds that value;
    `require_unset`: only while none of these attributes is set.
    """
    kwargs = _update_kwargs(key, set_values, remove, if_equal)
    conditions = [kwargs["ConditionExpression"]] if "ConditionExpression" in kwargs else []
    if require_exists:
        conditions.append("attribute_exists(PK)")
    for k, name in enumerate(require_unset):
        kwargs.setdefault("ExpressionAttributeNames", {})[f"#u{k}"] = name
        conditions.append(f"attribute_not_exists(#u{k})")
    if conditions:
        kwargs["ConditionExpression"] = " AND ".join(conditions)
    try:
        response = client().update_item(**kwargs, ReturnValues="ALL_NEW")
    except client().exceptions.ConditionalCheckFailedException:
        return None
    return from_dynamo(response["Attributes"])


def update_event(key: dict[str, str], set_values: dict[str, Any], *, remove: Sequence[str] = (),
                 if_equal: tuple[str, Any]) -> bool:
    """One attempt at a conditional update of an event item (as `put_event`, the caller retries)."""
    c = event_client()
    try:
        c.update_item(**_update_kwargs(key, set_values, remove, if_equal))
    except c.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _update_kwargs(key: dict[str, str], set_values: dict[str, Any], remove: Sequence[str],
                   if_equal: tuple[str, Any] | None) -> dict[str, Any]:
    names = {f"#a{i}": name for i, name in enumerate(set_values)}
    values = {f":v{i}": value for i, value in enumerate(set_values.values())}
    expression = ("SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(set_values)))) if set_values else ""
    if remove:
        names.update({f"#r{j}": name for j, name in enumerate(remove)})
        expression += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(remove)))
    kwargs: dict[str, Any] = {"TableName": _table(), "Key": to_dynamo(key), "UpdateExpression": expression.strip()}
    if if_equal is not None:
        names["#eq"] = if_equal[0]
        values[":eq"] = if_equal[1]
        kwargs["ConditionExpression"] = "#eq = :eq"
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if values:
        kwargs["ExpressionAttributeValues"] = to_dynamo(values)
    return kwargs


def delete(key: dict[str, str]) -> dict[str, Any] | None:
    """Delete an item; returns what was there."""
    response = client().delete_item(TableName=_table(), Key=to_dynamo(key), ReturnValues="ALL_OLD")
    return from_dynamo(response["Attributes"]) if "Attributes" in response else None


def transact(actions: list[dict[str, Any]]) -> None:
    """Run a transaction, retrying DynamoDB's transient `TransactionConflict`s."""
    retrying(lambda _: client().transact_write_items(TransactItems=actions), retry_on=_is_transient_cancellation,
             attempts=TRANSACTION_ATTEMPTS)


def _is_transient_cancellation(exc: Exception) -> bool:
    if not isinstance(exc, client().exceptions.TransactionCanceledException):
        return False
    codes = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
    return codes <= {"None", "TransactionConflict", "ThrottlingError", None}


def put_action(item: dict[str, Any], *, if_absent: bool = False,
               if_equal: tuple[str, Any] | None = None) -> dict[str, Any]:
    """A transaction's Put; `if_absent`: only a new key; `if_equal=(name, value)`: only while the stored item holds it."""
    action: dict[str, Any] = {"TableName": _table(), "Item": to_dynamo(item)}
    if if_absent:
        action["ConditionExpression"] = "attribute_not_exists(PK)"
        action["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    elif if_equal is not None:
        action.update(_equal_condition(if_equal))
    return {"Put": action}


def delete_action(key: dict[str, str], *, if_equal: tuple[str, Any] | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"TableName": _table(), "Key": to_dynamo(key)}
    if if_equal is not None:
        action.update(_equal_condition(if_equal))
    return {"Delete": action}


def _equal_condition(if_equal: tuple[str, Any]) -> dict[str, Any]:
    return {"ConditionExpression": "#eq = :eq", "ExpressionAttributeNames": {"#eq": if_equal[0]},
            "ExpressionAttributeValues": to_dynamo({":eq": if_equal[1]})}


def add_action(key: dict[str, str], delta: CellDelta) -> dict[str, Any]:
    """`SET` the cell's dimension attributes and `ADD` its counters."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets, adds = [], []
    for i, (name, value) in enumerate(delta.attributes.items()):
        names[f"#d{i}"], values[f":d{i}"] = name, value
        sets.append(f"#d{i} = :d{i}")
    for i, (name, value) in enumerate(delta.totals.counters().items()):
        names[f"#c{i}"], values[f":c{i}"] = name, value
        adds.append(f"#c{i} :c{i}")
    expression = " ".join(part for part in (
        "SET " + ", ".join(sets) if sets else "", "ADD " + ", ".join(adds) if adds else "") if part)
    action: dict[str, Any] = {"TableName": _table(), "Key": to_dynamo(key), "UpdateExpression": expression}
    if names:
        action["ExpressionAttributeNames"] = names
    if values:
        action["ExpressionAttributeValues"] = to_dynamo(values)
    return {"Update": action}


# --- recording events ---------------------------------------------------------------------


def put_event(item: dict[str, Any]) -> dict[str, Any] | None:
    """Store a new event item; None when stored, else the item already stored under its id.

    One attempt through `event_client()`: the caller retries (with a fresh stamp) on
    the transient errors `is_transient` names.
    """
    c = event_client()
    try:
        c.put_item(TableName=_table(), Item=to_dynamo(item), ConditionExpression="attribute_not_exists(PK)",
                   ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except c.exceptions.ConditionalCheckFailedException as exc:
        old = exc.response.get("Item")
        return from_dynamo(old) if old else get(table.key(item["PK"], item["SK"]))
    return None


def is_transient(exc: Exception) -> bool:
    """Worth another attempt: throttling, a 5xx, or a connection that failed or timed out."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError):
        return True
    error = getattr(exc, "response", {}) or {}
    code = error.get("Error", {}).get("Code", "")
    status = error.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status >= 500 or code in ("ProvisionedThroughputExceededException", "ThrottlingException",
                                     "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable")


# --- the aggregator's transactions ---------------------------------------------------------------


def checkpoint_seq(shard_id: str) -> str:
    """The last sequence number of a stream shard the aggregator applied ("" for none yet)."""
    item = get(table.checkpoint_key(shard_id)) or {}
    return item.get("seq", "")


def mark_busy(shard_id: str, since: str) -> None:
    """Note that the aggregator is applying a batch of the shard (freshness must not take it for idle);
    the transaction that moves the checkpoint past the batch removes the note."""
    update(table.checkpoint_key(shard_id), {"busy_since": since, **table.checkpoint_listing(shard_id)})


def pending_batch(shard_id: str) -> dict[str, Any] | None:
    """The shard's batch whose first part is applied and whose other parts are stored, if any."""
    return get(table.pending_batch_key(shard_id))


@dataclass
class BatchPart:
    """Part `part` of `parts` of an aggregator batch: its deltas, and how it moves the shard's checkpoint."""

    shard_id: str
    part: int
    parts: int
    first: str  # padded sequence numbers of the batch's first and last record
    last: str
    deltas: dict[tuple[str, str], CellDelta]
    through: str
    applied_at: str
    expires_at: int
    records: int
    later_parts: list[dict[tuple[str, str], CellDelta]] = field(default_factory=list)  # stored with part 1
    touched: str = "[]"


def apply_part(p: BatchPart) -> bool:
    """One transaction: the part's deltas and the checkpoint/pending-batch moves. False: already applied.

    Part 1 applies only while the checkpoint is below the batch and no batch is
    pending; it then either moves the checkpoint past the batch (one part) or
    stores the later parts as the pending batch. Part k applies only while the
    pending batch has k - 1 parts done; the last one moves the checkpoint and
    deletes the pending batch.
    """
    checkpoint_key = to_dynamo(table.checkpoint_key(p.shard_id))
    pending_key = to_dynamo(table.pending_batch_key(p.shard_id))
    # `through` (freshness) moves with `seq` only: when the whole batch is in.
    progress = {"applied_at": p.applied_at, table.TTL_ATTRIBUTE: p.expires_at, **table.checkpoint_listing(p.shard_id)}
    done = {**progress, "through": p.through}
    actions: list[dict[str, Any]] = []
    if p.part == 1:
        sets = {**done, "seq": p.last} if p.parts == 1 else {**progress, "pending": p.first}
        actions.append(_checkpoint_action(checkpoint_key, sets, p.records if p.parts == 1 else 0,
                                          remove=("busy_since",) if p.parts == 1 else (),
                                          condition="(attribute_not_exists(#seq) OR #seq < :first) "
                                                    "AND attribute_not_exists(#pending)",
                                          values={":first": p.first}))
        if p.parts > 1:
            actions.append(put_action({**table.pending_batch_key(p.shard_id), "first": p.first, "last": p.last,
                                       "done": 1, "parts": encode_parts(p.later_parts), "through": p.through,
                                       "touched": p.touched, "records": p.records,
                                       table.TTL_ATTRIBUTE: p.expires_at}))
    else:
        step = {"Update": {"TableName": _table(), "Key": pending_key, "UpdateExpression": "SET #done = :done",
                           "ConditionExpression": "#first = :first AND #done = :before",
                           "ExpressionAttributeNames": {"#done": "done", "#first": "first"},
                           "ExpressionAttributeValues": to_dynamo({":done": p.part, ":before": p.part - 1,
                                                                   ":first": p.first})}}
        if p.part == p.parts:  # the last part: the checkpoint moves past the batch, which is no longer pending
            step = {"Delete": {k: v for k, v in step["Update"].items() if k not in ("UpdateExpression",)}}
            step["Delete"]["ExpressionAttributeNames"] = {"#done": "done", "#first": "first"}
            step["Delete"]["ExpressionAttributeValues"] = to_dynamo({":before": p.part - 1, ":first": p.first})
            actions.append(_checkpoint_action(checkpoint_key, {**done, "seq": p.last}, p.records,
                                              remove=("pending", "busy_since"),
                                              condition="#pending = :first", values={":first": p.first}))
        actions.append(step)
    actions += [add_action(table.key(*k), delta) for k, delta in p.deltas.items()]
    try:
        transact(actions)
    except client().exceptions.TransactionCanceledException as exc:
        reasons = exc.response.get("CancellationReasons", [])
        if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[:2]):
            return False
        raise
    return True


def _checkpoint_action(key: dict[str, Any], sets: dict[str, Any], records: int, *, remove: Sequence[str],
                       condition: str, values: dict[str, Any]) -> dict[str, Any]:
    names = {"#seq": "seq", "#pending": "pending", **{f"#s{i}": n for i, n in enumerate(sets)}}
    expression = "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets)))
    all_values = {**values, **{f":s{i}": v for i, v in enumerate(sets.values())}}
    if records:
        names["#n"] = "records"
        all_values[":n"] = records
        expression += " ADD #n :n"
    if remove:
        names.update({f"#r{i}": n for i, n in enumerate(remove)})
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    used = {n for n in names if n in expression or n in condition}
    return {"Update": {"TableName": _table(), "Key": key, "UpdateExpression": expression,
                       "ConditionExpression": condition,
                       "ExpressionAttributeNames": {n: v for n, v in names.items() if n in used},
                       "ExpressionAttributeValues": to_dynamo(all_values)}}


def encode_parts(parts: Sequence[dict[tuple[str, str], CellDelta]]) -> bytes:
    """Parts of a batch as one compressed blob (DynamoDB numbers as text: exact)."""
    import json
    import zlib

    plain = [[[pk, sk, d.attributes, {n: str(v) for n, v in d.totals.counters().items()}]
              for (pk, sk), d in part.items()] for part in parts]
    return zlib.compress(json.dumps(plain, separators=(",", ":")).encode(), 6)


def decode_parts(blob: Any) -> list[dict[tuple[str, str], CellDelta]]:
    import json
    import zlib

    from shared.rollups import Totals

    raw = json.loads(zlib.decompress(getattr(blob, "value", blob)))
    return [{(pk, sk): CellDelta(attributes, Totals.of_item(counters)) for pk, sk, attributes, counters in part}
            for part in raw]


def add_once(key: dict[str, str], delta: CellDelta, marker: str) -> bool:
    """ADD a delta unless `marker` is already set on the item (so a backfill lands exactly once)."""
    action = add_action(key, CellDelta({**delta.attributes, marker: "1"}, delta.totals))["Update"]
    action["ConditionExpression"] = "attribute_not_exists(#m)"
    action.setdefault("ExpressionAttributeNames", {})["#m"] = marker
    action.pop("TableName")
    try:
        client().update_item(TableName=_table(), **action)
    except client().exceptions.ConditionalCheckFailedException:
        return False
    return True


def is_condition_failure(exc: Exception) -> bool:
    """A cancelled transaction or failed conditional write (for optimistic retries)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


def put_items(items: Sequence[dict[str, Any]], write_stats: WriteStats | None = None) -> None:
    """Bulk-load finished items (benchmarks, imports) with BatchWriteItem, 25 at a time."""
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {_table(): [{"PutRequest": {"Item": to_dynamo(i)}} for i in items[start:start + 25]]}
        attempt = 0
        while pending:
            response = client().batch_write_item(RequestItems=pending)
            if write_stats is not None:
                write_stats.write_requests += 1
                write_stats.item_writes += len(pending[_table()]) - len((response.get("UnprocessedItems") or {}).get(_table(), []))
            pending = response.get("UnprocessedItems") or {}
            if pending:
                attempt += 1
                retry.backoff(attempt)
