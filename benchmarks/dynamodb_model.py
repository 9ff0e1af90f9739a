"""SPEC 13's model of real DynamoDB, applied to the write requests a stack really sends.

`WriteLog` hooks a boto3 DynamoDB client (botocore's `provide-client-params` event) and keeps every write
request as sent. `charge` then prices them the way DynamoDB does:

- a write costs 1 WCU per KB of the item (rounded up), a transactional write 2 WCU per KB per item
  (ConditionCheck included); every GSI entry the item has costs 1 WCU per KB on its own GSI partition;
- WCU are charged to the partition key value that takes them (`table PK=...`, `GSI1 <value>`): one key
  takes at most 1,000 WCU/s;
- transactions are counted per item: two that share an item conflict while the first holds it (20 ms),
  and an item may be in at most 0.5 concurrent transactions on average.

Sustained events/s = min(1,000 / WCU per event on the hottest key, 0.5 / (0.020 s x transactions per
event on the hottest item)).

This module imports nothing of the project, so the same code measures the previous design's requests
(run from its own commit by `benchmarks/previous.py`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KEY_WCU_PER_SECOND = 1000
TRANSACTION_HOLD_SECONDS = 0.020
MAX_CONCURRENT_TRANSACTIONS = 0.5
# On-demand prices, us-east-1 (per million request units).
USD_PER_MILLION_WRITE_UNITS = 0.625
USD_PER_MILLION_READ_UNITS = 0.125
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")


@dataclass
class WriteLog:
    """Every request a client sent, in order (operation name, parameters as given to boto3)."""

    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb.*", self._seen)

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests.append((model.name, params))

    def mark(self) -> int:
        return len(self.requests)

    def since(self, mark: int) -> list[tuple[str, dict[str, Any]]]:
        return self.requests[mark:]


@dataclass
class Charge:
    wcu: float = 0.0
    rcu: float = 0.0
    wcu_by_key: Counter = field(default_factory=Counter)
    transactions_by_item: Counter = field(default_factory=Counter)
    requests: Counter = field(default_factory=Counter)

    def add(self, other: Charge) -> Charge:
        self.wcu += other.wcu
        self.rcu += other.rcu
        self.wcu_by_key.update(other.wcu_by_key)
        self.transactions_by_item.update(other.transactions_by_item)
        self.requests.update(other.requests)
        return self

    def summary(self, events: int) -> dict[str, Any]:
        """Per event, the hottest key and item, the sustained rate by SPEC 13 and the cost per million events."""
        hot_key, hot_wcu = self.wcu_by_key.most_common(1)[0] if self.wcu_by_key else ("-", 0.0)
        hot_item, hot_tx = self.transactions_by_item.most_common(1)[0] if self.transactions_by_item else ("-", 0)
        by_key = KEY_WCU_PER_SECOND / (hot_wcu / events) if hot_wcu else math.inf
        by_item = (MAX_CONCURRENT_TRANSACTIONS / (TRANSACTION_HOLD_SECONDS * hot_tx / events)) if hot_tx else math.inf
        cost = (self.wcu * USD_PER_MILLION_WRITE_UNITS + self.rcu * USD_PER_MILLION_READ_UNITS) / events
        return {
            "events": events,
            "wcu_per_event": self.wcu / events,
            "rcu_per_event": self.rcu / events,
            "hottest_key": hot_key, "hottest_key_wcu_per_event": hot_wcu / events,
            "hottest_item": hot_item, "hottest_item_transactions_per_event": hot_tx / events,
            "sustained_by_key": by_key, "sustained_by_item": by_item,
            "sustained_events_per_second": min(by_key, by_item),
            "limited_by": "key" if by_key <= by_item else "item",
            "usd_per_million_events": cost,
            "requests": dict(self.requests),
        }


def charge(requests: list[tuple[str, dict[str, Any]]], gsi_keys: Mapping[str, str],
           item_after: Callable[[str, dict[str, Any]], dict[str, Any] | None]) -> Charge:
    """What these requests cost on DynamoDB, key by key.

    `gsi_keys` maps each GSI name to its partition key attribute; `item_after(table, key)` is the stored
    item (DynamoDB JSON) an UpdateItem left behind, whose size the update is charged at.
    """
    c = Charge()
    for operation, params in requests:
        c.requests[operation] += 1
        if operation in READS:
            c.rcu += 1  # at least one read unit a request; reads are not what SPEC 13 limits
            continue
        if operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                (kind, body), = action.items()
                item = body["Item"] if kind == "Put" else (item_after(body["TableName"], body["Key"]) or body["Key"])
                _write(c, item, gsi_keys, transactional=True)
                c.transactions_by_item[_item_name(item if kind == "Put" else body["Key"])] += 1
        elif operation == "PutItem":
            _write(c, params["Item"], gsi_keys)
        elif operation == "UpdateItem":
            _write(c, item_after(params["TableName"], params["Key"]) or params["Key"], gsi_keys)
        elif operation == "DeleteItem":
            _write(c, params["Key"], gsi_keys)
        elif operation == "BatchWriteItem":
            for writes in params["RequestItems"].values():
                for w in writes:
                    _write(c, w.get("PutRequest", {}).get("Item") or w["DeleteRequest"]["Key"], gsi_keys)
    return c


def _write(c: Charge, item: dict[str, Any], gsi_keys: Mapping[str, str], transactional: bool = False) -> None:
    units = math.ceil(item_size(item) / 1024) or 1
    base = units * (2 if transactional else 1)
    c.wcu += base
    c.wcu_by_key[f"table PK={_text(item['PK'])}"] += base
    for gsi, attribute in gsi_keys.items():
        if attribute in item:
            c.wcu += units
            c.wcu_by_key[f"{gsi} {_text(item[attribute])}"] += units


def _item_name(key: dict[str, Any]) -> str:
    return f"{_text(key['PK'])} | {_text(key.get('SK', {'S': ''}))}"


def _text(value: dict[str, Any]) -> str:
    (kind, raw), = value.items()
    return str(raw)


def item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB charges for an item in DynamoDB JSON: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, raw), = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = len(raw.lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in raw.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in raw)
    if kind in ("SS", "NS", "BS"):
        return 3 + sum(_value_size({kind[0]: v}) + 1 for v in raw)
    raise ValueError(f"unknown DynamoDB type {kind}")
