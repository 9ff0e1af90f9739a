"""Measuring provider calls: method patching, call timing, stream pass-through.

Provider modules describe *what* to read from a request and a response; this
module owns *how* a call is wrapped so that, for every provider alike:
- the caller gets the provider's own return value (or a stream proxy that
  yields the provider's own chunks) and the provider's own exceptions;
- a failure inside the SDK is logged, never raised into the caller's code
  (the only deliberate exception is ``UsageMissingError`` in strict mode).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .context import current_context
from .errors import UsageMissingError
from .events import USAGE_MISSING, error_text

log = logging.getLogger("aiusage.sdk")

WRAPPED_MARK = "__aiusage_wrapped__"

Extract = Callable[[Any], tuple[dict[str, Any] | None, str | None]]


class Recorder(Protocol):
    """What a measurement needs from the tracker."""

    strict: bool

    def _emit(self, fields: dict[str, Any], context: Mapping[str, Any]) -> str | None: ...


class StreamObserver(Protocol):
    def see(self, item: Any) -> bool:
        """Look at one chunk; return False to hide it from the caller."""

    def result(self) -> tuple[dict[str, Any] | None, str | None]:
        """The usage object and model seen so far."""


def plain_dict(obj: Any) -> dict[str, Any] | None:
    """A provider usage object as a plain JSON dict, keys as the API sent them."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "to_dict") and type(obj).__module__.startswith(("openai", "anthropic")):
        # Stainless models: only the fields the API actually sent, API spelling.
        return obj.to_dict(mode="json")
    if hasattr(obj, "to_json_dict"):  # google-genai models
        return obj.to_json_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json", exclude_none=True)
    return None


class Measurement:
    """Timing and outcome of one provider call; records exactly one event."""

    def __init__(self, recorder: Recorder, service: str, operation: str, request_model: str | None) -> None:
        self._recorder = recorder
        self.service = service
        self.operation = operation
        self.request_model = request_model
        # Context is taken when the call starts: a stream may be consumed later,
        # outside the ``with tracker.context(...)`` block that made the call.
        self._context = current_context()
        self._started = time.monotonic()
        self._done = False

    def _latency_ms(self) -> int:
        return max(0, round((time.monotonic() - self._started) * 1000))

    def emit(self, fields: dict[str, Any], model: str | None = None) -> None:
        """Record this call once: service, model, operation, latency, plus ``fields``."""
        if self._done:
            return
        self._done = True
        event: dict[str, Any] = {"service": self.service}
        if model or self.request_model:
            event["model"] = model or self.request_model
        event["operation"] = self.operation
        event["latency_ms"] = self._latency_ms()
        event.update(fields)
        self._recorder._emit(event, self._context)

    def succeeded(
        self, usage: dict[str, Any] | None, model: str | None, *, response: Any = None, may_raise: bool = True
    ) -> None:
        if self._done:
            return
        # Token-priced events need a model; "unknown" is visible rather than a 400.
        model = model or self.request_model or "unknown"
        if usage:
            self.emit({"usage": usage, "status": "ok"}, model)
        elif self._recorder.strict and may_raise:
            self._done = True
            raise UsageMissingError(self.service, model, response)
        else:
            self.emit({"status": "error", "error": USAGE_MISSING, "input_tokens": 0, "output_tokens": 0}, model)

    def failed(self, exc: BaseException) -> None:
        fields = {"status": "error", "error": error_text(exc), "input_tokens": 0, "output_tokens": 0}
        self.emit(fields, self.request_model or "unknown")


def guarded(what: str, fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """Run SDK-side code so that its bugs are logged instead of raised."""
    try:
        return fn(*args)
    except UsageMissingError:
        raise
    except Exception:
        log.exception("aiusage: %s failed; the provider call itself is unaffected", what)
        return default


class _StreamTap:
    """What the sync and async stream proxies share: look, record once, delegate."""

    def __init__(self, stream: Any, measurement: Measurement, observer: StreamObserver) -> None:
        self._stream = stream
        self._measurement = measurement
        self._observer = observer
        self._iterator: Any = None

    def __getattr__(self, name: str) -> Any:
        # Anything else (``response``, ``request_id``, helpers) is the provider's own.
        return getattr(self._stream, name)

    def _shows(self, item: Any) -> bool:
        return guarded("reading a stream chunk", self._observer.see, item, default=True) is not False

    def _failed(self, exc: Exception) -> None:
        guarded("recording a failed stream", self._measurement.failed, exc)

    def _finish(self, *, may_raise: bool) -> None:
        usage, model = guarded("reading stream usage", self._observer.result, default=(None, None))
        guarded("recording a stream", lambda: self._measurement.succeeded(usage, model, may_raise=may_raise))


class ObservedStream(_StreamTap):
    """Passes a provider's sync stream through, recording usage at its end."""

    def __iter__(self) -> ObservedStream:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._stream)
        while True:
            try:
                item = next(self._iterator)
            except StopIteration:
                self._finish(may_raise=True)
                raise
            except Exception as exc:
                self._failed(exc)
                raise
            if self._shows(item):
                return item

    def __enter__(self) -> ObservedStream:
        enter = getattr(self._stream, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        exit_ = getattr(self._stream, "__exit__", None)
        result = exit_(exc_type, exc, tb) if exit_ is not None else None
        self._finish(may_raise=exc_type is None)
        return result

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
        self._finish(may_raise=False)


class AsyncObservedStream(_StreamTap):
    """Passes a provider's async stream through, recording usage at its end."""

    def __aiter__(self) -> AsyncObservedStream:
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._stream.__aiter__()
        while True:
            try:
                item = await self._iterator.__anext__()
            except StopAsyncIteration:
                self._finish(may_raise=True)
                raise
            except Exception as exc:
                self._failed(exc)
                raise
            if self._shows(item):
                return item

    async def __aenter__(self) -> AsyncObservedStream:
        enter = getattr(self._stream, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        exit_ = getattr(self._stream, "__aexit__", None)
        result = await exit_(exc_type, exc, tb) if exit_ is not None else None
        self._finish(may_raise=exc_type is None)
        return result

    async def close(self) -> None:
        close = getattr(self._stream, "close", None) or getattr(self._stream, "aclose", None)
        if close is not None:
            outcome = close()
            if hasattr(outcome, "__await__"):
                await outcome
        self._finish(may_raise=False)

    async def aclose(self) -> None:
        await self.close()


def patch_method(owner: Any, name: str, make_wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Replace ``owner.name`` on this instance only; idempotent."""
    original = getattr(owner, name, None)
    if original is None or getattr(original, WRAPPED_MARK, False):
        return False
    wrapper = make_wrapper(original)
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, WRAPPED_MARK, True)
    setattr(owner, name, wrapper)
    return True


def instrument_copies(client: Any, instrument: Callable[[Any], None]) -> None:
    """Make ``client.copy()``/``client.with_options()`` return instrumented clients too.

    Stainless clients (OpenAI, Anthropic) build a fresh client there, whose
    resources would otherwise bypass the wrapper.
    """

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def copied(*args: Any, **kwargs: Any) -> Any:
            clone = original(*args, **kwargs)
            guarded("instrumenting a client copy", instrument, clone)
            return clone

        return copied

    for name in ("copy", "with_options"):
        patch_method(client, name, make)


def instrument_call(
    owner: Any,
    name: str,
    *,
    recorder: Recorder,
    service: str,
    operation: str,
    is_async: bool,
    request_model: Callable[[dict[str, Any]], str | None],
    extract: Extract,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    observe_stream: Callable[[dict[str, Any], dict[str, Any]], StreamObserver | None] | None = None,
    attach_stream: Callable[[Any, Callable[[Any], Any]], Any] | None = None,
) -> bool:
    """Instrument ``owner.name`` (a provider method taking keyword arguments).

    ``prepare`` may adjust the request (e.g. ask for stream usage);
    ``observe_stream(caller_kwargs, sent_kwargs)`` returns an observer when the
    call streams; ``attach_stream(result, proxy)`` puts the proxy where the
    stream lives in the result (default: the result is the stream).
    """
    attach = attach_stream or (lambda result, proxy: proxy(result))

    def begin(kwargs: dict[str, Any]) -> tuple[dict[str, Any], StreamObserver | None, Measurement | None]:
        sent = guarded("preparing the request", prepare, kwargs, default=kwargs) if prepare else kwargs
        observer = guarded("inspecting the request", observe_stream, kwargs, sent) if observe_stream else None
        model = guarded("reading the request model", request_model, sent)
        measurement = guarded("starting a measurement", Measurement, recorder, service, operation, model)
        return sent, observer, measurement

    def end(result: Any, observer: StreamObserver | None, measurement: Measurement | None, proxy_cls: type) -> Any:
        if measurement is None:
            return result
        if observer is not None:
            wrapped = guarded("wrapping the stream", attach, result, lambda s: proxy_cls(s, measurement, observer))
            return result if wrapped is None else wrapped
        usage, model = guarded("reading usage", extract, result, default=(None, None))
        guarded("recording usage", lambda: measurement.succeeded(usage, model, response=result))
        return result

    if is_async:

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            async def tracked(*args: Any, **kwargs: Any) -> Any:
                sent, observer, measurement = begin(kwargs)
                try:
                    result = await original(*args, **sent)
                except Exception as exc:
                    if measurement is not None:
                        guarded("recording a failed call", measurement.failed, exc)
                    raise
                return end(result, observer, measurement, AsyncObservedStream)

            return tracked

    else:

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def tracked(*args: Any, **kwargs: Any) -> Any:
                sent, observer, measurement = begin(kwargs)
                try:
                    result = original(*args, **sent)
                except Exception as exc:
                    if measurement is not None:
                        guarded("recording a failed call", measurement.failed, exc)
                    raise
                return end(result, observer, measurement, ObservedStream)

            return tracked

    return patch_method(owner, name, make)
