"""Budgets on the in-memory repository: definitions, generations, optimistic writes, spend, decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared import aggregation, budgets, ingest, repository, table
from shared.errors import NotFound, ValidationFailed
from shared.repository import Put
from shared.retry import ConditionFailed

MONTHLY = {"name": "Anthropic", "scope": {"service": "anthropic"}, "period": "monthly", "timezone": "UTC",
           "limit_usd": 10, "thresholds": [0.5, 1.0], "action_on_limit": "block"}


def stored_budget(budget_id: str) -> dict:
    return repository.current().get(table.budget_definition_key(budget_id))


def history_actions(budget_id: str) -> list[str]:
    return [entry["action"] for entry in budgets.history(budget_id)]


def test_create_then_the_same_put_again_changes_nothing_but_repairs_the_alarms(memory, alarms):
    body, created = budgets.put_budget("anth", MONTHLY, "alice")
    assert created is True and body["budget_id"] == "anth" and body["limit_usd"] == 10.0
    assert body["status"]["spent_usd"] == 0 and body["status"]["state"] == "ok"
    writes = memory.writes
    again, created = budgets.put_budget("anth", MONTHLY, "alice")
    assert created is False and again["created_at"] == body["created_at"]
    assert memory.writes == writes  # nothing stored
    assert alarms.synced == ["anth", "anth"]
    assert history_actions("anth") == ["create"]
    [b] = budgets.load_all()
    assert (b.budget_id, b.generation, b.limit) == ("anth", 1, Decimal(10))


def test_a_new_limit_keeps_the_generation_a_new_scope_starts_the_next(memory):
    budgets.put_budget("anth", MONTHLY, "alice")
    budgets.put_budget("anth", {**MONTHLY, "limit_usd": 20}, "bob")
    assert int(stored_budget("anth")["generation"]) == 1
    budgets.put_budget("anth", {**MONTHLY, "limit_usd": 20, "scope": {"service": "openai"}}, "bob")
    assert int(stored_budget("anth")["generation"]) == 2
    assert history_actions("anth") == ["update", "update", "create"]  # newest first
    assert [e["principal"] for e in budgets.history("anth")] == ["bob", "bob", "alice"]


def test_a_put_that_loses_to_a_concurrent_writer_reads_again_and_wins(memory, monkeypatch):
    budgets.put_budget("anth", MONTHLY, "alice")
    real = memory.write_all
    attempts = []

    def someone_else_writes_first(writes):
        attempts.append(len(writes))
        if len(attempts) == 1:  # another writer changes the budget between our read and our write
            item = stored_budget("anth")
            real([Put({**item, "updated_at": "2000-01-01T00:00:00.000000Z"})])
        return real(writes)

    monkeypatch.setattr(memory, "write_all", someone_else_writes_first)
    body, created = budgets.put_budget("anth", {**MONTHLY, "limit_usd": 30}, "bob")
    assert attempts == [2, 2] and created is False and body["limit_usd"] == 30.0
    assert stored_budget("anth")["updated_at"] != "2000-01-01T00:00:00.000000Z"


def test_the_fake_refuses_a_stale_write_as_dynamodb_does(memory):
    budgets.put_budget("anth", MONTHLY, "alice")
    item = stored_budget("anth")
    with pytest.raises(ConditionFailed):
        memory.write_all([Put({**item, "name": "x"}, if_equal=("updated_at", "stale")),
                          Put({**table.key("other", "item")})])
    assert memory.get(table.key("other", "item")) is None  # all or nothing
    with pytest.raises(ConditionFailed):
        memory.write_all([Put(item, if_absent=True)])


def test_delete_removes_the_definition_and_alarms_and_keeps_the_history(memory, alarms):
    budgets.put_budget("anth", MONTHLY, "alice")
    budgets.delete_budget("anth", "bob")
    assert stored_budget("anth") is None and alarms.removed == ["anth"]
    assert history_actions("anth") == ["delete", "create"]
    with pytest.raises(NotFound):
        budgets.delete_budget("anth", "bob")
    with pytest.raises(NotFound):
        budgets.get_budget("anth")


def test_reset_starts_a_generation_counting_from_now(memory):
    budgets.put_budget("anth", MONTHLY, "alice")
    now = datetime.now(UTC)
    body = budgets.reset_budget("anth", "bob", now)
    [b] = budgets.load_all()
    assert b.generation == 2 and b.counting_from == now
    assert body["status"]["spent_usd"] == 0
    assert history_actions("anth") == ["reset", "create"]


def test_bad_ids_and_bodies_are_refused_before_anything_is_stored(memory):
    with pytest.raises(ValidationFailed):
        budgets.put_budget("-bad", MONTHLY, "alice")
    with pytest.raises(ValidationFailed):
        budgets.put_budget("ok", {**MONTHLY, "period": "hourly"}, "alice")
    assert memory.writes == 0


def live(budget_id: str) -> None:
    """The budget has been live for a minute: the aggregator counts every event written from now on."""
    since = datetime.now(UTC) - timedelta(minutes=1)
    repository.current().update(table.budget_definition_key(budget_id), {"live_from": since.isoformat()})


def spend(memory, events: list[dict]) -> None:
    """Record events, then fold the stream into the totals (as the aggregator's Lambda does)."""
    start = len(memory.stream)
    answer = ingest.record_usage({"events": events})
    assert answer["accepted"] == len(events), answer
    result = aggregation.apply_batch("shard-1", memory.stream[start:])
    assert result.failed_from is None and result.applied == 1


def anthropic(n: int, cost: str) -> dict:
    return {"event_id": f"e-{n}", "service": "anthropic", "model": "claude", "input_tokens": 10, "output_tokens": 5,
            "cost_usd": cost}


def test_spend_status_alerts_and_the_check_decision(memory):
    budgets.put_budget("anth", MONTHLY, "alice")
    budgets.put_budget("openai", {**MONTHLY, "scope": {"service": "openai"}}, "alice")
    live("anth")
    live("openai")
    spend(memory, [anthropic(1, "4.25"), anthropic(2, "1.50")])
    status = budgets.get_budget("anth")["status"]
    assert (status["spent_usd"], status["events"], status["remaining_usd"]) == (5.75, 2, 4.25)
    assert status["utilization"] == 0.575 and status["thresholds_crossed"] == [0.5]
    assert budgets.get_budget("openai")["status"]["events"] == 0
    alerts = [i for i in memory.items.values() if i.get("item_type") == "alert"]
    assert [a["alert_type"] for a in alerts] == ["budget_threshold"]  # 50% passed, once

    decision = budgets.check({"service": "anthropic", "estimated_cost_usd": 4})
    assert decision["allowed"] is True and decision["action"] == "allow"
    decision = budgets.check({"service": "anthropic", "estimated_cost_usd": 5})
    assert decision["allowed"] is False and decision["action"] == "block"
    assert [(d["budget_id"], d["remaining_usd"]) for d in decision["budgets"]] == [("anth", 4.25)]

    spend(memory, [anthropic(3, "4.25")])
    status = budgets.get_budget("anth")["status"]
    assert (status["spent_usd"], status["state"], status["thresholds_crossed"]) == (10.0, "exceeded", [0.5, 1.0])
    assert sorted(a["alert_type"] for a in memory.items.values() if a.get("item_type") == "alert") == [
        "budget_threshold", "budget_threshold"]
    impact = budgets.estimate_impact({"service": "anthropic"}, Decimal("0.01"))
    assert impact == [{"budget_id": "anth", "remaining_usd": 0.0, "would_exceed": True, "action_on_limit": "block"}]


def test_a_new_budget_stored_after_its_live_from_starts_a_new_generation_and_is_still_created(memory, monkeypatch):
    """A write slower than the fence (a loaded machine, a throttled table) must not keep the late generation:
    events stamped between its live_from and the moment it landed would be counted by neither the aggregator
    nor the backfill. The retry starts generation 2 and the answer is still `created` (201), one history entry."""
    from shared.config import settings

    monkeypatch.setenv("BUDGET_FENCE_SECONDS", "0.2")
    settings.cache_clear()
    fence = settings().budget_fence_seconds
    assert fence == 0.2
    real = memory.write_all
    calls = []

    def slow_first_write(writes):
        calls.append(len(writes))
        result = real(writes)
        if len(calls) == 1:
            import time

            time.sleep(fence + 0.05)  # the write lands after live_from
        return result

    monkeypatch.setattr(memory, "write_all", slow_first_write)
    body, created = budgets.put_budget("late", MONTHLY, "alice")
    assert created is True and calls == [2, 1]  # the retry writes the definition alone, no second history entry
    stored = stored_budget("late")
    assert int(stored["generation"]) == 2
    assert datetime.fromisoformat(stored["live_from"]) > datetime.now(UTC) - timedelta(seconds=fence)
    assert history_actions("late") == ["create"]
    again, created = budgets.put_budget("late", MONTHLY, "alice")  # a real repeat still changes nothing
    assert created is False and int(stored_budget("late")["generation"]) == 2
