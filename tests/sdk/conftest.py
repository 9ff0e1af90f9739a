"""Fixtures for the SDK tests: a clean environment, fake servers, fast trackers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiusage.sdk import UsageTracker
from tests.sdk.fake_ingest import API_KEY, FakeIngest
from tests.sdk.fake_providers import FakeProviders

_SDK_ENV = ("AIUSAGE_API_URL", "AIUSAGE_API_KEY", "TRACK_AI_USAGE", "TRACK_TO_FILE", "USER_ID", "AIUSAGE_SPOOL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SDK setting leaks in from the machine; the spool lives in tmp_path."""
    for name in _SDK_ENV:
        monkeypatch.delenv(name, raising=False)
    spool = tmp_path / "spool" / "spool.jsonl"
    monkeypatch.setenv("AIUSAGE_SPOOL", str(spool))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return spool


@pytest.fixture
def spool_path(clean_env: Path) -> Path:
    return clean_env


@pytest.fixture
def ingest() -> Iterator[FakeIngest]:
    server = FakeIngest().start()
    yield server
    server.stop()


@pytest.fixture
def idle_ingest() -> Iterator[FakeIngest]:
    """An ingest endpoint that refuses connections until the test calls start()."""
    server = FakeIngest()
    yield server
    server.stop()


@pytest.fixture
def providers() -> Iterator[FakeProviders]:
    server = FakeProviders()
    yield server
    server.stop()


@pytest.fixture
def make_tracker(ingest: FakeIngest) -> Iterator[Callable[..., UsageTracker]]:
    """Trackers aimed at the fake ingest with test-speed backoff; all closed afterwards."""
    made: list[UsageTracker] = []

    def make(**overrides: Any) -> UsageTracker:
        options: dict[str, Any] = dict(
            api_url=ingest.url, api_key=API_KEY, flush_interval=60.0, backoff_base=0.01, backoff_max=0.05, timeout=5.0
        )
        options.update(overrides)
        tracker = UsageTracker(**options)
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        tracker.close(timeout=2)


@pytest.fixture
def tracker(make_tracker: Callable[..., UsageTracker]) -> UsageTracker:
    return make_tracker()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake AWS credentials so botocore signs requests without looking further."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
