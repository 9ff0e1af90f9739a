"""Makes moto's DynamoDB fit to be the local stack's database (and the tests').

Two things moto does differently from DynamoDB matter to a ledger:

- `TransactWriteItems` deep-copies every table it touches before each
  transaction (once per action), so a write costs O(table size): seeding a
  demo month took minutes. Here a transaction keeps an undo log of just the
  items it touches and restores those on cancellation, as DynamoDB behaves.
- moto's server runs requests on several threads with no locking, so two
  concurrent conditional writes can both pass `attribute_not_exists`. DynamoDB
  serialises writes per item; here every write runs under one lock.

`install()` patches moto's backend class in this process; it is idempotent.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("put_item", "update_item", "delete_item", "batch_write_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _transact_with_undo_log()
    _INSTALLED = True


def _locked(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


def _transact_with_undo_log() -> Any:
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
            undo: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, previous item or None)
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
                    _rollback(undo)
                    raise MultipleTransactionsException()
                seen.add(marker)
                hash_key, range_key = self.get_keys_value(table, key)
                current = table.get_item(hash_key, range_key)
                undo.append((table, hash_key, range_key, copy.deepcopy(current)))
                try:
                    _apply(self, op_type, op, current)
                    errors.append((None, None, None))
                except _ConditionFailed as failed:
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", failed.item))
                except Exception as exc:  # noqa: BLE001 - reported per action, like moto does
                    errors.append((type(exc).__name__, str(exc), None))
            if any(code is not None for code, _, _ in errors):
                _rollback(undo)
                raise TransactionCanceledException(errors)

    return transact_write_items


class _ConditionFailed(Exception):
    def __init__(self, item: Any):
        super().__init__("condition failed")
        self.item = item


def _apply(backend: Any, op_type: str, op: dict[str, Any], current: Any) -> None:
    from moto.dynamodb.comparisons import get_filter_expression

    condition = op.get("ConditionExpression")
    names = op.get("ExpressionAttributeNames")
    values = op.get("ExpressionAttributeValues")
    if condition is not None and not get_filter_expression(condition, names, values).expr(current):
        old = current.to_json()["Attributes"] if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current else None
        raise _ConditionFailed(old)
    table_name = op["TableName"]
    if op_type == "Put":
        backend.put_item(table_name, op["Item"])
    elif op_type == "Delete":
        backend.delete_item(table_name, op["Key"])
    elif op_type == "Update":
        backend.update_item(table_name, op["Key"], update_expression=op["UpdateExpression"],
                            expression_attribute_names=names, expression_attribute_values=values)
    elif op_type != "ConditionCheck":
        raise ValueError("Unsupported transaction operation")


def _rollback(undo: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_key, range_key, previous in reversed(undo):
        if previous is None:
            table.delete_item(hash_key, range_key)
        elif range_key is not None:
            table.items[hash_key][range_key] = previous
        else:
            table.items[hash_key] = previous
