"""The OpenAI SDK, wrapped, against a fake OpenAI server: what reaches the ingest."""

from __future__ import annotations

import openai
import pytest

from aiusage.sdk import UsageMissingError
from tests.sdk.fake_ingest import split_dynamic
from tests.sdk.fake_providers import OPENAI_CHAT, OPENAI_EMBEDDINGS, OPENAI_RESPONSES

MESSAGES = [{"role": "user", "content": "Say hello"}]


def openai_client(providers, cls=openai.OpenAI):
    return cls(api_key="sk-test", base_url=f"{providers.url}/v1", max_retries=0)


def only_event(tracker, ingest):
    assert tracker.flush(5)
    events = ingest.events
    assert len(events) == 1, events
    return split_dynamic(events[0])


def test_chat_completion_records_the_usage_object_and_response_model(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    with tracker.context(job_id="job-7", project="search", tags={"team": "ml"}):
        completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert completion.choices[0].message.content == "Hello!"
    assert only_event(tracker, ingest) == {
        "service": "openai",
        "model": "gpt-4o-2024-08-06",  # the response's model, not the requested alias
        "operation": "completion",
        "usage": OPENAI_CHAT["usage"],
        "status": "ok",
        "job_id": "job-7",
        "project": "search",
        "tags": {"team": "ml"},
    }


def test_wrap_returns_the_same_client_and_is_idempotent(providers, ingest, tracker):
    client = openai_client(providers)
    assert tracker.wrap(client) is client
    assert tracker.wrap(client) is client  # a second wrap must not record twice
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert only_event(tracker, ingest)["usage"] == OPENAI_EMBEDDINGS["usage"]


def test_chat_stream_asks_for_usage_and_hides_the_usage_chunk_it_asked_for(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    with stream:
        chunks = list(stream)

    assert providers.requests[-1].body["stream_options"] == {"include_usage": True}
    # Exactly what an unwrapped stream without include_usage yields: every chunk has a choice.
    assert ["".join(c.choices[0].delta.content for c in chunks)] == ["Hello!"]
    assert all(type(c).__module__.startswith("openai.types") for c in chunks)
    assert only_event(tracker, ingest) == {
        "service": "openai", "model": "gpt-4o-2024-08-06", "operation": "completion",
        "usage": OPENAI_CHAT["usage"], "status": "ok",
    }


def test_chat_stream_passes_the_usage_chunk_through_when_the_caller_asked(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    chunks = list(client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))

    assert len(chunks) == 3
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 1117
    assert only_event(tracker, ingest)["usage"] == OPENAI_CHAT["usage"]


def test_chat_stream_keeps_other_stream_options_of_the_caller(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))
    caller_options = {"include_obfuscation": False}

    list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options=caller_options))

    assert providers.requests[-1].body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert caller_options == {"include_obfuscation": False}  # the caller's dict is not modified
    assert only_event(tracker, ingest)["status"] == "ok"


def test_responses_api_plain_and_streamed(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    response = client.responses.create(model="o3", input="hi")
    events = list(client.responses.create(model="o3", input="hi", stream=True))

    assert response.output_text == "Hi"
    assert [e.type for e in events][::3] == [
        "response.created",
        "response.output_text.delta",
        "response.output_item.done",
    ]
    assert events[-1].type == "response.completed" and len(events) == 8
    assert tracker.flush(5)
    expected = {"service": "openai", "model": "o3-2025-04-16", "operation": "completion",
                "usage": OPENAI_RESPONSES["usage"], "status": "ok"}
    assert [split_dynamic(e) for e in ingest.events] == [expected, expected]


def test_embeddings_are_recorded_as_embedding_operation(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    result = client.embeddings.create(model="text-embedding-3-small", input="hello")

    assert len(result.data[0].embedding) == 2
    assert only_event(tracker, ingest) == {
        "service": "openai", "model": "text-embedding-3-small", "operation": "embedding",
        "usage": {"prompt_tokens": 8, "total_tokens": 8}, "status": "ok",
    }


def test_provider_error_is_recorded_and_reraised_unchanged(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="bad-model", messages=MESSAGES)

    assert raised.value.status_code == 404
    event = only_event(tracker, ingest)
    assert event.pop("error").startswith("NotFoundError: Error code: 404")
    assert event == {"service": "openai", "model": "bad-model", "operation": "completion",
                     "status": "error", "input_tokens": 0, "output_tokens": 0}


def test_connection_error_is_recorded_with_the_request_model(ingest, tracker, idle_ingest):
    client = tracker.wrap(openai.OpenAI(api_key="sk-test", base_url=f"{idle_ingest.url}/v1", max_retries=0))

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    event = only_event(tracker, ingest)
    assert event["error"] == "APIConnectionError: Connection error."
    assert (event["model"], event["status"], event["input_tokens"], event["output_tokens"]) == (
        "gpt-4o-mini",
        "error",
        0,
        0,
    )


def test_response_without_usage_is_recorded_as_usage_missing(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    completion = client.chat.completions.create(model="no-usage", messages=MESSAGES)

    assert completion.usage is None
    assert only_event(tracker, ingest) == {
        "service": "openai", "model": "no-usage", "operation": "completion",
        "status": "error", "error": "usage_missing", "input_tokens": 0, "output_tokens": 0,
    }


def test_strict_tracker_raises_usage_missing_instead_of_recording(providers, ingest, make_tracker):
    tracker = make_tracker(strict=True)
    client = tracker.wrap(openai_client(providers))

    with pytest.raises(UsageMissingError) as raised:
        client.chat.completions.create(model="no-usage", messages=MESSAGES)

    assert raised.value.response.choices[0].message.content == "Hello!"  # the provider call did return
    assert (raised.value.service, raised.value.model) == ("openai", "no-usage")
    assert tracker.flush(5) and ingest.events == []
    # With usage present, strict changes nothing.
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert only_event(tracker, ingest)["status"] == "ok"


def test_strict_stream_without_usage_raises_at_its_end(providers, ingest, make_tracker):
    tracker = make_tracker(strict=True)
    client = tracker.wrap(openai_client(providers))
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": False})

    seen = []
    with pytest.raises(UsageMissingError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)

    assert seen == ["Hel", "lo!"]
    assert tracker.flush(5) and ingest.events == []


async def test_async_client_plain_and_streamed(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers, openai.AsyncOpenAI))

    with tracker.context(batch_id="b-1"):
        completion = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        pieces = [chunk.choices[0].delta.content async for chunk in stream]

    assert completion.usage.total_tokens == 1163
    assert pieces == ["Hel", "lo!"]
    assert tracker.flush(5)
    expected = {"service": "openai", "model": "gpt-4o-2024-08-06", "operation": "completion",
                "usage": OPENAI_CHAT["usage"], "status": "ok", "batch_id": "b-1"}
    assert [split_dynamic(e) for e in ingest.events] == [expected, expected]


async def test_async_error_is_recorded_and_reraised(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers, openai.AsyncOpenAI))

    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="bad-model", messages=MESSAGES)

    event = only_event(tracker, ingest)
    assert (event["status"], event["model"], event["input_tokens"]) == ("error", "bad-model", 0)



def test_sdk_stream_helpers_and_parse_are_recorded(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
    with client.responses.stream(model="o3", input="hi") as response_stream:
        final = response_stream.get_final_response()
    parsed = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES)

    assert deltas == ["Hel", "lo!"]
    assert final.usage.output_tokens == 87
    assert parsed.choices[0].message.content == "Hello!"
    assert tracker.flush(5)
    chat = {"service": "openai", "model": "gpt-4o-2024-08-06", "operation": "completion",
            "usage": OPENAI_CHAT["usage"], "status": "ok"}
    responses = {**chat, "model": "o3-2025-04-16", "usage": OPENAI_RESPONSES["usage"]}
    assert [split_dynamic(e) for e in ingest.events] == [chat, responses, chat]


def test_clients_derived_with_with_options_are_instrumented_too(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    client.with_options(timeout=5).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    client.copy(max_retries=1).embeddings.create(model="text-embedding-3-small", input="x")

    assert tracker.flush(5)
    assert [(e["operation"], e["status"]) for e in ingest.events] == [("completion", "ok"), ("embedding", "ok")]
