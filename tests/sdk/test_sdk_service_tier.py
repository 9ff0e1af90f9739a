"""The tier that served a call becomes the event's ``service_tier`` when it changes the bill.

OpenAI reports it on the response (``service_tier``), Anthropic in the usage
object (``usage.service_tier``). ``flex`` and ``batch`` are billed at half
price (SPEC 4.1, 4.3), OpenAI ``priority`` is kept for the record; the
ordinary tiers send nothing. The usage object itself is sent unchanged.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.sdk.fake_ingest import split_dynamic
from tests.sdk.fake_providers import ANTHROPIC_MESSAGE, OPENAI_CHAT, OPENAI_RESPONSES

MESSAGES = [{"role": "user", "content": "Say hello"}]
CHAT = {"service": "openai", "model": "gpt-4o-2024-08-06", "operation": "completion",
        "usage": OPENAI_CHAT["usage"], "status": "ok"}


def openai_client(providers, cls=openai.OpenAI):
    return cls(api_key="sk-test", base_url=f"{providers.url}/v1", max_retries=0)


def anthropic_client(providers, cls=anthropic.Anthropic):
    return cls(api_key="sk-ant-test", base_url=providers.url, max_retries=0)


def recorded(tracker, ingest):
    assert tracker.flush(5)
    return [split_dynamic(e) for e in ingest.events]


@pytest.mark.parametrize(("requested", "sent"), [
    ("flex", {"service_tier": "flex"}),
    ("priority", {"service_tier": "priority"}),
    ("default", {}),
    ("auto", {}),  # the fake, like the API, answers "default"
    (None, {}),
])
def test_openai_chat_tier_from_the_response(providers, ingest, tracker, requested, sent):
    client = tracker.wrap(openai_client(providers))
    extra = {"service_tier": requested} if requested else {}

    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **extra)

    assert completion.service_tier == (requested if requested in ("flex", "priority") else "default")
    assert recorded(tracker, ingest) == [{**CHAT, **sent}]


def test_openai_streams_and_responses_api_carry_flex(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers))

    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, service_tier="flex"))
    client.responses.create(model="o3", input="hi", service_tier="flex")
    list(client.responses.create(model="o3", input="hi", stream=True, service_tier="flex"))
    client.responses.create(model="o3", input="hi")  # no tier on the response: nothing sent

    assert "".join(c.choices[0].delta.content for c in chunks) == "Hello!"
    responses = {**CHAT, "model": "o3-2025-04-16", "usage": OPENAI_RESPONSES["usage"]}
    assert recorded(tracker, ingest) == [
        {**CHAT, "service_tier": "flex"},
        {**responses, "service_tier": "flex"},
        {**responses, "service_tier": "flex"},
        responses,
    ]


async def test_openai_async_client_and_client_copies_carry_the_tier(providers, ingest, tracker):
    client = tracker.wrap(openai_client(providers, openai.AsyncOpenAI))

    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, service_tier="flex")
    await client.with_options(timeout=5).chat.completions.create(model="gpt-4o", messages=MESSAGES, service_tier="flex")
    stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, service_tier="flex")
    [chunk async for chunk in stream]

    assert recorded(tracker, ingest) == [{**CHAT, "service_tier": "flex"}] * 3


def test_openai_tier_does_not_leak_into_the_usage_object_or_the_spool(providers, idle_ingest, make_tracker, spool_path):
    tracker = make_tracker(api_url=idle_ingest.url, max_retries=0)  # refuses connections: the event is spooled
    client = tracker.wrap(openai_client(providers))

    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, service_tier="flex")
    tracker.close(5)

    [line] = spool_path.read_text().splitlines()
    spooled = json.loads(line)
    assert spooled["service_tier"] == "flex"
    assert spooled["usage"] == OPENAI_CHAT["usage"]  # the provider's own object, no extra key


@pytest.mark.parametrize("how", ["create", "create_stream", "stream_helper"])
def test_anthropic_batch_tier_from_the_usage_object(providers, ingest, tracker, how):
    client = tracker.wrap(anthropic_client(providers))
    args = dict(model="batch-tier", max_tokens=512, messages=MESSAGES)

    if how == "create":
        message = client.messages.create(**args)
        assert message.usage.service_tier == "batch"
    elif how == "create_stream":
        list(client.messages.create(**args, stream=True))
    else:
        with client.messages.stream(**args) as stream:
            assert stream.get_final_message().usage.service_tier == "batch"

    usage = {**ANTHROPIC_MESSAGE["usage"], "service_tier": "batch"}
    assert recorded(tracker, ingest) == [{
        "service": "anthropic", "model": "claude-sonnet-4-5-20250929", "operation": "completion",
        "usage": usage, "status": "ok", "service_tier": "batch",
    }]


async def test_anthropic_standard_tier_sends_nothing_async_too(providers, ingest, tracker):
    client = tracker.wrap(anthropic_client(providers, anthropic.AsyncAnthropic))

    message = await client.messages.create(model="claude-sonnet-4-6", max_tokens=512, messages=MESSAGES)
    batch = await client.messages.create(model="batch-tier", max_tokens=512, messages=MESSAGES)

    assert (message.usage.service_tier, batch.usage.service_tier) == ("standard", "batch")
    assert [e.get("service_tier") for e in recorded(tracker, ingest)] == [None, "batch"]
