"""DynamoDB access: the only module that speaks boto3 to the table.

Keys come from `shared/table.py`; money goes in and out as Decimal (DynamoDB
numbers). Every read helper counts what DynamoDB returned into a `ReadStats`
so `GET /ai_usage` can show what an answer cost.

Recording is one transaction per chunk of events: the conditional put of each
event (`attribute_not_exists(PK)` is the idempotency) plus the merged ADD
updates of every cell and budget spend item those events count in, so a total
can never include an event that is not stored, nor miss one that is.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from shared import table
from shared.config import settings
from shared.rollups import CellDelta, Totals

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
def _codec() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def reset() -> None:
    """Forget the cached client (tests switch between moto instances)."""
    client.cache_clear()


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
                _backoff(attempt)
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
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of a Query on a partition of the table or of a GSI (optionally only some attributes)."""
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
           remove: Sequence[str] = (), require_unset: Sequence[str] = ()) -> dict[str, Any] | None:
    """SET (and REMOVE) attributes; returns the new item, or None when a condition failed
    (`require_exists`: the item exists; `require_unset`: none of these attributes is set yet)."""
    names, values, sets = {}, {}, []
    for i, (name, value) in enumerate(set_values.items()):
        names[f"#a{i}"] = name
        values[f":v{i}"] = value
        sets.append(f"#a{i} = :v{i}")
    expression = ("SET " + ", ".join(sets)) if sets else ""
    if remove:
        for j, name in enumerate(remove):
            names[f"#r{j}"] = name
        expression += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(remove)))
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "Key": to_dynamo(key),
        "UpdateExpression": expression.strip(),
        "ExpressionAttributeNames": names,
        "ReturnValues": "ALL_NEW",
    }
    if values:
        kwargs["ExpressionAttributeValues"] = to_dynamo(values)
    conditions = ["attribute_exists(PK)"] if require_exists else []
    for k, name in enumerate(require_unset):
        names[f"#u{k}"] = name
        conditions.append(f"attribute_not_exists(#u{k})")
    if conditions:
        kwargs["ConditionExpression"] = " AND ".join(conditions)
    try:
        response = client().update_item(**kwargs)
    except client().exceptions.ConditionalCheckFailedException:
        return None
    return from_dynamo(response["Attributes"])


def delete(key: dict[str, str]) -> dict[str, Any] | None:
    """Delete an item; returns what was there."""
    response = client().delete_item(TableName=_table(), Key=to_dynamo(key), ReturnValues="ALL_OLD")
    return from_dynamo(response["Attributes"]) if "Attributes" in response else None


def transact(actions: list[dict[str, Any]]) -> None:
    """Run a transaction, retrying DynamoDB's transient `TransactionConflict`s."""
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            client().transact_write_items(TransactItems=actions)
            return
        except client().exceptions.TransactionCanceledException as exc:
            codes = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
            if codes <= {"None", "TransactionConflict", "ThrottlingError", None} and attempt < TRANSACTION_ATTEMPTS:
                _backoff(attempt)
                continue
            raise


def put_action(item: dict[str, Any], *, if_absent: bool = False) -> dict[str, Any]:
    action: dict[str, Any] = {"TableName": _table(), "Item": to_dynamo(item)}
    if if_absent:
        action["ConditionExpression"] = "attribute_not_exists(PK)"
        action["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Put": action}


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


def _backoff(attempt: int) -> None:
    time.sleep(min(1.0, 0.02 * 2 ** attempt) * random.uniform(0.5, 1.0))


# --- recording events ---------------------------------------------------------------------


@dataclass
class EventWrite:
    """One event to record: its item, and every cell/spend delta and extra put it brings."""

    event_id: str
    content_hash: str
    item: dict[str, Any]
    deltas: dict[tuple[str, str], CellDelta]
    puts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Outcome:
    status: str  # created | duplicate | conflict
    stored: dict[str, Any]


class BudgetSetChanged(Exception):
    """The budget set changed under a recording: reload budgets and record the rest."""

    def __init__(self, outcomes: dict[str, Outcome]):
        super().__init__("budget set version changed")
        self.outcomes = outcomes


def record_events(writes: Sequence[EventWrite], budget_version: int,
                  write_stats: WriteStats | None = None) -> dict[str, Outcome]:
    """Store new events with their deltas, one transaction per chunk.

    Every transaction checks that the budget set is still at `budget_version`,
    so an event is counted in exactly the budgets that existed when it was
    stored (budget backfill counts the older ones). Events whose id exists are
    classified by content hash and dropped from the chunk, which is retried.
    """
    outcomes: dict[str, Outcome] = {}
    pending = list(writes)
    while pending:
        chunk, pending = _take_chunk(pending)
        while chunk:
            actions = _chunk_actions(chunk, budget_version)
            try:
                transact(actions)
            except client().exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons", [])
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise BudgetSetChanged(outcomes) from None
                chunk = _drop_existing(chunk, reasons[1:1 + len(chunk)], outcomes)
                continue
            if write_stats is not None:
                write_stats.write_requests += 1
                write_stats.item_writes += sum(1 for a in actions if "ConditionCheck" not in a)
            for w in chunk:
                outcomes[w.event_id] = Outcome("created", w.item)
            chunk = []
    return outcomes


def _take_chunk(writes: list[EventWrite]) -> tuple[list[EventWrite], list[EventWrite]]:
    """As many events as fit one transaction with their merged deltas (and the version check)."""
    cells: set[tuple[str, str]] = set()
    size = 1  # the budget version check
    for n, w in enumerate(writes):
        new_cells = w.deltas.keys() - cells
        grow = 1 + len(w.puts) + len(new_cells)
        if n and size + grow > MAX_TRANSACTION_ITEMS:
            return writes[:n], writes[n:]
        size += grow
        cells.update(new_cells)
    return writes, []


def _chunk_actions(chunk: Sequence[EventWrite], budget_version: int) -> list[dict[str, Any]]:
    version_key = to_dynamo(table.budget_version_key())
    if budget_version:
        check = {"ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "version"},
                 "ExpressionAttributeValues": {":v": {"N": str(budget_version)}}}
    else:
        check = {"ConditionExpression": "attribute_not_exists(PK)"}
    actions: list[dict[str, Any]] = [{"ConditionCheck": {"TableName": _table(), "Key": version_key, **check}}]
    actions += [put_action(w.item, if_absent=True) for w in chunk]
    merged: dict[tuple[str, str], CellDelta] = {}
    for w in chunk:
        for k, delta in w.deltas.items():
            if k in merged:
                merged[k].totals.add(delta.totals)
            else:
                merged[k] = CellDelta(dict(delta.attributes), Totals().add(delta.totals))
        actions += [put_action(p) for p in w.puts]
    actions += [add_action(table.key(*k), delta) for k, delta in merged.items()]
    return actions


def _drop_existing(chunk: list[EventWrite], reasons: list[dict[str, Any]], outcomes: dict[str, Outcome]) -> list[EventWrite]:
    """Classify the events that already exist and return the rest of the chunk."""
    keep = []
    missing = []
    for w, reason in zip(chunk, reasons):
        if reason.get("Code") != "ConditionalCheckFailed":
            keep.append(w)
        elif "Item" in reason:
            outcomes[w.event_id] = _classify(w, from_dynamo(reason["Item"]))
        else:
            missing.append(w)
    if missing:  # DynamoDB did not return the old item: read them
        stored = {i["event_id"]: i for i in batch_get([table.event_key(w.event_id) for w in missing])}
        for w in missing:
            outcomes[w.event_id] = _classify(w, stored[w.event_id])
    return keep


def _classify(w: EventWrite, stored: dict[str, Any]) -> Outcome:
    return Outcome("duplicate" if stored.get("content_hash") == w.content_hash else "conflict", stored)


def reprice_event(item: dict[str, Any], event: Any, deltas: dict[tuple[str, str], CellDelta],
                  budget_version: int) -> bool:
    """Turn one `unpriced` event into `computed` and add its cost to every total, exactly once.

    The condition on `cost_source` makes a concurrent second reprice a no-op.
    """
    update = {
        "TableName": _table(),
        "Key": to_dynamo(table.event_key(item["event_id"])),
        "UpdateExpression": "SET cost_usd = :c, cost_source = :computed, price_source = :ps, price_version = :pv"
                            + (", credits = :cr" if event.credits is not None else ""),
        "ConditionExpression": "cost_source = :unpriced",
        "ExpressionAttributeValues": to_dynamo({
            ":c": event.cost_usd, ":computed": "computed", ":unpriced": "unpriced", ":ps": event.price_source,
            ":pv": event.price_version, **({":cr": event.credits} if event.credits is not None else {}),
        }),
    }
    actions = _chunk_actions([], budget_version)
    actions.append({"Update": update})
    actions.append({"Delete": {"TableName": _table(),
                               "Key": to_dynamo(table.unpriced_marker_key(item["ts"], item["event_id"]))}})
    actions += [add_action(table.key(*k), d) for k, d in deltas.items()]
    try:
        transact(actions)
    except client().exceptions.TransactionCanceledException as exc:
        reasons = exc.response.get("CancellationReasons", [])
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise BudgetSetChanged({}) from None
        if len(reasons) > 1 and reasons[1].get("Code") == "ConditionalCheckFailed":
            return False  # repriced by someone else meanwhile
        raise
    return True


# --- budgets ---------------------------------------------------------------------------------


def budget_version_bump(current: int) -> dict[str, Any]:
    """The transaction action moving the budget set version from `current` to `current + 1`."""
    action: dict[str, Any] = {
        "TableName": _table(),
        "Key": to_dynamo(table.budget_version_key()),
        "UpdateExpression": "SET #v = :new",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": {":new": {"N": str(current + 1)}},
    }
    if current:
        action["ConditionExpression"] = "#v = :old"
        action["ExpressionAttributeValues"][":old"] = {"N": str(current)}
    else:
        action["ConditionExpression"] = "attribute_not_exists(PK)"
    return {"Update": action}


def delete_action(key: dict[str, str]) -> dict[str, Any]:
    return {"Delete": {"TableName": _table(), "Key": to_dynamo(key)}}


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
                _backoff(attempt)
