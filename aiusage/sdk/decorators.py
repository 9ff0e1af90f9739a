"""``@tracker.track`` and ``@tracker.track_requests`` for sync and async functions.

``track`` is for functions that return a provider response (object or JSON):
usage is read from the response by its shape, as the client wrappers do.
``track_requests`` is for APIs priced per request (e.g. Google Places): it
records ``requests`` and no tokens. A call that raised is recorded with
``status: error``; it is charged (priced per request by the server) only when
the provider answered it, that is when the exception carries an HTTP status.
A call that never got an answer (DNS failure, refused connection, timeout, or
an error in the function before it called out) costs nothing: ``cost_usd`` 0.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from . import providers
from .events import error_text
from .instrumentation import Measurement, Recorder, guarded

F = TypeVar("F", bound=Callable[..., Any])


def _instrument(fn: F, start: Callable[[], Measurement], finish: Callable[[Measurement, Any], None]) -> F:
    """Time each call of ``fn``; on success ``finish`` records, on error ``failed`` does."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_tracked(*args: Any, **kwargs: Any) -> Any:
            call = guarded("starting a measurement", start)
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                if call is not None:
                    guarded("recording a failed call", call.failed, exc)
                raise
            if call is not None:
                guarded("recording usage", finish, call, result)
            return result

        return async_tracked  # type: ignore[return-value]

    @functools.wraps(fn)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        call = guarded("starting a measurement", start)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            if call is not None:
                guarded("recording a failed call", call.failed, exc)
            raise
        if call is not None:
            guarded("recording usage", finish, call, result)
        return result

    return tracked  # type: ignore[return-value]


def track(recorder: Recorder, service: str | None, operation: str | None, model: str | None) -> Callable[[F], F]:
    def start() -> Measurement:
        return Measurement(recorder, service or "unknown", operation or "completion", model)

    def finish(call: Measurement, response: Any) -> None:
        detected_service, usage, response_model, detected_operation = providers.extract(response, service)
        call.service = detected_service or call.service
        call.operation = operation or detected_operation
        call.succeeded(usage, response_model, response=response)

    def decorate(fn: F) -> F:
        return _instrument(fn, start, finish)

    return decorate


class _RequestsCall(Measurement):
    """A call priced per request: ``requests`` instead of tokens, model optional."""

    def __init__(self, recorder: Recorder, service: str, operation: str, model: str | None, requests: int) -> None:
        super().__init__(recorder, service, operation, model)
        self.requests = requests

    def counted(self) -> None:
        self.emit({"requests": self.requests, "status": "ok"})

    def failed(self, exc: BaseException) -> None:
        fields: dict[str, Any] = {"requests": self.requests, "status": "error", "error": error_text(exc)}
        if http_status(exc) is None:
            fields.update(cost_usd=0, credits=0)  # never answered: nothing to pay for
        self.emit(fields)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status a provider answered with, if ``exc`` (or what caused it) carries one.

    urllib's ``HTTPError.code``, ``status_code`` of requests/httpx responses and of
    the OpenAI/Anthropic SDK errors, ``code`` of google-api-core errors. Connection
    errors (DNS, refused, timeouts) carry none: the provider never answered.
    """
    seen: BaseException | None = exc
    for _ in range(5):  # the exception, then what it was raised from
        if seen is None:
            return None
        response = getattr(seen, "response", None)
        for value in (getattr(seen, "status_code", None), getattr(response, "status_code", None),
                      getattr(response, "status", None), getattr(seen, "code", None)):
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                return value
        seen = seen.__cause__ or seen.__context__
    return None


def track_requests(
    recorder: Recorder, service: str, operation: str, requests: int, model: str | None
) -> Callable[[F], F]:
    if requests < 1:
        raise ValueError("requests must be >= 1 (SPEC 4.1)")

    def start() -> Measurement:
        return _RequestsCall(recorder, service, operation, model, requests)

    def finish(call: Measurement, result: Any) -> None:
        call.counted()  # type: ignore[attr-defined]

    def decorate(fn: F) -> F:
        return _instrument(fn, start, finish)

    return decorate
