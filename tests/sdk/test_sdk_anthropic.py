"""The Anthropic SDK, wrapped, against a fake Messages API: what reaches the ingest."""

from __future__ import annotations

import anthropic
import pytest

from tests.sdk.fake_ingest import split_dynamic
from tests.sdk.fake_providers import ANTHROPIC_MESSAGE

MESSAGES = [{"role": "user", "content": "Review this"}]
EXPECTED = {
    "service": "anthropic",
    "model": "claude-sonnet-4-5-20250929",
    "operation": "completion",
    # input_tokens excludes the cache tokens; the server adds them up (SPEC 4.2), not the SDK.
    "usage": ANTHROPIC_MESSAGE["usage"],
    "status": "ok",
}


def anthropic_client(providers, cls=anthropic.Anthropic):
    return cls(api_key="sk-ant-test", base_url=providers.url, max_retries=0)


def recorded(tracker, ingest):
    assert tracker.flush(5)
    return [split_dynamic(e) for e in ingest.events]


def test_messages_create_records_the_usage_object(providers, ingest, tracker):
    client = tracker.wrap(anthropic_client(providers))

    with tracker.context(user_id="u-42", github={"repository": "acme/api", "pr_number": 7}):
        message = client.messages.create(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES)

    assert message.content[0].text == "Done."
    assert recorded(tracker, ingest) == [
        {**EXPECTED, "user_id": "u-42", "github": {"repository": "acme/api", "pr_number": 7}}
    ]


def test_streamed_create_combines_message_start_and_message_delta(providers, ingest, tracker):
    client = tracker.wrap(anthropic_client(providers))

    events = list(client.messages.create(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES, stream=True))

    assert [e.type for e in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]
    assert events[0].message.usage.output_tokens == 1  # provisional count, replaced by message_delta
    assert recorded(tracker, ingest) == [EXPECTED]


def test_messages_stream_helper_records_the_final_usage(providers, ingest, tracker):
    client = tracker.wrap(anthropic_client(providers))

    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "Done."
    assert final.usage.output_tokens == 393
    assert recorded(tracker, ingest) == [EXPECTED]


def test_error_is_recorded_and_reraised(providers, ingest, tracker):
    client = tracker.wrap(anthropic_client(providers))

    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="bad-model", max_tokens=10, messages=MESSAGES)

    [event] = recorded(tracker, ingest)
    assert event.pop("error").startswith("BadRequestError: Error code: 400")
    assert event == {"service": "anthropic", "model": "bad-model", "operation": "completion",
                     "status": "error", "input_tokens": 0, "output_tokens": 0}


async def test_async_client_create_stream_and_stream_helper(providers, ingest, tracker):
    client = tracker.wrap(anthropic_client(providers, anthropic.AsyncAnthropic))

    message = await client.messages.create(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES)
    stream = await client.messages.create(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES, stream=True)
    kinds = [event.type async for event in stream]
    async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES) as helper:
        final = await helper.get_final_message()

    assert message.usage.output_tokens == 393 and final.usage.output_tokens == 393
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert recorded(tracker, ingest) == [EXPECTED, EXPECTED, EXPECTED]


def test_parse_and_with_options_clients_are_recorded(providers, ingest, tracker):
    client = tracker.wrap(anthropic_client(providers))

    parsed = client.messages.parse(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES)
    client.with_options(timeout=5).messages.create(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES)

    assert parsed.content[0].text == "Done."
    assert recorded(tracker, ingest) == [EXPECTED, EXPECTED]
