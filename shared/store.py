"""DynamoDB access: the clients, and the generic reads, writes and transactions on the table.

Together with the two modules built on it — `shared/event_writes.py` (one
attempt at writing an event item) and `shared/checkpoints.py` (the
aggregator's transactions) — the only code that speaks boto3 to the table.

Keys come from `shared/table.py`; money goes in and out as Decimal (DynamoDB
numbers). Every read helper counts what DynamoDB returned into a `ReadStats`
so `GET /ai_usage` can show what an answer cost.

Recording writes each event with one conditional put (`attribute_not_exists(PK)`
is the idempotency) and nothing else; the aggregator applies runs of the event
stream to the cells and budget spend items in transactions that also move its
checkpoint (`checkpoints.apply_part`), so every total counts every stored event exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


def table_name() -> str:
    """The table every item lives in."""
    return settings().table_name


def to_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    ser = _codec()[0]
    return {k: ser.serialize(v) for k, v in item.items() if v is not None}


def from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    de = _codec()[1]
    return {k: de.deserialize(v) for k, v in item.items()}


# --- generic reads and writes -------------------------------------------------------


def get(key: dict[str, str], *, stats: ReadStats | None = None, consistent: bool = True) -> dict[str, Any] | None:
    response = client().get_item(TableName=table_name(), Key=to_dynamo(key), ConsistentRead=consistent)
    if stats is not None:
        stats.dynamodb_requests += 1
        stats.items_read += 1 if "Item" in response else 0
    return from_dynamo(response["Item"]) if "Item" in response else None


def batch_get(keys: Sequence[dict[str, str]], *, stats: ReadStats | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {
            table_name(): {"Keys": [to_dynamo(k) for k in keys[start : start + 100]], "ConsistentRead": True}
        }
        attempt = 0
        while pending:
            response = client().batch_get_item(RequestItems=pending)
            got = response["Responses"].get(table_name(), [])
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
        "TableName": table_name(),
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
    kwargs: dict[str, Any] = {"TableName": table_name(), "Item": to_dynamo(item)}
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
    kwargs = update_kwargs(key, set_values, remove, if_equal)
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


def update_kwargs(key: dict[str, str], set_values: dict[str, Any], remove: Sequence[str],
                  if_equal: tuple[str, Any] | None) -> dict[str, Any]:
    """An UpdateItem request: SET these values, REMOVE these names, optionally while `name == value`."""
    names = {f"#a{i}": name for i, name in enumerate(set_values)}
    values = {f":v{i}": value for i, value in enumerate(set_values.values())}
    expression = ("SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(set_values)))) if set_values else ""
    if remove:
        names.update({f"#r{j}": name for j, name in enumerate(remove)})
        expression += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(remove)))
    kwargs: dict[str, Any] = {"TableName": table_name(), "Key": to_dynamo(key), "UpdateExpression": expression.strip()}
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
    response = client().delete_item(TableName=table_name(), Key=to_dynamo(key), ReturnValues="ALL_OLD")
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
    """A transaction's Put.

    `if_absent`: only a new key; `if_equal=(name, value)`: only while the stored item holds it.
    """
    action: dict[str, Any] = {"TableName": table_name(), "Item": to_dynamo(item)}
    if if_absent:
        action["ConditionExpression"] = "attribute_not_exists(PK)"
        action["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    elif if_equal is not None:
        action.update(_equal_condition(if_equal))
    return {"Put": action}


def delete_action(key: dict[str, str], *, if_equal: tuple[str, Any] | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"TableName": table_name(), "Key": to_dynamo(key)}
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
    action: dict[str, Any] = {"TableName": table_name(), "Key": to_dynamo(key), "UpdateExpression": expression}
    if names:
        action["ExpressionAttributeNames"] = names
    if values:
        action["ExpressionAttributeValues"] = to_dynamo(values)
    return {"Update": action}


def add_once(key: dict[str, str], delta: CellDelta, marker: str) -> bool:
    """ADD a delta unless `marker` is already set on the item (so a backfill lands exactly once)."""
    action = add_action(key, CellDelta({**delta.attributes, marker: "1"}, delta.totals))["Update"]
    action["ConditionExpression"] = "attribute_not_exists(#m)"
    action.setdefault("ExpressionAttributeNames", {})["#m"] = marker
    action.pop("TableName")
    try:
        client().update_item(TableName=table_name(), **action)
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
        pending: dict[str, Any] = {
            table_name(): [{"PutRequest": {"Item": to_dynamo(i)}} for i in items[start : start + 25]]
        }
        attempt = 0
        while pending:
            response = client().batch_write_item(RequestItems=pending)
            if write_stats is not None:
                write_stats.write_requests += 1
                write_stats.item_writes += len(pending[table_name()]) - len(
                    (response.get("UnprocessedItems") or {}).get(table_name(), [])
                )
            pending = response.get("UnprocessedItems") or {}
            if pending:
                attempt += 1
                retry.backoff(attempt)
