"""Makes moto's DynamoDB fit to be the local stack's database (and the tests').

Two things moto does differently from DynamoDB matter to a ledger:

- `TransactWriteItems` deep-copies every table it touches before each
  transaction (once per action), so a write costs O(table size): seeding a
  demo month took minutes. Here a transaction keeps an undo log of just the
  items it touches and restores those on cancellation, as DynamoDB behaves.
- moto's server runs requests on several threads with no locking, so two
  concurrent conditional writes can both pass `attribute_not_exists`, and a
  read can see a transaction half-applied (or a cancelled one applied for a
  moment). DynamoDB transactions are serialisable; here every read and write
  runs under one lock, and a transaction checks all its conditions before it
  applies anything.

- Every Query walks and sorts every item of the table (`Table.all_items`) to
  find one partition, so a query costs O(table size log table size). Here a
  query only walks its partition: the base table's own dict, or a per-index
  map from key value to items, rebuilt after writes.

- Every UpdateExpression is parsed, validated and walked as an AST (some
  50 ms for an update of ten counters), which made the aggregator's
  transactions of 100 cell updates take seconds. Here a transaction's plain
  updates (`SET #a = :v`, `ADD #n :v`, `REMOVE #r`: all the aggregator sends)
  are applied directly; anything else still goes through moto.
- Every GetRecords of its DynamoDB Streams keeps a new shard iterator forever
  (a few hundred bytes each), so a local stream poller grew memory without
  bound. Here the iterator a GetRecords used is forgotten once it answered.

`install()` patches moto's classes in this process; it is idempotent. The
patches reach into moto's internals, so `install()` first checks that the
installed moto is one they were tested with (`TESTED_MOTO`) and fails with
`UnsupportedMoto`, saying what to do, when it is not.

Contention mode (`enable_contention`, `aiusage serve --contention`, the
contention tests): moto applies one request at a time, so on its own it never
shows what real DynamoDB does to shared items. In this mode a transaction
holds its items for `hold_seconds` after it ran, and a transaction touching a
held item is cancelled with `TransactionConflict`; and a partition key (of the
table or a GSI) that takes more than `key_wcu_per_second` write units within
a second throttles the write (ProvisionedThroughputExceededException, or
`ThrottlingError` in a transaction), as SPEC 13's model says.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import math
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_LOCK = threading.RLock()
_INSTALLED = False
_WRITES = [0]  # bumped by every write: invalidates the index maps
_QUERY = threading.local()  # the partition the running Query asks for
_APPLYING = threading.local()  # set while a transaction applies its items (charged as the transaction)
_INDEX_MAPS: dict[tuple[int, str], tuple[int, dict[Any, list[Any]]]] = {}
CONTENTION_ENV = "AIUSAGE_LOCAL_CONTENTION"  # e.g. "hold_ms=20,key_wcu=100"
TESTED_MOTO = ((5, 2, 0), (5, 3, 0))  # [from, below): the moto releases these patches are tested with


class UnsupportedMoto(RuntimeError):
    """The installed moto is not one the patches of this module were tested with."""


def _release(version: str) -> tuple[int, int, int]:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        raise UnsupportedMoto(f"cannot read the moto version {version!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def check_moto_version(version: str | None = None) -> str:
    """The installed moto's version, if the patches were tested with it; else `UnsupportedMoto`."""
    if version is None:
        from importlib.metadata import version as installed

        version = installed("moto")
    low, high = TESTED_MOTO
    if not low <= _release(version) < high:
        tested = f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"
        raise UnsupportedMoto(
            f"moto {version} is installed, but aiusage's local DynamoDB (aiusage/local/moto_dynamodb.py) patches "
            f"moto's internals and is tested with moto{tested} only. Install a tested release "
            f"(pip install 'moto{tested}', as constraints.txt pins it), or re-test the patches with this one "
            f"and widen TESTED_MOTO.")
    return version


@dataclass
class Contention:
    """Real DynamoDB's limits, emulated: transactions hold their items, keys have a write rate."""

    hold_seconds: float = 0.020
    key_wcu_per_second: float = 1000.0
    held: dict[str, float] = field(default_factory=dict)  # item -> held until (monotonic)
    used: dict[str, deque] = field(default_factory=dict)  # partition key -> (when, WCU) within the last second
    conflicts: int = 0
    throttles: int = 0

    @classmethod
    def parse(cls, text: str) -> Contention:
        values = dict(part.split("=", 1) for part in text.split(",") if part.strip())
        return cls(hold_seconds=float(values.get("hold_ms", 20)) / 1000,
                   key_wcu_per_second=float(values.get("key_wcu", 1000)))

    def charge(self, keys: dict[str, float], now: float) -> str | None:
        """Charge write units to partition keys; the first key over its rate (nothing charged then), or None."""
        for key, units in keys.items():
            window = self.used.setdefault(key, deque())
            while window and window[0][0] <= now - 1.0:
                window.popleft()
            if sum(u for _, u in window) + units > self.key_wcu_per_second:
                self.throttles += 1
                return key
        for key, units in keys.items():
            self.used[key].append((now, units))
        return None


_CONTENTION: list[Contention | None] = [None]


def enable_contention(contention: Contention | None = None) -> Contention:
    _CONTENTION[0] = contention or Contention()
    return _CONTENTION[0]


def disable_contention() -> None:
    _CONTENTION[0] = None


def contention() -> Contention | None:
    return _CONTENTION[0]


class _Throttled(Exception):
    pass


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    check_moto_version()
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    for name in ("put_item", "update_item", "delete_item", "batch_write_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name), writes=True))
    for name in ("get_item", "query", "scan", "batch_get_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _locked(_transact_serialised(), writes=True)
    Table.query = _query_one_partition(Table.query)
    Table.all_items = _partition_items(Table.all_items)
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    DynamoDBStreamsBackend.get_records = _forget_used_iterator(DynamoDBStreamsBackend.get_records)
    if os.environ.get(CONTENTION_ENV):
        enable_contention(Contention.parse(os.environ[CONTENTION_ENV]))
    _INSTALLED = True


def _forget_used_iterator(original: Any) -> Any:
    @functools.wraps(original)
    def get_records(self: Any, iterator_arn: str, limit: int) -> Any:
        with _LOCK:
            try:
                return original(self, iterator_arn, limit)
            finally:
                self.shard_iterators.pop(iterator_arn, None)

    return get_records


def _locked(method: Any, writes: bool = False) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            if writes:
                _WRITES[0] += 1
                mode = _CONTENTION[0]
                if (mode is not None and method.__name__ in ("put_item", "update_item", "delete_item")
                        and len(args) >= 3 and not getattr(_APPLYING, "transaction", False)):
                    self, table_name, item = args[0], args[1], args[2]
                    if mode.charge(_write_units(self.get_table(table_name), item, 1), time.monotonic()):
                        raise _throughput_exceeded()
            return method(*args, **kwargs)

    return wrapper


def _write_units(table: Any, item: dict[str, Any], factor: int) -> dict[str, float]:
    """What writing `item` (DynamoDB JSON; a key for updates and deletes) costs each partition key."""
    current = None
    if table.hash_key_attr in item and (table.range_key_attr is None or table.range_key_attr in item):
        from moto.dynamodb.models.dynamo_type import DynamoType

        hash_key = DynamoType(item[table.hash_key_attr])
        range_key = DynamoType(item[table.range_key_attr]) if table.range_key_attr else None
        current = table.get_item(hash_key, range_key)
    attrs = {**(current.to_json()["Attributes"] if current is not None else {}), **item}
    # Binary values (compressed metadata) count by their length, as DynamoDB sizes them.
    units = max(1, math.ceil(len(json.dumps(attrs, default=lambda raw: "b" * len(raw))) / 1024))
    keys = {f"table {json.dumps(item.get(table.hash_key_attr))}": float(units * factor)}
    for index in table.global_indexes:
        hash_attr = index.schema[0]["AttributeName"]
        if hash_attr in attrs:
            keys[f"{index.name} {json.dumps(attrs[hash_attr])}"] = float(units)
    return keys


def _throughput_exceeded() -> Exception:
    from moto.dynamodb.exceptions import DynamodbException

    return DynamodbException("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                             "The level of configured provisioned throughput for the table was exceeded "
                             "(aiusage local contention mode)")


def _query_one_partition(original: Any) -> Any:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs).arguments
        _QUERY.partition = (bound.get("index_name"), bound.get("hash_key"), bound.get("hash_key_conditions"))
        try:
            return original(self, *args, **kwargs)
        finally:
            _QUERY.partition = None

    return query


def _partition_items(original: Any) -> Any:
    @functools.wraps(original)
    def all_items(self: Any) -> list[Any]:
        partition = getattr(_QUERY, "partition", None)
        if partition is None:
            return original(self)
        index_name, hash_key, conditions = partition
        if not index_name:
            found = self.items.get(hash_key)
            if found is None:
                return []
            return list(found.values()) if self.range_key_attr else [found]
        if not conditions:
            return original(self)
        attr, value = conditions[0]
        return _index_map(self, attr).get(value, [])

    return all_items


def _index_map(table: Any, attr: str) -> dict[Any, list[Any]]:
    """Items by the value of a GSI key attribute, rebuilt when anything was written since."""
    cached = _INDEX_MAPS.get((id(table), attr))
    if cached is not None and cached[0] == _WRITES[0]:
        return cached[1]
    by_value: dict[Any, list[Any]] = {}
    for hash_set in table.items.values():
        for item in (hash_set.values() if table.range_key_attr else [hash_set]):
            value = item.attrs.get(attr)
            if value is not None:
                by_value.setdefault(value, []).append(item)
    _INDEX_MAPS[(id(table), attr)] = (_WRITES[0], by_value)
    return by_value


def _transact_serialised() -> Any:
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        with _LOCK:
            # 1. Check every condition against the current state: a cancelled
            #    transaction changes nothing, not even for a moment.
            planned: list[tuple[str, dict[str, Any], Any, Any, Any]] = []
            seen: set[tuple[str, str]] = set()
            errors: list[tuple[Any, Any, Any]] = []
            for action in transact_items:
                if len(action) > 1:
                    raise TransactWriteSingleOpException
                op_type, op = next(iter(action.items()))
                table = self.get_table(op["TableName"])
                key = op["Key"] if op_type != "Put" else {
                    a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr) if a is not None}
                marker = (op["TableName"], str(sorted(key.items())))
                if marker in seen:
                    raise MultipleTransactionsException()
                seen.add(marker)
                hash_key, range_key = self.get_keys_value(table, key)
                current = table.get_item(hash_key, range_key)
                try:
                    _check_condition(op, current)
                    errors.append((None, None, None))
                except _ConditionFailed as failed:
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", failed.item))
                planned.append((op_type, op, table, hash_key, range_key))
            if any(code is not None for code, _, _ in errors):
                raise TransactionCanceledException(errors)
            mode = _CONTENTION[0]
            held = _contend(mode, planned) if mode is not None else []
            # 2. Apply, keeping an undo log of just the touched items.
            undo: list[tuple[Any, Any, Any, Any]] = []
            _APPLYING.transaction = True
            try:
                for op_type, op, table, hash_key, range_key in planned:
                    undo.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
                    _apply(self, op_type, op)
            except Exception as exc:  # noqa: BLE001 - e.g. a ValidationException from an update
                _rollback(undo)
                raise TransactionCanceledException(
                    [(type(exc).__name__, str(exc), None) if i == len(undo) - 1 else (None, None, None)
                     for i in range(len(transact_items))]) from exc
            finally:
                _APPLYING.transaction = False
            if mode is not None:  # a transaction holds its items from its start until a while after it ends
                _hold(mode, held)

    return transact_write_items


def _contend(mode: Contention, planned: list[tuple[str, dict[str, Any], Any, Any, Any]]) -> list[str]:
    """Cancel the transaction if another holds one of its items, or one of its keys is over its rate;
    else the items it holds."""
    from moto.dynamodb.exceptions import TransactionCanceledException

    now = time.monotonic()
    names = [f"{op['TableName']}|{hash_key}|{range_key}" for _, op, _, hash_key, range_key in planned]
    busy = [mode.held.get(name, 0.0) > now for name in names]
    if any(busy):
        mode.conflicts += 1
        raise TransactionCanceledException(
            [("TransactionConflict", "Transaction is ongoing for the item", None) if b else (None, None, None)
             for b in busy])
    units: dict[str, float] = {}
    for _, op, table, _, _ in planned:
        for key, u in _write_units(table, op.get("Item") or op["Key"], 2).items():
            units[key] = units.get(key, 0.0) + u
    if mode.charge(units, now):
        raise TransactionCanceledException([("ThrottlingError", "Throughput exceeds the current capacity", None)]
                                           + [(None, None, None)] * (len(planned) - 1))
    _hold(mode, names)
    return names


def _hold(mode: Contention, names: list[str]) -> None:
    """The items are held for `hold_seconds` from now (measured after moto applied them: on a loaded machine
    applying a large transaction can itself take longer than the hold)."""
    now = time.monotonic()
    for name in names:
        mode.held[name] = now + mode.hold_seconds
    if len(mode.held) > 100_000:  # forget what no longer holds
        mode.held = {k: v for k, v in mode.held.items() if v > now}


class _ConditionFailed(Exception):
    def __init__(self, item: Any):
        super().__init__("condition failed")
        self.item = item


def _check_condition(op: dict[str, Any], current: Any) -> None:
    from moto.dynamodb.comparisons import get_filter_expression

    condition = op.get("ConditionExpression")
    if condition is None:
        return
    if not get_filter_expression(condition, op.get("ExpressionAttributeNames"),
                                 op.get("ExpressionAttributeValues")).expr(current):
        old = (
            current.to_json()["Attributes"]
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current
            else None
        )
        raise _ConditionFailed(old)


def _apply(backend: Any, op_type: str, op: dict[str, Any]) -> None:
    table_name = op["TableName"]
    if op_type == "Put":
        backend.put_item(table_name, op["Item"])
    elif op_type == "Delete":
        backend.delete_item(table_name, op["Key"])
    elif op_type == "Update":
        if not _plain_update(backend, op):
            backend.update_item(table_name, op["Key"], update_expression=op["UpdateExpression"],
                                expression_attribute_names=op.get("ExpressionAttributeNames"),
                                expression_attribute_values=op.get("ExpressionAttributeValues"))
    elif op_type != "ConditionCheck":
        raise ValueError("Unsupported transaction operation")


_CLAUSE = re.compile(r"\s*(SET|ADD|REMOVE)\s+")
_SET = re.compile(r"^(#\w+)\s*=\s*(:\w+)$")
_ADD = re.compile(r"^(#\w+)\s+(:\w+)$")
_REMOVE = re.compile(r"^(#\w+)$")


def _plain_update(backend: Any, op: dict[str, Any]) -> bool:
    """Apply `SET #a = :v, ... ADD #n :v, ... REMOVE #r, ...` directly; False (nothing done) for anything else."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    names = op.get("ExpressionAttributeNames") or {}
    values = op.get("ExpressionAttributeValues") or {}
    actions: list[tuple[str, str, Any]] = []
    parts = _CLAUSE.split(op["UpdateExpression"])
    if parts[0].strip():
        return False
    for verb, body in zip(parts[1::2], parts[2::2], strict=True):
        for clause in (c.strip() for c in body.split(",")):
            match = {"SET": _SET, "ADD": _ADD, "REMOVE": _REMOVE}[verb].match(clause)
            if match is None or match.group(1) not in names:
                return False
            value = values.get(match.group(2)) if verb != "REMOVE" else None
            if verb != "REMOVE" and (value is None or (verb == "ADD" and "N" not in value)):
                return False
            actions.append((verb, names[match.group(1)], value))
    table = backend.get_table(op["TableName"])
    hash_key, range_key = backend.get_keys_value(table, op["Key"])
    current = table.get_item(hash_key, range_key)
    before = copy.deepcopy(current)
    changes: dict[str, Any] = {}
    for verb, name, value in actions:
        if verb == "SET":
            changes[name] = DynamoType(value)
        elif verb == "REMOVE":
            changes[name] = None
        else:
            old = changes.get(name) or (current.attrs.get(name) if current is not None else None)
            if old is not None and old.type != "N":
                return False
            total = Decimal(value["N"]) + (Decimal(old.value) if old is not None else 0)
            changes[name] = DynamoType({"N": format(total, "f")})
    if current is None:
        current = Item(hash_key, range_key, op["Key"])
    for name, value in changes.items():
        if value is None:
            current.attrs.pop(name, None)
        else:
            current.attrs[name] = value
    if range_key is not None:
        table.items[hash_key][range_key] = current
    else:
        table.items[hash_key] = current
    if table.stream_shard is not None:
        table.stream_shard.add(before, current)
    return True


def _rollback(undo: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_key, range_key, previous in reversed(undo):
        if previous is None:
            table.delete_item(hash_key, range_key)
        elif range_key is not None:
            table.items[hash_key][range_key] = previous
        else:
            table.items[hash_key] = previous
