"""Google Gemini via ``google.genai.Client``: generate_content (plain and
streamed) and embed_content, on ``client.models`` and ``client.aio.models``.

The usage object sent is ``usage_metadata`` as a plain dict (the SDK's
snake_case spelling, which the server accepts like the REST camelCase one).
Never imports ``google.genai``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..instrumentation import Recorder, instrument_call, plain_dict


def is_client(client: Any) -> bool:
    return any(cls.__module__.startswith("google.genai") and cls.__name__ == "Client" for cls in type(client).__mro__)


def owns_response(response: Any) -> bool:
    return type(response).__module__.startswith("google.genai")


def _usage_object(response: Any) -> Any:
    if isinstance(response, Mapping):  # REST JSON, camelCase or snake_case
        return response.get("usageMetadata") or response.get("usage_metadata")
    return getattr(response, "usage_metadata", None)


def _model(response: Any) -> str | None:
    if isinstance(response, Mapping):
        return response.get("modelVersion") or response.get("model_version")
    return getattr(response, "model_version", None)


def extract(response: Any) -> tuple[dict[str, Any] | None, str | None]:
    return plain_dict(_usage_object(response)), _model(response)


def operation_of(response: Any) -> str:
    if isinstance(response, Mapping):
        embeddings = response.get("embeddings") or response.get("embedding")
    else:
        embeddings = getattr(response, "embeddings", None)
    return "embedding" if embeddings is not None else "completion"


def _request_model(kwargs: dict[str, Any]) -> str | None:
    model = kwargs.get("model")
    if not isinstance(model, str):
        return None
    # Requests may name "models/gemini-2.5-pro"; responses say "gemini-2.5-pro".
    return model.removeprefix("models/")


class _ChunkStream:
    """Every chunk may carry usage_metadata; the last one holds the totals."""

    def __init__(self) -> None:
        self._usage: dict[str, Any] | None = None
        self._model: str | None = None

    def see(self, chunk: Any) -> bool:
        usage, model = extract(chunk)
        self._usage = usage or self._usage
        self._model = model or self._model
        return True

    def result(self) -> tuple[dict[str, Any] | None, str | None]:
        return self._usage, self._model


def _always_streams(caller: dict[str, Any], sent: dict[str, Any]) -> _ChunkStream:
    return _ChunkStream()


def _instrument_models(models: Any, recorder: Recorder, is_async: bool) -> None:
    common = dict(recorder=recorder, service="google", is_async=is_async, request_model=_request_model, extract=extract)
    instrument_call(models, "generate_content", operation="completion", **common)
    instrument_call(models, "generate_content_stream", operation="completion", observe_stream=_always_streams, **common)
    instrument_call(models, "embed_content", operation="embedding", **common)


def instrument(client: Any, recorder: Recorder) -> None:
    _instrument_models(client.models, recorder, is_async=False)
    aio = getattr(client, "aio", None)
    if aio is not None:
        _instrument_models(aio.models, recorder, is_async=True)
