"""Anthropic: ``messages.create`` (plain and ``stream=True``) and ``messages.stream``.

Never imports ``anthropic``; clients and responses are recognised by their
class module.

The tier that served a call is in the usage object (``usage.service_tier``):
``batch`` (and ``flex``, should it appear) is billed at half price (SPEC 4.3)
and becomes the event's ``service_tier``; ``standard`` and ``priority`` send
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..instrumentation import (
    Measurement,
    Recorder,
    guarded,
    instrument_call,
    instrument_copies,
    patch_method,
    plain_dict,
)

_CLIENT_CLASSES = {"Anthropic", "AsyncAnthropic"}
# Tiers the server bills at half price (SPEC 4.3).
_RECORDED_TIERS = frozenset({"batch", "flex"})


def _client_class(client: Any) -> str | None:
    for cls in type(client).__mro__:
        if cls.__module__.split(".")[0] == "anthropic" and cls.__name__ in _CLIENT_CLASSES:
            return cls.__name__
    return None


def is_client(client: Any) -> bool:
    return _client_class(client) is not None


def owns_response(response: Any) -> bool:
    return type(response).__module__.startswith("anthropic.")


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def extract(response: Any) -> tuple[dict[str, Any] | None, str | None]:
    return plain_dict(_field(response, "usage")), _field(response, "model")


class _TierRecorder:
    """The tracker as seen by instrumented calls: adds ``service_tier`` from ``usage.service_tier``."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    @classmethod
    def around(cls, recorder: Recorder) -> Recorder:
        return recorder if isinstance(recorder, cls) else cls(recorder)

    @property
    def strict(self) -> bool:
        return self._recorder.strict

    def _emit(self, fields: dict[str, Any], context: Mapping[str, Any]) -> str | None:
        usage = fields.get("usage")
        tier = usage.get("service_tier") if isinstance(usage, Mapping) else None
        if tier in _RECORDED_TIERS and "service_tier" not in fields:
            fields = {**fields, "service_tier": tier}
        return self._recorder._emit(fields, context)


def _request_model(kwargs: dict[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) else None


class _EventStream:
    """Usage of a raw event stream, the way the Anthropic SDK accumulates it.

    ``message_start`` carries the input side (and a provisional output count);
    ``message_delta`` carries cumulative counts that *replace* earlier values,
    and leaves out the ones that did not change. No arithmetic happens here.
    """

    def __init__(self) -> None:
        self._usage: dict[str, Any] | None = None
        self._model: str | None = None

    def see(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = getattr(event, "message", None)
            self._model = getattr(message, "model", None) or self._model
            self._usage = plain_dict(getattr(message, "usage", None)) or {}
        elif kind == "message_delta":
            delta = plain_dict(getattr(event, "usage", None)) or {}
            self._usage = {**(self._usage or {}), **{k: v for k, v in delta.items() if v is not None}}
        return True

    def result(self) -> tuple[dict[str, Any] | None, str | None]:
        return self._usage, self._model


def _stream_observer(caller: dict[str, Any], sent: dict[str, Any]) -> _EventStream | None:
    return _EventStream() if sent.get("stream") is True else None


def _snapshot_usage(stream: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        snapshot = stream.current_message_snapshot
    except AssertionError:  # nothing was read from the stream: no usage yet
        return None, None
    return plain_dict(getattr(snapshot, "usage", None)), getattr(snapshot, "model", None)


class _StreamManager:
    """Wraps ``messages.stream(...)``: the request starts on enter, usage is read on exit.

    The SDK's own ``MessageStream`` accumulates the message (usage included)
    while the caller reads it, so its snapshot at exit is what was used.
    """

    def __init__(self, manager: Any, recorder: Recorder, request_model: str | None) -> None:
        self._manager = manager
        self._recorder = recorder
        self._request_model = request_model
        self._measurement: Measurement | None = None
        self._stream: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    def _start(self) -> None:
        self._measurement = guarded(
            "starting a measurement", Measurement, self._recorder, "anthropic", "completion", self._request_model
        )

    def _failed(self, exc: Exception) -> None:
        if self._measurement is not None:
            guarded("recording a failed call", self._measurement.failed, exc)

    def _finish(self, exc: BaseException | None) -> None:
        if self._measurement is None or self._stream is None:
            return
        usage, model = guarded("reading stream usage", _snapshot_usage, self._stream, default=(None, None))
        measurement = self._measurement
        if not usage and isinstance(exc, Exception):
            # Failed before any usage arrived (connection lost, API error event).
            guarded("recording a failed call", measurement.failed, exc)
            return
        guarded("recording a stream", lambda: measurement.succeeded(usage, model, may_raise=exc is None))

    def __enter__(self) -> Any:
        self._start()
        try:
            self._stream = self._manager.__enter__()
        except Exception as exc:
            self._failed(exc)
            raise
        return self._stream

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        result = self._manager.__exit__(exc_type, exc, tb)
        self._finish(exc)
        return result

    async def __aenter__(self) -> Any:
        self._start()
        try:
            self._stream = await self._manager.__aenter__()
        except Exception as exc:
            self._failed(exc)
            raise
        return self._stream

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        result = await self._manager.__aexit__(exc_type, exc, tb)
        self._finish(exc)
        return result


def instrument(client: Any, recorder: Recorder) -> None:
    recorder = _TierRecorder.around(recorder)
    is_async = (_client_class(client) or "").startswith("Async")
    messages = client.messages
    common = dict(recorder=recorder, service="anthropic", operation="completion", is_async=is_async,
                  request_model=_request_model, extract=extract)
    instrument_call(messages, "create", observe_stream=_stream_observer, **common)
    instrument_call(messages, "parse", **common)  # posts directly, not through create()

    def make_stream(original: Any) -> Any:
        def stream(*args: Any, **kwargs: Any) -> Any:
            return _StreamManager(original(*args, **kwargs), recorder, _request_model(kwargs))

        return stream

    patch_method(messages, "stream", make_stream)
    instrument_copies(client, lambda clone: instrument(clone, recorder))
