"""The one retry helper: bounded retries with backoff, and optimistic retries until the write wins."""

import pytest

from shared import retry
from shared.retry import ConditionFailed, retrying, until_no_conflict


class Flaky(Exception):
    pass


@pytest.fixture
def pauses(monkeypatch):
    waited: list[int] = []
    monkeypatch.setattr(retry, "backoff", waited.append)
    return waited


def failing(times: int, exc: type[Exception] = Flaky):
    seen: list[int] = []

    def operation(attempt: int) -> str:
        seen.append(attempt)
        if len(seen) <= times:
            raise exc(f"attempt {attempt}")
        return f"done at {attempt}"

    return operation, seen


def test_retries_what_it_is_told_to_with_a_backoff_before_each_retry(pauses):
    operation, seen = failing(2)
    assert retrying(operation, retry_on=lambda e: isinstance(e, Flaky), attempts=5) == "done at 3"
    assert seen == [1, 2, 3]
    assert pauses == [1, 2]


def test_the_last_attempts_exception_propagates(pauses):
    operation, seen = failing(10)
    with pytest.raises(Flaky, match="attempt 3"):
        retrying(operation, retry_on=lambda e: True, attempts=3)
    assert seen == [1, 2, 3] and pauses == [1, 2]


def test_an_exception_it_is_not_told_to_retry_propagates_at_once(pauses):
    operation, seen = failing(1, ValueError)
    with pytest.raises(ValueError):
        retrying(operation, retry_on=lambda e: isinstance(e, Flaky), attempts=5)
    assert seen == [1] and pauses == []


def test_until_no_conflict_rereads_at_once_until_the_write_wins(pauses):
    operation, seen = failing(4, ConditionFailed)
    assert until_no_conflict(operation) == "done at 5"
    assert seen == [1, 2, 3, 4, 5]
    assert pauses == []  # optimistic: another writer won, so read again without waiting


def test_until_no_conflict_lets_other_errors_through(pauses):
    operation, _ = failing(1, KeyError)
    with pytest.raises(KeyError):
        until_no_conflict(operation)


def test_backoff_grows_and_is_capped_at_a_second(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(retry.time, "sleep", slept.append)
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)
    for attempt in (1, 2, 3, 10):
        retry.backoff(attempt)
    assert slept == [0.04, 0.08, 0.16, 1.0]
