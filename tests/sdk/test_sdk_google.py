"""google-genai, wrapped, against a fake Gemini API: what reaches the ingest."""

from __future__ import annotations

import re

import pytest
from google import genai
from google.genai import types

from tests.sdk.fake_ingest import split_dynamic
from tests.sdk.fake_providers import GEMINI, GEMINI_EMBED_USAGE


def snake(value):
    """Gemini REST camelCase → the SDK's snake_case, recursively (keys only)."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


# The usage object sent is usage_metadata exactly as the SDK parsed it.
EXPECTED = {
    "service": "google",
    "model": "gemini-2.5-pro",
    "operation": "completion",
    "usage": snake(GEMINI["usageMetadata"]),
    "status": "ok",
}


@pytest.fixture
def client(providers, tracker):
    return tracker.wrap(
        genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=providers.url, api_version="v1beta"))
    )


def recorded(tracker, ingest):
    assert tracker.flush(5)
    return [split_dynamic(e) for e in ingest.events]


def test_expected_usage_is_the_full_fixture():
    assert EXPECTED["usage"]["thoughts_token_count"] == 412
    assert EXPECTED["usage"]["prompt_tokens_details"] == [{"modality": "TEXT", "token_count": 1250}]


def test_generate_content_records_usage_metadata(client, providers, ingest, tracker):
    with tracker.context(job_id="nightly"):
        response = client.models.generate_content(model="models/gemini-2.5-pro", contents="hello")

    assert response.text == "Hello!"
    assert providers.requests[-1].path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert recorded(tracker, ingest) == [{**EXPECTED, "job_id": "nightly"}]


def test_generate_content_stream_takes_the_last_chunks_usage(client, ingest, tracker):
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-pro", contents="hello"))

    assert "".join(c.text for c in chunks) == "Hello!"
    assert chunks[0].usage_metadata.candidates_token_count is None  # partial usage on the first chunk
    assert recorded(tracker, ingest) == [EXPECTED]


def test_chats_go_through_the_wrapped_models(client, ingest, tracker):
    chat = client.chats.create(model="gemini-2.5-pro")
    chat.send_message("hello")
    assert recorded(tracker, ingest) == [EXPECTED]


def test_embed_content_records_an_embedding(client, ingest, tracker):
    result = client.models.embed_content(model="gemini-embedding-001", contents=["a", "b"])

    assert len(result.embeddings) == 2
    assert recorded(tracker, ingest) == [{
        "service": "google", "model": "gemini-embedding-001", "operation": "embedding",
        "usage": snake(GEMINI_EMBED_USAGE), "status": "ok",
    }]


def test_response_without_usage_metadata_is_usage_missing(client, ingest, tracker):
    client.models.generate_content(model="no-usage", contents="hello")
    [event] = recorded(tracker, ingest)
    assert event == {"service": "google", "model": "gemini-2.5-pro", "operation": "completion",
                     "status": "error", "error": "usage_missing", "input_tokens": 0, "output_tokens": 0}


async def test_async_models_plain_and_streamed(client, ingest, tracker):
    response = await client.aio.models.generate_content(model="gemini-2.5-pro", contents="hello")
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-pro", contents="hello")
    texts = [chunk.text async for chunk in stream]

    assert response.text == "Hello!" and texts == ["Hel", "lo!"]
    assert recorded(tracker, ingest) == [EXPECTED, EXPECTED]
