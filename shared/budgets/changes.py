"""Changing budgets: create or replace, delete, reset, with an audit entry each (SPEC 6).

Every change is optimistic: read the definition, write it on condition that
nobody changed it meanwhile, and read again when somebody did
(`shared/retry.until_no_conflict`). A change to what a budget counts starts a
new generation whose `live_from` is `budget_fence_seconds` ahead: the
aggregator counts the writes stamped from then on, the backfill those before.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import budget_alarms, repository, table
from shared.budgets.definitions import BACKFILL_MARKER, budget_of_item, definition_text, load
from shared.budgets.status import budget_json, status
from shared.config import settings
from shared.errors import NotFound, ValidationFailed
from shared.models import BUDGET_ID_PATTERN, BudgetIn, format_ts, parse
from shared.repository import Delete, Put
from shared.retry import ConditionFailed, until_no_conflict


def _validate_id(budget_id: str) -> None:
    if not re.match(BUDGET_ID_PATTERN, budget_id):
        raise ValidationFailed.at(
            ["path", "budget_id"], "must be 1..64 of [A-Za-z0-9._-], starting with a letter or digit"
        )


def parse_budget(body: Any) -> BudgetIn:
    parsed = parse(BudgetIn, body, "budget")
    errors = [{"loc": list(loc), "msg": msg} for loc, msg in parsed.field_errors()]
    if errors:
        raise ValidationFailed("invalid budget", errors)
    return parsed


def put_budget(budget_id: str, body: Any, principal: str, now: datetime | None = None) -> tuple[dict[str, Any], bool]:
    """Create or replace a budget; returns it with status, and whether it was created."""
    _validate_id(budget_id)
    parsed = parse_budget(body)

    late = {"created": False, "stored": False}  # a new generation stored after its live_from, and by whom

    def attempt(_: int) -> tuple[dict[str, Any], bool]:
        now_ = now or datetime.now(UTC)
        existing, existing_item = load(budget_id)
        stored = existing_item or {}  # load gives both or neither: the item whenever `existing` is a budget
        definition = definition_text(parsed, parsed.name or budget_id)
        if existing is not None and stored["definition"] == definition and not late["stored"]:
            budget_alarms.sync(existing)  # nothing changed; repeating a PUT repairs the alarms
            return budget_json(existing, now_), False
        # Our own generation, stored too late to be counted from its live_from, starts over: a new one.
        counting_changed = late["stored"] or existing is None or (
            _counting(json.loads(stored["definition"])) != _counting(json.loads(definition)))
        item = {**stored, **table.budget_definition_key(budget_id), "item_type": "budget",
                "budget_id": budget_id, "definition": definition,
                "created_at": existing.created_at if existing else format_ts(now_), "updated_at": format_ts(now_)}
        if counting_changed:
            _start_generation(item, (existing.generation + 1) if existing else 1, None)
        b = budget_of_item(item)
        action = "create" if existing is None else (
            "override" if _only_override_changed(stored["definition"], definition) else "update")
        history = None if late["stored"] else _history_item(
            budget_id, action, principal, now_, existing.definition_json() if existing else None, b.definition_json())
        try:
            _write(item, existing_item, history, counting_changed)
        except StoredLate:
            late["stored"] = True
            late["created"] = late["created"] or existing is None
            raise
        budget_alarms.sync(b)
        return budget_json(b, now_), existing is None or late["created"]

    return until_no_conflict(attempt)


class StoredLate(ConditionFailed):
    """A new generation reached the table after its `live_from`: start another one."""


def _start_generation(item: dict[str, Any], generation: int, counting_from: datetime | None) -> None:
    """A new generation of spend: counted by the aggregator from `live_from`, by its backfill before.

    `live_from` is on this machine's clock, like the `received_at` stamps of ingest.
    """
    s = settings()
    live_from = datetime.now(UTC) + timedelta(seconds=s.budget_fence_seconds)
    due = live_from + timedelta(seconds=s.write_bound_seconds + s.backfill_settle_seconds)
    item.update(generation=generation, live_from=live_from.isoformat(), backfill_due_at=due.isoformat(),
                counting_from=counting_from.isoformat() if counting_from else None)
    item.pop(BACKFILL_MARKER, None)


def _write(item: dict[str, Any], existing_item: dict[str, Any] | None, history: dict[str, Any] | None,
           new_generation: bool) -> None:
    """Store a definition (if nobody changed it meanwhile) with its audit entry; `ConditionFailed`: read it again.

    A new generation must be stored before its `live_from` (the aggregator reads
    budgets after each batch arrives, so it then counts every write stamped from
    `live_from`); a write slower than the fence starts over with a new one.
    """
    item = {k: v for k, v in item.items() if v is not None}
    condition = ("updated_at", existing_item["updated_at"]) if existing_item else None
    repository.current().write_all([Put(item, if_absent=existing_item is None, if_equal=condition),
                                     *([Put(history)] if history else [])])
    if new_generation and datetime.now(UTC) >= datetime.fromisoformat(item["live_from"]):
        raise StoredLate("stored after its live_from: start a new generation")


def _counting(definition: dict[str, Any]) -> tuple:
    return tuple(definition.get(k) for k in ("scope", "period", "timezone", "anchor_day"))


def _only_override_changed(before: str, after: str) -> bool:
    b, a = json.loads(before), json.loads(after)
    return b.get("override_until") != a.get("override_until") and {**b, "override_until": None} == {
        **a,
        "override_until": None,
    }


def delete_budget(budget_id: str, principal: str, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)

    def attempt(_: int) -> None:
        existing, existing_item = load(budget_id)
        if existing is None:
            budget_alarms.remove(budget_id)  # what a DELETE that failed after the budget was gone left behind
            raise NotFound(f"no budget {budget_id}")
        assert existing_item is not None  # load gives both or neither
        history = _history_item(budget_id, "delete", principal, now, existing.definition_json(), None)
        repository.current().write_all([
            Delete(table.budget_definition_key(budget_id), if_equal=("updated_at", existing_item["updated_at"])),
            Put(history)])
        budget_alarms.remove(budget_id)

    until_no_conflict(attempt)


def reset_budget(budget_id: str, principal: str, now: datetime | None = None) -> dict[str, Any]:
    """Spend counts from now for the rest of the period: a new generation counting from `now`."""

    def attempt(_: int) -> dict[str, Any]:
        now_ = now or datetime.now(UTC)
        existing, existing_item = load(budget_id)
        if existing is None:
            raise NotFound(f"no budget {budget_id}")
        assert existing_item is not None  # load gives both or neither
        before = status(existing, now_)
        item = {**existing_item, "updated_at": format_ts(now_)}
        _start_generation(item, existing.generation + 1, now_)
        history = _history_item(
            budget_id,
            "reset",
            principal,
            now_,
            {"generation": existing.generation, "status": before},
            {"generation": existing.generation + 1, "counting_from": now_.isoformat()},
        )
        _write(item, existing_item, history, True)
        return budget_json(budget_of_item({k: v for k, v in item.items() if v is not None}), now_)

    return until_no_conflict(attempt)


def _history_item(
    budget_id: str, action: str, principal: str, now: datetime, before: Any, after: Any
) -> dict[str, Any]:
    ts = format_ts(now)
    return {**table.budget_history_key(budget_id, ts, f"{time.monotonic_ns() % 10**12:012d}"),
            "item_type": "budget_history", "budget_id": budget_id, "action": action, "principal": principal,
            "at": ts, "before": json.dumps(before, default=str) if before is not None else None,
            "after": json.dumps(after, default=str) if after is not None else None}


def history(budget_id: str) -> list[dict[str, Any]]:
    entries = []
    for item in repository.current().query(table.budget_partition(budget_id), sk_prefix=table.BUDGET_HISTORY_PREFIX,
                                consistent=True, forward=False):
        entries.append({"action": item["action"], "principal": item["principal"], "at": item["at"],
                        "before": _maybe_json(item.get("before")), "after": _maybe_json(item.get("after"))})
    if not entries:
        raise NotFound(f"no budget {budget_id}")
    return entries


def _maybe_json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None
