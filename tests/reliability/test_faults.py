"""Fault injection (SPEC 4.5): DynamoDB throttles, conditions that fail because someone else wrote first,
transactions that fail half-way through a batch, and timeouts after a write succeeded.

Faults are injected under the very DynamoDB client the handlers use (`shared.store.client()`), at the
transport: an injected answer replaces DynamoDB's (before it sees the request, or after it did the work), so
botocore's own retry logic reacts as it would to real DynamoDB; or an `after-call` hook raises once the
write is done. In every case the API answers 2xx or a 5xx `internal_error` without internals, and once the
caller retries, every total is exact and every event is stored once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
TARGET = "x-amz-target"


def event(n: int, **changes) -> dict:
    return {"event_id": f"f-{n}", "timestamp": f"{DAY}T{n % 24:02d}:00:00Z", "service": "openai", "model": "gpt-4o",
            "input_tokens": 1000 + n, "output_tokens": 10, "cost_usd": f"0.{n:06d}", "user_id": f"u{n % 7}",
            **changes}


def expected(events: list[dict]) -> tuple[float, int, int]:
    from decimal import Decimal

    from shared.money import usd

    return usd(sum(Decimal(e["cost_usd"]) for e in events)), sum(e["input_tokens"] for e in events), len(events)


def totals(api) -> tuple[float, int, int]:
    answer = api.get("/ai_usage", start_date=DAY, end_date=DAY, aggregation="day,user")
    assert answer.status == 200, answer
    s = answer.json()["summary"]
    by_user = answer.json()["aggregations"]["by_user"]
    assert sum(b["events"] for b in by_user.values()) == s["events"]  # the user cells agree with the service cells
    return s["total_cost_usd"], s["input_tokens"], s["events"]


def stored_ids(api) -> list[str]:
    answer = api.get("/ai_usage/events", start_date=DAY, end_date=DAY, limit=1000)
    assert answer.status == 200, answer
    return sorted(e["event_id"] for e in answer.json()["events"])


def budget_spent(api, budget_id: str) -> tuple[float, int]:
    status = api.get(f"/budgets/{budget_id}").json()["status"]
    return status["spent_usd"], status["events"]


def assert_internal_error(answer) -> None:
    assert answer.status == 500, answer
    assert answer.json() == {"error": {"code": "internal_error", "message": "internal error; the request id is in the logs",
                                       "details": []}}
    for leak in ("Traceback", "botocore", "Throttl", "Timeout", "dynamodb", "Exception", "TransactWrite"):
        assert leak not in answer.text


def dynamodb_error(code: str, status: int = 400) -> AWSResponse:
    class Raw:
        def stream(self, **_):
            yield json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}).encode()

    return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", status,
                       {"x-amzn-requestid": "injected", "content-type": "application/x-amz-json-1.0"}, Raw())


class Faults:
    """Decides, attempt by attempt, what happens to the handlers' DynamoDB requests.

    `instead[op](n)` may answer attempt n in DynamoDB's place (DynamoDB never sees it); `lost[op](n)` may
    replace DynamoDB's answer after it did the work; `after[op](n)` may raise once botocore has the answer.
    Botocore's retries see the first two like real DynamoDB answers; the third bypasses them.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        from shared import store

        self.calls: dict[str, int] = {}
        self.instead: dict[str, Callable[[int], AWSResponse | None]] = {}
        self.lost: dict[str, Callable[[int], AWSResponse | None]] = {}
        self.after: dict[str, Callable[[int], None]] = {}
        dynamodb = BotocoreStubber.__call__
        faults = self

        def transport(stubber, event_name, request, **kwargs):
            target = request.headers.get(TARGET) or b""
            operation = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
            faults.calls[operation] = n = faults.calls.get(operation, 0) + 1
            answer = faults.instead[operation](n) if operation in faults.instead else None
            if answer is None:
                answer = dynamodb(stubber, event_name, request, **kwargs)
                answer = (faults.lost[operation](n) if operation in faults.lost else None) or answer
            return answer

        monkeypatch.setattr(BotocoreStubber, "__call__", transport)
        store.client().meta.events.register_first("after-call.dynamodb", self._after_call)

    def _after_call(self, model, **_):
        if model.name in self.after:
            self.after[model.name](self.calls.get(model.name, 0))


@pytest.fixture
def faults(api, monkeypatch) -> Faults:
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.001)  # fast retries
    return Faults(monkeypatch)


def test_throttled_calls_are_retried_and_nothing_is_lost(api, faults):
    """Every other attempt of every write and read is throttled: botocore retries, the caller sees only 200s."""
    assert api.put("/budgets/all", {"period": "total", "limit_usd": 1000}).status == 201
    throttle = {"TransactWriteItems": "ProvisionedThroughputExceededException", "Query": "ThrottlingException",
                "BatchGetItem": "ThrottlingException", "GetItem": "RequestLimitExceeded"}
    for operation, code in throttle.items():
        faults.instead[operation] = lambda n, code=code: dynamodb_error(code) if n % 2 else None
    events = [event(n) for n in range(40)]
    for start in range(0, 40, 10):
        answer = api.post("/ai_usage", {"events": events[start:start + 10]})
        assert answer.status == 200 and answer.json()["accepted"] == 10, answer
    assert faults.calls["TransactWriteItems"] >= 8 and faults.calls["Query"] >= 2
    assert totals(api) == expected(events)
    assert stored_ids(api) == sorted(e["event_id"] for e in events)
    assert budget_spent(api, "all") == expected(events)[::2]


def test_throttling_that_outlasts_the_retries_is_a_500_and_the_retry_is_exact(api, faults):
    faults.instead["TransactWriteItems"] = lambda n: dynamodb_error("ProvisionedThroughputExceededException")
    events = [event(n) for n in range(30)]
    assert_internal_error(api.post("/ai_usage", {"events": events}))
    assert faults.calls["TransactWriteItems"] == 6  # the store's client: 1 attempt and max_attempts=5 retries
    assert totals(api) == (0.0, 0, 0)  # a transaction is all or nothing
    faults.instead.clear()
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200 and answer.json()["accepted"] == 30
    assert totals(api) == expected(events)


def test_a_concurrent_writer_wins_the_condition_and_the_stored_event_is_counted_once(api, faults):
    """Between validation and the write, another caller stores two of the ids (one with other content)."""
    from shared import ingest

    ours = [event(n) for n in range(10)]
    theirs = [event(3), event(7, input_tokens=99_999, cost_usd="0.500000")]

    def someone_else_writes_first(n: int) -> None:
        if n == 1:
            faults.instead.pop("TransactWriteItems")
            assert ingest.record_usage(json.loads(json.dumps({"events": theirs})))["accepted"] == 2
        return None

    faults.instead["TransactWriteItems"] = someone_else_writes_first
    answer = api.post("/ai_usage", {"events": ours})
    assert answer.status == 200, answer
    statuses = {r["event_id"]: r["status"] for r in answer.json()["results"]}
    assert statuses == {**{e["event_id"]: "created" for e in ours}, "f-3": "duplicate", "f-7": "conflict"}
    stored = [e for e in ours if e["event_id"] != "f-7"] + [theirs[1]]
    assert totals(api) == expected(stored)
    assert stored_ids(api) == sorted(e["event_id"] for e in ours)


def test_a_budget_created_between_read_and_write_fails_the_version_check_and_counts_once(api, faults):
    """The recording transaction's budget-version ConditionCheck fails; it reloads budgets and retries."""
    from shared import budgets

    def budget_appears(n: int) -> None:
        if n == 1:
            faults.instead.pop("TransactWriteItems")
            budgets.put_budget("late", {"period": "total", "limit_usd": 100}, "test")
        return None

    faults.instead["TransactWriteItems"] = budget_appears
    events = [event(n) for n in range(12)]
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200 and answer.json()["accepted"] == 12, answer
    assert faults.calls["TransactWriteItems"] >= 3  # ours (cancelled), the budget's, ours again
    assert totals(api) == expected(events)
    assert budget_spent(api, "late") == expected(events)[::2]


def test_a_batch_that_fails_after_its_first_chunk_is_completed_by_the_retry(api, faults):
    """300 events are several transactions: the first commits, the second fails; the retry stores the rest once."""
    assert api.put("/budgets/all", {"period": "total", "limit_usd": 1000}).status == 201
    events = [event(n, user_id=f"user-{n}") for n in range(300)]
    second = faults.calls.get("TransactWriteItems", 0) + 2
    faults.instead["TransactWriteItems"] = lambda n: dynamodb_error("ValidationException") if n == second else None
    assert_internal_error(api.post("/ai_usage", {"events": events}))
    committed = totals(api)[2]
    assert 0 < committed < 300  # the first chunk is in, with all its totals
    assert totals(api) == expected(events[:committed])
    assert budget_spent(api, "all") == expected(events[:committed])[::2]
    faults.instead.clear()
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200, answer
    assert (answer.json()["accepted"], answer.json()["duplicates"]) == (300 - committed, committed)
    assert totals(api) == expected(events)
    assert stored_ids(api) == sorted(e["event_id"] for e in events)
    assert budget_spent(api, "all") == expected(events)[::2]


@pytest.mark.parametrize("failure", ["read timeout", "connection reset"])
def test_a_timeout_after_the_write_succeeded_then_a_retry_changes_nothing(api, faults, failure):
    """DynamoDB commits, the answer never arrives: 500; the client retries and gets duplicates, totals unchanged."""
    def lost_answer(n: int) -> None:
        if n == 1:
            if failure == "read timeout":
                raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")
            raise ConnectionResetError("connection reset by peer")

    faults.after["TransactWriteItems"] = lost_answer
    events = [event(n) for n in range(20)]
    assert_internal_error(api.post("/ai_usage", {"events": events}))
    assert totals(api) == expected(events)  # it did happen
    again = api.post("/ai_usage", {"events": events})
    assert again.status == 200 and (again.json()["accepted"], again.json()["duplicates"]) == (0, 20), again
    assert totals(api) == expected(events)
    assert stored_ids(api) == sorted(e["event_id"] for e in events)


def test_reads_fail_cleanly_when_dynamodb_keeps_failing(api, faults):
    assert api.post("/ai_usage", event(1)).status == 200
    faults.instead["Query"] = lambda n: dynamodb_error("InternalServerError", 500)
    assert_internal_error(api.get("/ai_usage", start_date=DAY, end_date=DAY))
    assert_internal_error(api.get("/budgets"))
    faults.instead.clear()
    assert totals(api) == expected([event(1)])


def test_an_answer_lost_after_the_write_is_retried_by_botocore_and_counted_once(api, faults):
    """DynamoDB commits, its answer is lost (a 500 instead): botocore's retry meets the event's own condition.

    The caller gets a 200 and exact totals. The retried transaction can only see that the ids exist, so these
    events are reported `duplicate` rather than `created` (DynamoDB's ClientRequestToken would make such a
    retry succeed outright; the local DynamoDB ignores the token, so that is not exercised here).
    """
    faults.lost["TransactWriteItems"] = lambda n: dynamodb_error("InternalServerError", 500) if n == 1 else None
    events = [event(n) for n in range(20)]
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200, answer
    assert {r["status"] for r in answer.json()["results"]} <= {"created", "duplicate"}
    assert answer.json()["accepted"] + answer.json()["duplicates"] == 20
    assert faults.calls["TransactWriteItems"] >= 2
    assert totals(api) == expected(events)
    assert stored_ids(api) == sorted(e["event_id"] for e in events)
