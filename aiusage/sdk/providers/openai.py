"""OpenAI (and Azure OpenAI): chat completions, responses, embeddings.

Never imports ``openai``: clients and responses are recognised by their class
module, so the SDK works without the extra installed.

The tier that served a call is on the response (``service_tier``), not in its
usage object: ``flex`` and ``batch`` are billed at half price (SPEC 4.3), and
``priority`` is kept for the record, so those three become the event's
``service_tier``; ``default``, ``auto`` and the rest send nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..instrumentation import Recorder, instrument_call, instrument_copies, plain_dict

_CLIENT_CLASSES = {"OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI"}
# Tiers the server prices differently (batch/flex: 50 %) or that are worth keeping (priority).
_RECORDED_TIERS = frozenset({"flex", "batch", "priority"})


def _client_class(client: Any) -> str | None:
    for cls in type(client).__mro__:
        if cls.__module__.split(".")[0] == "openai" and cls.__name__ in _CLIENT_CLASSES:
            return cls.__name__
    return None


def is_client(client: Any) -> bool:
    return _client_class(client) is not None


def owns_response(response: Any) -> bool:
    return type(response).__module__.startswith("openai.")


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


class _TieredUsage(dict):  # type: ignore[type-arg]
    """The usage object exactly as the API sent it, carrying the tier that served the call.

    The tier rides along as an attribute, not a key, so the usage sent stays
    the provider's own; ``_TierRecorder`` lifts it into the event.
    """

    service_tier: str | None = None


def _with_tier(usage: dict[str, Any] | None, tier: Any) -> dict[str, Any] | None:
    if not usage or tier not in _RECORDED_TIERS:
        return usage
    tagged = _TieredUsage(usage)
    tagged.service_tier = tier
    return tagged


class _TierRecorder:
    """The tracker as seen by instrumented calls: adds ``service_tier`` from the usage it carries."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    @classmethod
    def around(cls, recorder: Recorder) -> Recorder:
        return recorder if isinstance(recorder, cls) else cls(recorder)

    @property
    def strict(self) -> bool:
        return self._recorder.strict

    def _emit(self, fields: dict[str, Any], context: Mapping[str, Any]) -> str | None:
        tier = getattr(fields.get("usage"), "service_tier", None)
        if tier and "service_tier" not in fields:
            fields = {**fields, "service_tier": tier}
        return self._recorder._emit(fields, context)


def extract(response: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Usage and model of a chat completion, response or embedding (object or JSON)."""
    usage = _with_tier(plain_dict(_field(response, "usage")), _field(response, "service_tier"))
    return usage, _field(response, "model")


def operation_of(response: Any) -> str:
    # Embedding responses are lists of embeddings; everything else generates text.
    return "embedding" if _field(response, "object") == "list" else "completion"


def _request_model(kwargs: dict[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) else None


def _streams(kwargs: dict[str, Any]) -> bool:
    return kwargs.get("stream") is True


def _ask_for_stream_usage(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Chat streams carry usage only when asked: add include_usage unless the caller chose."""
    if not _streams(kwargs):
        return kwargs
    options = kwargs.get("stream_options")
    if isinstance(options, Mapping) and "include_usage" in options:
        return kwargs
    merged = dict(options) if isinstance(options, Mapping) else {}
    merged["include_usage"] = True
    return {**kwargs, "stream_options": merged}


class _ChatStream:
    """Takes usage from the final chunk; hides that chunk if we asked for it.

    With ``include_usage`` the API adds one last chunk with an empty
    ``choices`` list. Code written without that option often reads
    ``chunk.choices[0]``, so when the SDK (not the caller) asked for it, that
    chunk is consumed here and the caller sees exactly the unwrapped stream.
    """

    def __init__(self, hide_usage_chunk: bool) -> None:
        self._hide = hide_usage_chunk
        self._usage: dict[str, Any] | None = None
        self._model: str | None = None
        self._tier: str | None = None

    def see(self, chunk: Any) -> bool:
        self._model = getattr(chunk, "model", None) or self._model
        self._tier = getattr(chunk, "service_tier", None) or self._tier
        usage = getattr(chunk, "usage", None)
        if usage is None:
            return True
        self._usage = plain_dict(usage)
        return not (self._hide and not getattr(chunk, "choices", None))

    def result(self) -> tuple[dict[str, Any] | None, str | None]:
        return _with_tier(self._usage, self._tier), self._model


class _ResponsesStream:
    """Responses API streams end with ``response.completed`` (or ``.incomplete``/``.failed``)."""

    def __init__(self) -> None:
        self._usage: dict[str, Any] | None = None
        self._model: str | None = None
        self._tier: str | None = None

    def see(self, event: Any) -> bool:
        response = getattr(event, "response", None)
        if response is not None:
            self._model = getattr(response, "model", None) or self._model
            self._tier = getattr(response, "service_tier", None) or self._tier
            usage = getattr(response, "usage", None)
            if usage is not None:
                self._usage = plain_dict(usage)
        return True

    def result(self) -> tuple[dict[str, Any] | None, str | None]:
        return _with_tier(self._usage, self._tier), self._model


def _chat_observer(caller: dict[str, Any], sent: dict[str, Any]) -> _ChatStream | None:
    if not _streams(sent):
        return None
    return _ChatStream(hide_usage_chunk=sent.get("stream_options") is not caller.get("stream_options"))


def _responses_observer(caller: dict[str, Any], sent: dict[str, Any]) -> _ResponsesStream | None:
    return _ResponsesStream() if _streams(sent) else None


def instrument(client: Any, recorder: Recorder) -> None:
    recorder = _TierRecorder.around(recorder)
    name = _client_class(client) or ""
    service = "azure" if "Azure" in name else "openai"
    is_async = name.startswith("Async")
    common = dict(recorder=recorder, service=service, is_async=is_async, request_model=_request_model, extract=extract)
    # The SDK's own helpers .stream() (chat and responses) call .create(), so
    # they are covered; .parse() posts directly and is wrapped on its own.
    chat = client.chat.completions
    instrument_call(chat, "create", operation="completion",
                    prepare=_ask_for_stream_usage, observe_stream=_chat_observer, **common)
    instrument_call(chat, "parse", operation="completion", **common)
    instrument_call(client.responses, "create", operation="completion", observe_stream=_responses_observer, **common)
    instrument_call(client.responses, "parse", operation="completion", **common)
    instrument_call(client.embeddings, "create", operation="embedding", **common)
    instrument_copies(client, lambda clone: instrument(clone, recorder))
