"""The Python SDK against the real `aiusage serve`, over HTTP.

- The API dies in the middle of a run and comes back on another port: every
  event the application recorded is stored exactly once (SPEC 9: "never lost",
  SPEC 4.5: idempotent and exact), through the SDK's retries, spool and resend.
- The real `openai` SDK, wrapped, against a fake OpenAI endpoint: the server
  stores the fixture's exact tokens and prices them itself (SPEC 4.2, 4.3),
  at half price when the response says it was served by the flex tier.

Servers listen on 127.0.0.1 free ports and are always stopped.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import openai
import pytest

from aiusage.sdk import UsageTracker
from tests.e2e.conftest import ADMIN_KEY, Server, start_server
from tests.sdk.fake_providers import OPENAI_CHAT, FakeProviders

pytestmark = pytest.mark.e2e

AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1"}
TABLE = "sdk-e2e"
MTOK = Decimal(1_000_000)
# gpt-4o list prices, USD per million tokens.
GPT4O_INPUT, GPT4O_CACHED, GPT4O_OUTPUT = Decimal("2.50"), Decimal("1.25"), Decimal("10")
MESSAGES = [{"role": "user", "content": "Say hello"}]
_SDK_ENV = ("AIUSAGE_API_URL", "AIUSAGE_API_KEY", "TRACK_AI_USAGE", "TRACK_TO_FILE", "USER_ID", "AIUSAGE_SPOOL")


@pytest.fixture(autouse=True)
def sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the machine changes the trackers; their HTTP stays on 127.0.0.1."""
    for name in _SDK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def plain_server() -> Iterator[Server]:
    server = start_server()
    yield server
    server.stop()


def usd(value: Decimal) -> Decimal:
    """How the API shows money: the exact Decimal rounded half-up to 6 places (SPEC 5)."""
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def now_stamp() -> str:
    """Now, in the form of `stats.aggregated_through`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job_summary(server: Server, job: str) -> dict[str, Any]:
    status, body, _ = server.request("GET", "/ai_usage?" + urlencode({"job_id": job}))
    assert status == 200, body
    return body["summary"]


def job_events(server: Server, job: str, page: int = 100) -> list[dict[str, Any]]:
    """Every stored event of a job, following next_token page by page."""
    events: list[dict[str, Any]] = []
    token = None
    for _ in range(100):
        params = {"job_id": job, "limit": str(page), **({"next_token": token} if token else {})}
        status, body, _ = server.request("GET", "/ai_usage/events?" + urlencode(params))
        assert status == 200, body
        assert len(body["events"]) <= page
        events.extend(body["events"])
        token = body["next_token"]
        if not token:
            return events
    raise AssertionError("next_token never ran out")


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def spooled_ids(path: Path) -> list[str]:
    return [json.loads(line)["event_id"] for line in path.read_text().splitlines()] if path.exists() else []


# ---- the API dies mid-run ---------------------------------------------------------


N = 300
KILL_AT, DEAD_FROM = 100, 200  # terminate at event 100; from event 200 on the server is surely gone


def event_fields(i: int) -> dict[str, Any]:
    # An even input count keeps every event's cost exact at 6 decimals, so the
    # per-event costs the API lists add up exactly to the summary.
    return {"service": "openai", "model": "gpt-4o", "input_tokens": 1000 + 2 * i, "output_tokens": i % 7 + 1}


def event_cost(i: int) -> Decimal:
    fields = event_fields(i)
    return (fields["input_tokens"] * GPT4O_INPUT + fields["output_tokens"] * GPT4O_OUTPUT) / MTOK


def fast_tracker(url: str, spool: Path) -> UsageTracker:
    return UsageTracker(api_url=url, api_key=ADMIN_KEY, spool_path=spool, batch_size=25, flush_interval=0.01,
                        max_retries=2, backoff_base=0.01, backoff_max=0.05, timeout=5.0)


def test_api_killed_mid_run_every_event_arrives_exactly_once_after_restart(moto_endpoint, tmp_path):
    job = f"sdk-kill-{uuid.uuid4().hex[:12]}"  # the session's moto outlives this test: a job of our own
    spool = tmp_path / "spool" / "spool.jsonl"
    serve_args = ("--dynamodb-endpoint", moto_endpoint, "--table", TABLE)
    servers: list[Server] = []
    trackers: list[UsageTracker] = []
    try:
        first = start_server(*serve_args, env=AWS_ENV)
        servers.append(first)
        tracker = fast_tracker(first.url, spool)
        trackers.append(tracker)

        recorded: list[str] = []
        killer = threading.Thread(target=first.stop, name="kill-aiusage-serve")
        with tracker.context(job_id=job):
            for i in range(N):
                if i == KILL_AT:
                    # Some events were acknowledged live before the kill.
                    assert wait_until(lambda: tracker.stats.get("sent", 0) > 0), tracker.stats
                    killer.start()  # SIGTERM, while recording goes on
                if i == DEAD_FROM:
                    killer.join(20)
                    assert first.process.poll() is not None, "aiusage serve did not stop"
                recorded.append(tracker.record(**event_fields(i)))
                if KILL_AT <= i < DEAD_FROM:
                    time.sleep(0.002)  # spread over the shutdown: some batches land, some are cut off
        tracker.close(timeout=10)  # what could not be sent goes to the spool

        assert len(set(recorded)) == N
        stats = tracker.stats
        spooled = spooled_ids(spool)
        assert 0 < stats["sent"] < N, stats
        assert stats["spooled"] == len(spooled) >= N - DEAD_FROM, stats
        assert set(recorded[DEAD_FROM:]) <= set(spooled) <= set(recorded)
        assert stats.get("rejected", 0) == 0 and stats.get("conflicts", 0) == 0, stats

        dead_at = now_stamp()  # every write of the first server is older
        second = start_server(*serve_args, env=AWS_ENV)  # a new process on a new free port, same table
        servers.append(second)
        # The data stored before the kill survived it, and it is only part of the run: once the new
        # server's aggregator has caught up with the stream the first one left behind.
        second.wait_aggregated(timeout=120, since=dead_at)
        before_resend = job_summary(second, job)["events"]
        assert 0 < before_resend < N, before_resend

        resender = fast_tracker(second.url, spool)  # resends the spool as it starts
        trackers.append(resender)
        assert resender.flush(timeout=20)
        resent = resender.stats
        assert resent["resent_from_spool"] == len(spooled), resent
        assert resent.get("rejected", 0) == 0 and resent.get("conflicts", 0) == 0, resent
        # A batch cut off by the kill may have been stored without its answer arriving: resent, it is a
        # duplicate and adds nothing. Everything else in the spool is new.
        assert resent["sent"] - resent.get("duplicates", 0) == N - before_resend, resent
        resender.close(timeout=10)
        second.wait_aggregated(timeout=120, since=now_stamp())
        assert spooled_ids(spool) == []  # nothing left behind
        assert not (spool.parent / "spool.rejected.jsonl").exists()

        events = job_events(second, job, page=100)
        stored_ids = [e["event_id"] for e in events]
        assert len(stored_ids) == len(set(stored_ids)) == N  # each once
        assert set(stored_ids) == set(recorded)
        by_id = {e["event_id"]: e for e in events}
        for i, event_id in enumerate(recorded):
            stored = by_id[event_id]
            assert (stored["input_tokens"], stored["output_tokens"]) == (1000 + 2 * i, i % 7 + 1)
            assert stored["cost_source"] == "computed"
            assert money(stored["cost_usd"]) == event_cost(i), stored

        expected_cost = sum((event_cost(i) for i in range(N)), Decimal(0))
        listed_cost = sum((money(e["cost_usd"]) for e in events), Decimal(0))
        summary = job_summary(second, job)
        assert summary["events"] == summary["total_api_calls"] == N
        assert summary["unpriced_events"] == 0
        assert summary["input_tokens"] == sum(1000 + 2 * i for i in range(N))
        assert summary["output_tokens"] == sum(i % 7 + 1 for i in range(N))
        assert money(summary["total_cost_usd"]) == listed_cost == usd(expected_cost)
    finally:
        for made in trackers:
            made.close(timeout=2)
        for server in servers:
            server.stop()


# ---- the real openai SDK, priced by the real server ---------------------------------


def gpt4o_call_cost(usage: dict[str, Any], factor: Decimal = Decimal(1)) -> Decimal:
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    uncached = usage["prompt_tokens"] - cached
    cost = (uncached * GPT4O_INPUT + cached * GPT4O_CACHED + usage["completion_tokens"] * GPT4O_OUTPUT) / MTOK
    return cost * factor


def run_wrapped_openai(server: Server, spool: Path, job: str, **request: Any) -> dict[str, int]:
    """One chat completion and one streamed one through a wrapped client; returns the tracker's stats."""
    providers = FakeProviders()
    tracker = UsageTracker(api_url=server.url, api_key=ADMIN_KEY, spool_path=spool, flush_interval=60.0,
                           backoff_base=0.01, backoff_max=0.05, timeout=10.0)
    try:
        client = tracker.wrap(openai.OpenAI(api_key="sk-test", base_url=f"{providers.url}/v1", max_retries=0))
        with tracker.context(job_id=job):
            completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **request)
            stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, **request)
            text = "".join(chunk.choices[0].delta.content for chunk in stream)
        assert completion.choices[0].message.content == text == "Hello!"
        assert tracker.flush(timeout=20)
        return tracker.stats
    finally:
        tracker.close(timeout=5)
        providers.stop()


def test_wrapped_openai_usage_is_stored_and_priced_by_the_server(plain_server, tmp_path):
    job = f"sdk-openai-{uuid.uuid4().hex[:12]}"

    stats = run_wrapped_openai(plain_server, tmp_path / "spool.jsonl", job)

    assert stats["sent"] == 2 and stats.get("spooled", 0) == stats.get("rejected", 0) == 0, stats
    usage = OPENAI_CHAT["usage"]
    per_call = gpt4o_call_cost(usage)
    assert per_call == Decimal("0.0019725")  # (93 x 2.50 + 1024 x 1.25 + 46 x 10) / 1e6
    summary = job_summary(plain_server, job)
    assert {k: summary[k] for k in ("events", "total_api_calls", "unpriced_events", "input_tokens",
                                    "cache_read_tokens", "cache_write_tokens", "output_tokens", "total_tokens")} == {
        "events": 2, "total_api_calls": 2, "unpriced_events": 0,
        "input_tokens": 2 * usage["prompt_tokens"],
        "cache_read_tokens": 2 * usage["prompt_tokens_details"]["cached_tokens"],
        "cache_write_tokens": 0,
        "output_tokens": 2 * usage["completion_tokens"],
        "total_tokens": 2 * usage["total_tokens"],
    }
    assert money(summary["total_cost_usd"]) == usd(2 * per_call) == Decimal("0.003945")
    events = job_events(plain_server, job)
    assert len(events) == 2
    for event in events:
        assert (event["service"], event["model"], event["operation"], event["status"]) == (
            "openai", "gpt-4o-2024-08-06", "completion", "ok")
        assert (event["cost_source"], money(event["cost_usd"])) == ("computed", usd(per_call))
        assert "service_tier" not in event  # "default" on the response: nothing sent
        assert event["event_id"].startswith("sdk:") and event["job_id"] == job


def test_flex_tier_on_the_openai_response_is_billed_at_half_price(plain_server, tmp_path):
    job = f"sdk-flex-{uuid.uuid4().hex[:12]}"

    stats = run_wrapped_openai(plain_server, tmp_path / "spool.jsonl", job, service_tier="flex")

    assert stats["sent"] == 2 and stats.get("rejected", 0) == 0, stats
    half = gpt4o_call_cost(OPENAI_CHAT["usage"], Decimal("0.5"))
    events = job_events(plain_server, job)
    assert [(e["service_tier"], e["cost_source"], money(e["cost_usd"])) for e in events] == [
        ("flex", "computed", usd(half))] * 2
    summary = job_summary(plain_server, job)
    assert (summary["events"], money(summary["total_cost_usd"])) == (2, usd(2 * half))


def test_a_places_call_that_never_reached_google_is_stored_as_an_error_that_costs_nothing(plain_server, tmp_path):
    """The google_places example offline: a DNS failure is recorded (status error) but not charged 0.017."""
    import io
    import urllib.error
    import urllib.request

    job = f"sdk-places-{uuid.uuid4().hex[:12]}"
    tracker = UsageTracker(api_url=plain_server.url, api_key=ADMIN_KEY, spool_path=tmp_path / "spool.jsonl",
                           flush_interval=60.0, timeout=10.0)

    @tracker.track_requests(service="google_places", operation="place_details")
    def place_details(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()

    @tracker.track_requests(service="google_places", operation="place_details")
    def refused_by_google() -> bytes:
        raise urllib.error.HTTPError("https://maps.googleapis.com/", 400, "Bad Request", {}, io.BytesIO(b""))

    try:
        with tracker.context(job_id=job):
            with pytest.raises(urllib.error.URLError):
                place_details("http://maps.googleapis.invalid/maps/api/place/details/json?place_id=x")
            with pytest.raises(urllib.error.HTTPError):
                refused_by_google()
        assert tracker.flush(timeout=20)
    finally:
        tracker.close(timeout=5)
    plain_server.wait_aggregated()
    events = sorted(job_events(plain_server, job), key=lambda e: e["error"])
    assert [(e["status"], e["error"][:10], e["cost_source"], money(e["cost_usd"])) for e in events] == [
        ("error", "HTTPError:", "computed", Decimal("0.017")),
        ("error", "URLError: ", "reported", Decimal("0")),
    ]
    summary = job_summary(plain_server, job)
    assert (summary["events"], money(summary["total_cost_usd"])) == (2, Decimal("0.017"))
