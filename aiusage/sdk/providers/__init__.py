"""Which provider a client or a response belongs to, and dispatch to its module.

Detection is by duck typing and class module names, so no provider SDK is
imported unless the application itself imported it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..instrumentation import Recorder
from . import anthropic, bedrock, google, openai

_BY_SERVICE = {"openai": openai, "azure": openai, "anthropic": anthropic, "google": google, "bedrock": bedrock}
_CLIENT_SERVICES = (("openai", openai), ("anthropic", anthropic), ("google", google), ("bedrock", bedrock))


def instrument(client: Any, recorder: Recorder) -> bool:
    """Instrument a supported client in place; False if the client is not one."""
    for _, module in _CLIENT_SERVICES:
        if module.is_client(client):
            module.instrument(client, recorder)
            return True
    return False


def service_of_response(response: Any) -> str | None:
    """Guess the provider from a response object or its JSON (for decorators)."""
    for service, module in _CLIENT_SERVICES:
        if module.owns_response(response):
            return service
    if not isinstance(response, Mapping):
        return None
    if "usageMetadata" in response or "usage_metadata" in response:
        return "google"
    usage = response.get("usage")
    if not isinstance(usage, Mapping):
        return None
    if "prompt_tokens" in usage or "input_tokens_details" in usage:
        return "openai"
    if response.get("type") == "message" or "cache_creation_input_tokens" in usage:
        return "anthropic"
    return None


def extract(response: Any, service: str | None) -> tuple[str | None, dict[str, Any] | None, str | None, str]:
    """(service, usage, model, operation) of a provider response, by its shape."""
    detected = service_of_response(response)
    module = _BY_SERVICE.get(service or "") or _BY_SERVICE.get(detected or "")
    if module is None:
        return service or detected, None, None, "completion"
    usage, model = module.extract(response)
    operation_of = getattr(module, "operation_of", None)
    operation = operation_of(response) if operation_of else "completion"
    return service or detected, usage, model, operation
