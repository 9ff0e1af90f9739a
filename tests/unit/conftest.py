"""Domain unit tests on the in-memory repository (tests/support/memory.py): no moto, no AWS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared import budget_alarms, repository, retry
from shared.config import settings
from tests.support.memory import MemoryTable

UNIT_ENV = {
    "TABLE_NAME": "aiusage-unit",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "WRITE_BOUND_SECONDS": "0.2",
    "STREAM_LATENCY_SECONDS": "0.1",
    # Longer than any write here takes, so a definition is always stored before its `live_from`;
    # tests that spend move a budget's `live_from` into the past instead of waiting (`live`).
    "BUDGET_FENCE_SECONDS": "5",
}


class Alarms:
    """Stands in for CloudWatch: which budgets' alarms were synced and removed."""

    def __init__(self) -> None:
        self.synced: list[str] = []
        self.removed: list[str] = []

    def sync(self, b: Any) -> None:
        self.synced.append(b.budget_id)

    def remove(self, budget_id: str) -> None:
        self.removed.append(budget_id)


@pytest.fixture
def alarms(monkeypatch: pytest.MonkeyPatch) -> Alarms:
    fake = Alarms()
    monkeypatch.setattr(budget_alarms, "sync", fake.sync)
    monkeypatch.setattr(budget_alarms, "remove", fake.remove)
    return fake


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch, alarms: Alarms) -> Iterator[MemoryTable]:
    """An empty in-memory table as the repository; no SNS topic, no CloudWatch, no waiting between retries."""
    for name, value in UNIT_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("ALERTS_TOPIC_ARN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "DYNAMODB_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(retry, "backoff", lambda attempt: None)
    settings.cache_clear()
    with repository.use(MemoryTable()) as table:
        yield table
    settings.cache_clear()
