"""Recording usage on the in-memory repository: one conditional put per event, duplicates and conflicts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared import events, ingest, table
from shared.errors import ValidationFailed


def usage(n: int, **changes) -> dict:
    return {"event_id": f"e-{n}", "timestamp": "2026-11-20T10:00:00Z", "service": "openai", "model": "gpt-4o",
            "input_tokens": 100 + n, "output_tokens": n, "cost_usd": f"0.{n:06d}", **changes}


def stored(memory, event_id: str) -> events.UsageEvent:
    return events.from_item(memory.get(table.event_key(event_id)))


def test_each_event_is_one_conditional_put_and_a_repeat_is_a_duplicate_or_a_conflict(memory):
    answer = ingest.record_usage({"events": [usage(1), usage(2), usage(3)]})
    assert (answer["accepted"], answer["duplicates"], answer["conflicts"]) == (3, 0, 0)
    assert memory.writes == 3 and len(memory.stream) == 3
    assert [r["cost_usd"] for r in answer["results"]] == [0.000001, 0.000002, 0.000003]
    e = stored(memory, "e-2")
    assert (e.cost_usd, e.counts.input_tokens, e.cost_source) == (Decimal("0.000002"), 102, "reported")

    again = ingest.record_usage({"events": [usage(1), usage(2, output_tokens=99), usage(4)]})
    assert [r["status"] for r in again["results"]] == ["duplicate", "conflict", "created"]
    assert memory.writes == 4  # only e-4 was written
    assert stored(memory, "e-2").counts.output_tokens == 2  # the stored event wins a conflict


def test_an_id_repeated_within_one_body_is_written_once(memory):
    answer = ingest.record_usage({"events": [usage(1), usage(1), usage(1, input_tokens=5)]})
    assert [r["status"] for r in answer["results"]] == ["created", "duplicate", "conflict"]
    assert memory.writes == 1


def test_a_bad_event_stores_nothing_of_its_body(memory):
    with pytest.raises(ValidationFailed) as raised:
        ingest.record_usage({"events": [usage(1), usage(2, input_tokens=-1)]})
    assert raised.value.details[0]["loc"][:2] == ["events", 1]
    assert memory.writes == 0


def test_a_put_whose_answer_was_lost_is_retried_and_recognised_as_its_own(memory, monkeypatch):
    real = memory.put_event
    calls = []

    def lands_then_the_connection_drops(item):
        calls.append(item["received_at"])
        found = real(item)
        if len(calls) == 1:
            raise ConnectionError("the answer was lost")
        return found

    monkeypatch.setattr(memory, "put_event", lands_then_the_connection_drops)
    answer = ingest.record_usage(usage(7))
    assert answer["accepted"] == 1 and answer["results"][0]["status"] == "created"
    assert len(calls) == 2 and calls[0] != calls[1]  # each attempt stamped anew
    assert memory.writes == 1 and stored(memory, "e-7").received_at == events.parse_ts(calls[0])


def test_transient_failures_are_retried_a_bounded_number_of_times(memory, monkeypatch):
    attempts = []

    def always_throttled(item):
        attempts.append(1)
        raise TimeoutError("no answer")

    monkeypatch.setattr(memory, "put_event", always_throttled)
    with pytest.raises(TimeoutError):
        ingest.record_usage(usage(8))
    assert len(attempts) == ingest.PUT_ATTEMPTS and memory.writes == 0
