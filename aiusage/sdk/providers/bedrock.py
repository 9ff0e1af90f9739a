"""Amazon Bedrock via a boto3 ``bedrock-runtime`` client: converse and converse_stream.

Converse responses name no model, so the event's model is the request's
``modelId`` (a model id, inference profile or ARN, as the caller wrote it).
``invoke_model`` is not instrumented: its usage is only in HTTP headers, not
a usage object the server can normalise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..instrumentation import Recorder, instrument_call, plain_dict


def is_client(client: Any) -> bool:
    meta = getattr(client, "meta", None)
    service_model = getattr(meta, "service_model", None)
    return getattr(service_model, "service_name", None) == "bedrock-runtime"


def owns_response(response: Any) -> bool:
    return isinstance(response, Mapping) and isinstance(response.get("usage"), Mapping) and (
        "inputTokens" in response["usage"]
    )


def extract(response: Any) -> tuple[dict[str, Any] | None, str | None]:
    usage = response.get("usage") if isinstance(response, Mapping) else None
    return plain_dict(usage), None


def _request_model(kwargs: dict[str, Any]) -> str | None:
    model = kwargs.get("modelId")
    return model if isinstance(model, str) else None


class _EventStream:
    """converse_stream ends with a ``metadata`` event carrying the usage."""

    def __init__(self) -> None:
        self._usage: dict[str, Any] | None = None

    def see(self, event: Any) -> bool:
        if isinstance(event, Mapping) and isinstance(event.get("metadata"), Mapping):
            self._usage = plain_dict(event["metadata"].get("usage")) or self._usage
        return True

    def result(self) -> tuple[dict[str, Any] | None, str | None]:
        return self._usage, None


def _always_streams(caller: dict[str, Any], sent: dict[str, Any]) -> _EventStream:
    return _EventStream()


def _attach(result: Any, proxy: Any) -> Any:
    # botocore builds a fresh dict per call: swap in the observed stream and
    # hand back the very same dict.
    result["stream"] = proxy(result["stream"])
    return result


def instrument(client: Any, recorder: Recorder) -> None:
    common = dict(recorder=recorder, service="bedrock", operation="completion", is_async=False,
                  request_model=_request_model, extract=extract)
    instrument_call(client, "converse", **common)
    instrument_call(client, "converse_stream", observe_stream=_always_streams, attach_stream=_attach, **common)
