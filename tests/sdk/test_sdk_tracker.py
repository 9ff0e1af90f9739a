"""UsageTracker behaviour: settings from env, explicit records, sinks, decorators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import anthropic
import openai
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from aiusage.sdk import UsageTracker
from tests.sdk.fake_ingest import API_KEY, split_dynamic
from tests.sdk.fake_providers import ANTHROPIC_MESSAGE, BEDROCK_CONVERSE, GEMINI, OPENAI_CHAT, OPENAI_EMBEDDINGS

REPO_ROOT = Path(__file__).resolve().parents[2]


def delivery_threads():
    return [t for t in threading.enumerate() if t.name == "aiusage-delivery"]


def recorded(tracker, ingest, **kwargs):
    assert tracker.flush(5)
    return [split_dynamic(e, **kwargs) for e in ingest.events]


# ---- settings from the environment --------------------------------------------


def test_settings_come_from_the_environment(ingest, monkeypatch, tmp_path):
    monkeypatch.setenv("AIUSAGE_API_URL", ingest.url + "/")
    monkeypatch.setenv("AIUSAGE_API_KEY", API_KEY)
    monkeypatch.setenv("USER_ID", "alice")
    monkeypatch.setenv("TRACK_TO_FILE", str(tmp_path / "usage.jsonl"))

    with UsageTracker(flush_interval=60) as tracker:
        tracker.record(service="openai", model="gpt-4o", input_tokens=5, output_tokens=2)
        assert tracker.flush(5)

    assert tracker.settings.api_url == ingest.url
    assert ingest.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert ingest.events[0]["user_id"] == "alice"
    assert json.loads((tmp_path / "usage.jsonl").read_text()) == ingest.events[0]


def test_explicit_arguments_win_over_the_environment(ingest, monkeypatch):
    monkeypatch.setenv("AIUSAGE_API_URL", "http://127.0.0.1:9/never")
    monkeypatch.setenv("USER_ID", "alice")
    monkeypatch.setenv("TRACK_AI_USAGE", "false")
    tracker = UsageTracker(ingest.url, API_KEY, enabled=True, user_id="bob", flush_interval=60)
    try:
        tracker.record(service="openai", model="m", input_tokens=1, output_tokens=1)
        assert tracker.flush(5)
        assert [e["user_id"] for e in ingest.events] == ["bob"]
    finally:
        tracker.close()


@pytest.mark.parametrize("value", ["false", "0", "no", "FALSE", "Off"])
def test_track_ai_usage_false_records_sends_and_wraps_nothing(value, ingest, providers, monkeypatch, spool_path):
    monkeypatch.setenv("TRACK_AI_USAGE", value)
    monkeypatch.setenv("AIUSAGE_API_URL", ingest.url)
    threads_before = len(delivery_threads())
    tracker = UsageTracker()
    client = openai.OpenAI(api_key="sk-test", base_url=f"{providers.url}/v1", max_retries=0)

    def places_lookup():
        return {"result": "ok"}

    assert tracker.enabled is False
    assert tracker.wrap(client) is client
    assert "create" not in vars(client.chat.completions)  # the class method, not an instrumented one
    assert tracker.track_requests("google_places", "place_details")(places_lookup) is places_lookup
    assert tracker.track(service="openai")(places_lookup) is places_lookup
    assert tracker.record(service="openai", model="m", input_tokens=1, output_tokens=1) is None
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert tracker.flush(1) is True
    tracker.close()
    assert ingest.requests == []
    assert len(delivery_threads()) == threads_before
    assert not spool_path.parent.exists()


def test_file_sink_without_http_writes_jsonl_lines(tmp_path, monkeypatch, spool_path):
    path = tmp_path / "out" / "usage.jsonl"
    monkeypatch.setenv("TRACK_TO_FILE", str(path))
    threads_before = len(delivery_threads())
    tracker = UsageTracker()

    first = tracker.record(service="openai", model="gpt-4o", input_tokens=10, output_tokens=2)
    second = tracker.record(service="google_places", operation="text_search", requests=2)

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [split_dynamic(r, latency=False) for r in rows] == [
        {"service": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 2},
        {"service": "google_places", "operation": "text_search", "requests": 2},
    ]
    assert [r["event_id"] for r in rows] == [first, second]
    assert len(delivery_threads()) == threads_before  # no HTTP sink, no thread
    assert not spool_path.parent.exists()


def test_without_any_sink_events_are_discarded_with_a_warning(caplog):
    with caplog.at_level("WARNING", logger="aiusage.sdk"):
        tracker = UsageTracker()
    assert "neither AIUSAGE_API_URL nor TRACK_TO_FILE" in caplog.text
    assert tracker.record(service="openai", model="m", input_tokens=1, output_tokens=1).startswith("sdk:")


def test_importing_the_sdk_imports_no_provider_sdk():
    # Only what aiusage.sdk itself adds counts (the parent package is not ours).
    code = (
        "import sys, aiusage\n"
        "before = set(sys.modules)\n"
        "import aiusage.sdk\n"
        "aiusage.sdk.UsageTracker(enabled=False)\n"
        "added = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(added & {'openai', 'anthropic', 'google', 'boto3', 'botocore', 'httpx', 'pydantic'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "[]"


# ---- record() ------------------------------------------------------------------


def test_record_merges_fields_over_context_over_defaults(ingest, make_tracker):
    tracker = make_tracker(user_id="default-user")

    with tracker.context(project="p1", job_id="j1", tags={"team": "ml", "env": "prod"}):
        event_id = tracker.record(
            service="anthropic", model="claude-haiku-4-5", input_tokens=100, output_tokens=20,
            job_id="explicit-job", tags={"env": "staging"}, cost_usd=Decimal("0.00125"),
            timestamp=datetime(2025, 1, 10, 12, 0, tzinfo=UTC), metadata={"step": 3},
        )

    assert tracker.flush(5)
    assert ingest.events == [{
        "user_id": "default-user", "project": "p1", "job_id": "explicit-job",
        "tags": {"team": "ml", "env": "staging"},
        "service": "anthropic", "model": "claude-haiku-4-5", "input_tokens": 100, "output_tokens": 20,
        "cost_usd": 0.00125, "timestamp": "2025-01-10T12:00:00+00:00", "metadata": {"step": 3},
        "event_id": event_id,
    }]


def test_record_event_accepts_a_mapping_and_keeps_a_given_event_id(ingest, tracker):
    tracker.record_event({"event_id": "batch-7:item-3", "service": "openai", "model": "gpt-4o",
                          "usage": OPENAI_CHAT["usage"]})
    assert tracker.flush(5)
    assert [(e["event_id"], e["usage"]) for e in ingest.events] == [("batch-7:item-3", OPENAI_CHAT["usage"])]


def test_unknown_fields_are_refused_at_once(ingest, tracker):
    with pytest.raises(TypeError, match="input_token"):
        tracker.record(service="openai", model="gpt-4o", input_token=5)
    assert tracker.flush(5) and ingest.requests == []


def test_queued_events_do_not_change_when_the_caller_mutates_its_dicts(ingest, tracker):
    tags = {"team": "ml"}
    tracker.record(service="openai", model="m", input_tokens=1, output_tokens=1, tags=tags)
    tags["team"] = "changed"
    assert tracker.flush(5)
    assert ingest.events[0]["tags"] == {"team": "ml"}


# ---- decorators ----------------------------------------------------------------


async def test_track_reads_usage_from_returned_provider_objects(ingest, tracker):
    # construct() builds the objects the way the provider SDKs do from a response body.
    @tracker.track()
    def summarize():
        return ChatCompletion.construct(**OPENAI_CHAT)

    @tracker.track()
    def embed():
        return CreateEmbeddingResponse.construct(**OPENAI_EMBEDDINGS)

    @tracker.track(service="anthropic")
    async def review():
        return anthropic.types.Message.construct(**ANTHROPIC_MESSAGE)

    assert summarize().id == "chatcmpl-AbC123"
    assert embed().model == "text-embedding-3-small"
    assert (await review()).model == "claude-sonnet-4-5-20250929"
    assert recorded(tracker, ingest) == [
        {
            "service": "openai",
            "model": "gpt-4o-2024-08-06",
            "operation": "completion",
            "usage": OPENAI_CHAT["usage"],
            "status": "ok",
        },
        {
            "service": "openai",
            "model": "text-embedding-3-small",
            "operation": "embedding",
            "usage": OPENAI_EMBEDDINGS["usage"],
            "status": "ok",
        },
        {
            "service": "anthropic",
            "model": "claude-sonnet-4-5-20250929",
            "operation": "completion",
            "usage": ANTHROPIC_MESSAGE["usage"],
            "status": "ok",
        },
    ]


def test_track_reads_usage_from_raw_json_responses(ingest, tracker):
    @tracker.track(service="google")
    def gemini_rest():
        return GEMINI  # camelCase REST JSON: sent as is, the server accepts both spellings

    @tracker.track(service="bedrock", model="amazon.nova-pro-v1:0")
    def bedrock_converse():
        return BEDROCK_CONVERSE

    @tracker.track()
    def openai_json():
        return OPENAI_CHAT

    gemini_rest(), bedrock_converse(), openai_json()

    assert recorded(tracker, ingest) == [
        {
            "service": "google",
            "model": "gemini-2.5-pro",
            "operation": "completion",
            "usage": GEMINI["usageMetadata"],
            "status": "ok",
        },
        {
            "service": "bedrock",
            "model": "amazon.nova-pro-v1:0",
            "operation": "completion",
            "usage": BEDROCK_CONVERSE["usage"],
            "status": "ok",
        },
        {
            "service": "openai",
            "model": "gpt-4o-2024-08-06",
            "operation": "completion",
            "usage": OPENAI_CHAT["usage"],
            "status": "ok",
        },
    ]


def test_track_records_errors_and_missing_usage(ingest, make_tracker):
    tracker = make_tracker()

    @tracker.track(service="openai", model="gpt-4o")
    def failing():
        raise TimeoutError("upstream took too long " + "x" * 2000)

    @tracker.track(service="openai", model="gpt-4o")
    def no_usage():
        return {"id": "x", "choices": []}

    with pytest.raises(TimeoutError):
        failing()
    assert no_usage() == {"id": "x", "choices": []}

    failed, missing = recorded(tracker, ingest)
    assert failed.pop("error") == ("TimeoutError: upstream took too long " + "x" * 2000)[:1000]
    assert failed == {"service": "openai", "model": "gpt-4o", "operation": "completion", "status": "error",
                      "input_tokens": 0, "output_tokens": 0}
    assert missing == {"service": "openai", "model": "gpt-4o", "operation": "completion", "status": "error",
                       "error": "usage_missing", "input_tokens": 0, "output_tokens": 0}


async def test_track_requests_counts_requests_for_sync_and_async_functions(ingest, tracker):
    @tracker.track_requests(service="google_places", operation="place_details")
    def place_details(place_id):
        return {"place_id": place_id}

    @tracker.track_requests(service="google_places", operation="text_search", requests=3)
    async def text_search(query):
        return [query] * 3

    @tracker.track_requests(service="google_places", operation="geocoding")
    def geocode():
        raise ConnectionError("dns failure")

    with tracker.context(job_id="crawl-1"):
        assert place_details("abc") == {"place_id": "abc"}
        assert await text_search("pizza") == ["pizza"] * 3
        with pytest.raises(ConnectionError):
            geocode()

    assert place_details.__name__ == "place_details"
    assert recorded(tracker, ingest) == [
        {"service": "google_places", "operation": "place_details", "requests": 1, "status": "ok", "job_id": "crawl-1"},
        {"service": "google_places", "operation": "text_search", "requests": 3, "status": "ok", "job_id": "crawl-1"},
        {"service": "google_places", "operation": "geocoding", "requests": 1, "status": "error",
         "error": "ConnectionError: dns failure", "cost_usd": 0, "credits": 0, "job_id": "crawl-1"},
    ]


def test_a_failed_request_is_charged_only_when_the_provider_answered(ingest, tracker):
    import io
    import urllib.error
    import urllib.request

    def tracked(name):
        return tracker.track_requests(service="google_places", operation=name)

    @tracked("offline")
    def offline():  # .invalid never resolves (RFC 2606): the request never leaves the machine
        urllib.request.urlopen("http://maps.example.invalid/place", timeout=5)

    @tracked("denied")
    def denied():
        raise urllib.error.HTTPError("https://maps.example/place", 403, "Forbidden", {}, io.BytesIO(b""))

    class ProviderError(Exception):
        pass

    @tracked("wrapped")
    def wrapped():
        try:
            raise urllib.error.HTTPError("https://maps.example/place", 500, "Server Error", {}, io.BytesIO(b""))
        except urllib.error.HTTPError as exc:
            raise ProviderError("lookup failed") from exc

    @tracked("timeout")
    def timeout():
        raise TimeoutError("timed out")

    @tracked("before")
    def before():
        raise KeyError("GOOGLE_MAPS_API_KEY")

    for call, raised in ((offline, urllib.error.URLError), (denied, urllib.error.HTTPError),
                         (wrapped, ProviderError), (timeout, TimeoutError), (before, KeyError)):
        with pytest.raises(raised):
            call()
    events = {e["operation"]: e for e in recorded(tracker, ingest)}
    free = {name for name, e in events.items() if e.get("cost_usd") == 0 and e.get("credits") == 0}
    assert free == {"offline", "timeout", "before"}
    assert {name: "cost_usd" in e for name, e in events.items()} == {
        "offline": True, "denied": False, "wrapped": False, "timeout": True, "before": True}
    assert all(e["status"] == "error" and e["requests"] == 1 for e in events.values())
    assert events["denied"]["error"].startswith("HTTPError: HTTP Error 403")


def test_strict_decorator_raises_usage_missing(ingest, make_tracker):
    from aiusage.sdk import UsageMissingError

    tracker = make_tracker(strict=True)

    @tracker.track(service="openai", model="gpt-4o")
    def no_usage():
        return {"id": "x"}

    with pytest.raises(UsageMissingError) as raised:
        no_usage()
    assert raised.value.response == {"id": "x"}
    assert tracker.flush(5) and ingest.requests == []


def test_a_broken_sink_never_breaks_the_callers_call(providers, make_tracker, tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    tracker = make_tracker(file_path=blocker / "usage.jsonl")  # appending will fail
    client = tracker.wrap(openai.OpenAI(api_key="sk-test", base_url=f"{providers.url}/v1", max_retries=0))

    completion = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])

    assert completion.usage.total_tokens == 1163
    assert "could not append" in caplog.text
