"""Fault injection (SPEC 4.5, 13): DynamoDB throttles, conditions that fail because someone else wrote first,
timeouts after a write succeeded, and an aggregator whose transactions fail half-way through a batch.

Faults are injected under the very DynamoDB clients the handlers use (`shared.store.client()` and the event
writer `store.event_client()`), at the transport: an injected answer replaces DynamoDB's (before it sees the
request, or after it did the work), so each client's retry logic reacts as it would to real DynamoDB; or an
`after-call` hook raises once the write is done. The aggregator runs from the table's stream as in AWS
(`tests/support/aggregation.py`). In every case the API answers 2xx or a 5xx `internal_error` without
internals, and once the caller retries, every total is exact and every event is stored once.
"""

from __future__ import annotations

import json
import threading
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
    assert answer.json() == {
        "error": {"code": "internal_error", "message": "internal error; the request id is in the logs", "details": []}
    }
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
        store.event_client().meta.events.register_first("after-call.dynamodb", self._after_call)

    def _after_call(self, model, **_):
        if model.name in self.after:
            self.after[model.name](self.calls.get(model.name, 0))


@pytest.fixture
def faults(api, monkeypatch) -> Faults:
    from botocore.retries import standard

    from shared import retry

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.001)  # fast retries
    monkeypatch.setattr(retry, "backoff", lambda attempt: None)
    return Faults(monkeypatch)


def test_throttled_calls_are_retried_and_nothing_is_lost(api, faults):
    """Every other attempt of every write and read is throttled: the caller sees only 200s, totals are exact."""
    assert api.put("/budgets/all", {"period": "total", "limit_usd": 1000}).status == 201
    throttle = {"PutItem": "ProvisionedThroughputExceededException", "TransactWriteItems": "ThrottlingException",
                "Query": "ThrottlingException", "GetItem": "RequestLimitExceeded"}
    for operation, code in throttle.items():
        faults.instead[operation] = lambda n, code=code: dynamodb_error(code) if n % 2 else None
    events = [event(n) for n in range(40)]
    for start in range(0, 40, 10):
        answer = api.post("/ai_usage", {"events": events[start:start + 10]})
        assert answer.status == 200 and answer.json()["accepted"] == 10, answer
    assert totals(api) == expected(events)
    assert faults.calls["PutItem"] >= 80 and faults.calls["TransactWriteItems"] >= 2 and faults.calls["Query"] >= 2
    assert stored_ids(api) == sorted(e["event_id"] for e in events)
    assert budget_spent(api, "all") == expected(events)[::2]


def test_throttling_that_outlasts_the_retries_is_a_500_and_the_retry_is_exact(api, faults):
    """Ingest gives up on a put after its attempts: 500, the events put before it stay, the retry adds the rest."""
    faults.instead["PutItem"] = lambda n: dynamodb_error("ProvisionedThroughputExceededException") if n > 12 else None
    events = [event(n) for n in range(30)]
    assert_internal_error(api.post("/ai_usage", {"events": events}, drain=False))
    stored = len(stored_ids(api))
    assert 0 < stored < 30  # each event is its own write: those written are stored, and counted
    assert totals(api)[2] == stored
    faults.instead.clear()
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200 and (answer.json()["accepted"], answer.json()["duplicates"]) == (30 - stored, stored)
    assert totals(api) == expected(events)


def test_a_concurrent_writer_wins_the_condition_and_the_stored_event_is_counted_once(api, faults):
    """Between validation and the write, another caller stores two of the ids (one with other content)."""
    from shared import ingest

    ours = [event(n) for n in range(10)]
    theirs = [event(3), event(7, input_tokens=99_999, cost_usd="0.500000")]
    first, theirs_written, writing = threading.Lock(), threading.Event(), threading.local()

    def someone_else_writes_first(n: int) -> None:
        if getattr(writing, "theirs", False):
            return None
        if first.acquire(blocking=False):  # our first put: theirs land before any of ours
            writing.theirs = True
            for e in theirs:  # one at a time, in this thread
                assert ingest.record_usage(json.loads(json.dumps(e)))["accepted"] == 1
            writing.theirs = False
            theirs_written.set()
        theirs_written.wait(10)  # our other puts (in parallel) wait for theirs too
        return None

    faults.instead["PutItem"] = someone_else_writes_first
    answer = api.post("/ai_usage", {"events": ours})
    assert answer.status == 200, answer
    statuses = {r["event_id"]: r["status"] for r in answer.json()["results"]}
    assert statuses == {**{e["event_id"]: "created" for e in ours}, "f-3": "duplicate", "f-7": "conflict"}
    stored = [e for e in ours if e["event_id"] != "f-7"] + [theirs[1]]
    assert totals(api) == expected(stored)
    assert stored_ids(api) == sorted(e["event_id"] for e in ours)


def test_a_budget_created_while_a_batch_is_written_counts_every_event_once(api, faults):
    """Half the batch is written before the budget, half after: its backfill and the aggregator split them."""
    from shared import budgets

    def budget_appears(n: int) -> None:
        if n == 6:
            budgets.put_budget("late", {"period": "total", "limit_usd": 100}, "test")
        return None

    faults.instead["PutItem"] = budget_appears
    events = [event(n) for n in range(12)]
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200 and answer.json()["accepted"] == 12, answer
    assert totals(api) == expected(events)
    assert budget_spent(api, "late") == expected(events)[::2]


def test_an_aggregator_transaction_failing_mid_batch_is_retried_from_there(api, faults):
    """300 events need several aggregator transactions: the second fails; the stream retries the batch, the
    stored parts are finished and the checkpoint keeps the first from counting twice."""
    assert api.put("/budgets/all", {"period": "total", "limit_usd": 1000}).status == 201
    events = [event(n, user_id=f"user-{n}") for n in range(300)]
    second = faults.calls.get("TransactWriteItems", 0) + 2
    faults.instead["TransactWriteItems"] = lambda n: dynamodb_error("ValidationException") if n == second else None
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200 and answer.json()["accepted"] == 300, answer
    assert totals(api) == expected(events)
    assert faults.calls["TransactWriteItems"] > second  # the failed one was applied again
    assert budget_spent(api, "all") == expected(events)[::2]


def test_an_aggregator_crashing_after_its_transaction_counts_nothing_twice(api, faults):
    """The transaction commits, then the invocation dies (Lambda retries the whole batch, bisected)."""
    events = [event(n, user_id=f"user-{n}") for n in range(150)]
    crashes = []

    def crash_after_commit(n: int) -> None:
        if not crashes:
            crashes.append(n)
            raise ConnectionResetError("the aggregator's instance died")

    faults.after["TransactWriteItems"] = crash_after_commit
    assert api.post("/ai_usage", {"events": events}).status == 200
    assert totals(api) == expected(events)
    assert crashes


@pytest.mark.parametrize("failure", ["read timeout", "connection reset"])
def test_a_timeout_after_the_write_succeeded_is_retried_and_answered_created(api, faults, failure):
    """DynamoDB stores the event, its answer never arrives: ingest tries again, finds its own write (by its
    stamp) and answers `created`; a client's later retry gets duplicates; totals unchanged."""
    def lost_answer(n: int) -> None:
        if n == 1:
            if failure == "read timeout":
                raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")
            raise ConnectionResetError("connection reset by peer")

    faults.after["PutItem"] = lost_answer
    events = [event(n) for n in range(20)]
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200 and answer.json()["accepted"] == 20, answer
    assert totals(api) == expected(events)
    again = api.post("/ai_usage", {"events": events})
    assert again.status == 200 and (again.json()["accepted"], again.json()["duplicates"]) == (0, 20), again
    assert totals(api) == expected(events)
    assert stored_ids(api) == sorted(e["event_id"] for e in events)


def test_reads_fail_cleanly_when_dynamodb_keeps_failing(api, faults):
    assert api.post("/ai_usage", event(1)).status == 200
    totals(api)  # aggregated before the faults
    faults.instead["Query"] = lambda n: dynamodb_error("InternalServerError", 500)
    assert_internal_error(api.get("/ai_usage", start_date=DAY, end_date=DAY, drain=False))
    assert_internal_error(api.call("GET", "/budgets", drain=False))
    faults.instead.clear()
    assert totals(api) == expected([event(1)])


def test_an_answer_lost_after_the_write_is_retried_and_counted_once(api, faults):
    """DynamoDB stores the event, its answer is lost (a 500 instead): the retried put meets the event's own
    condition, recognises its own write, and the caller gets a 200 with every event `created`."""
    faults.lost["PutItem"] = lambda n: dynamodb_error("InternalServerError", 500) if n % 3 == 1 else None
    events = [event(n) for n in range(20)]
    answer = api.post("/ai_usage", {"events": events})
    assert answer.status == 200, answer
    assert {r["status"] for r in answer.json()["results"]} == {"created"}
    assert faults.calls["PutItem"] > 20
    assert totals(api) == expected(events)
    assert stored_ids(api) == sorted(e["event_id"] for e in events)
