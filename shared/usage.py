"""Normalising provider usage objects into `Counts` (SPEC 4.2 and 4.4). Never estimates.

Every provider counts differently; `Counts` follows the OpenAI convention:
`input_tokens` includes cache reads and writes, `output_tokens` includes
reasoning. The shape is recognised by `service` and by the keys present.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.models import MAX_COUNT, MAX_USD, Counts
from shared.money import MAX_PLACES, decimal_places


class UsageShapeError(ValueError):
    """The usage object has no recognisable counts, or a count is not a whole number >= 0."""

    def __init__(self, msg: str, loc: tuple[Any, ...] = ()):
        super().__init__(msg)
        self.loc = loc


def _count(obj: dict[str, Any], *path: str) -> int:
    """The integer at `path` (0 when absent or null); anything but an int >= 0 is an error."""
    value: Any = obj
    for part in path:
        if not isinstance(value, dict):
            return 0
        value = value.get(part)
        if value is None:
            return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise UsageShapeError(f"must be an integer from 0 to {MAX_COUNT}", path)
    return value


def _has(obj: dict[str, Any], *keys: str) -> bool:
    return any(obj.get(k) is not None for k in keys)


def normalise_usage(service: str, usage: dict[str, Any]) -> Counts:
    """Counts from a provider's own usage object, by service and the keys present."""
    if not isinstance(usage, dict):
        raise UsageShapeError("must be an object")
    if _has(usage, "prompt_token_count", "candidates_token_count", "total_token_count", "cached_content_token_count"):
        return _gemini(usage, snake=True)
    if _has(usage, "promptTokenCount", "candidatesTokenCount", "totalTokenCount", "cachedContentTokenCount"):
        return _gemini(usage, snake=False)
    if _has(usage, "inputTokens", "outputTokens"):
        return _bedrock_converse(usage)
    if _has(usage, "prompt_tokens", "completion_tokens"):
        return _openai_chat(usage)
    if _has(usage, "input_tokens", "output_tokens"):
        anthropic_shape = service == "anthropic" or _has(
            usage, "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation"
        )
        return _anthropic(usage) if anthropic_shape else _openai_responses(usage)
    raise UsageShapeError(
        "has no recognisable token counts (expected OpenAI, Anthropic, Gemini or Bedrock Converse usage)"
    )


def _openai_chat(u: dict[str, Any]) -> Counts:
    # Embeddings have only prompt_tokens (and total_tokens).
    return Counts(
        input_tokens=_count(u, "prompt_tokens"),
        cache_read_tokens=_count(u, "prompt_tokens_details", "cached_tokens"),
        output_tokens=_count(u, "completion_tokens"),
        reasoning_tokens=_count(u, "completion_tokens_details", "reasoning_tokens"),
    )


def _openai_responses(u: dict[str, Any]) -> Counts:
    return Counts(
        input_tokens=_count(u, "input_tokens"),
        cache_read_tokens=_count(u, "input_tokens_details", "cached_tokens"),
        output_tokens=_count(u, "output_tokens"),
        reasoning_tokens=_count(u, "output_tokens_details", "reasoning_tokens"),
    )


def _anthropic(u: dict[str, Any]) -> Counts:
    # Anthropic's input_tokens EXCLUDE cache reads and writes.
    cache_read = _count(u, "cache_read_input_tokens")
    cache_write = _count(u, "cache_creation_input_tokens")
    return Counts(
        input_tokens=_count(u, "input_tokens") + cache_read + cache_write,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=_count(u, "cache_creation", "ephemeral_1h_input_tokens"),
        output_tokens=_count(u, "output_tokens"),
        web_search_requests=_count(u, "server_tool_use", "web_search_requests"),
    )


def _gemini(u: dict[str, Any], *, snake: bool) -> Counts:
    names = (
        ("prompt_token_count", "cached_content_token_count", "candidates_token_count", "thoughts_token_count")
        if snake
        else ("promptTokenCount", "cachedContentTokenCount", "candidatesTokenCount", "thoughtsTokenCount")
    )
    prompt, cached, candidates, thoughts = (_count(u, n) for n in names)
    return Counts(
        input_tokens=prompt,
        cache_read_tokens=cached,
        output_tokens=candidates + thoughts,
        reasoning_tokens=thoughts,
    )


def _bedrock_converse(u: dict[str, Any]) -> Counts:
    cache_read = _count(u, "cacheReadInputTokens")
    cache_write = _count(u, "cacheWriteInputTokens")
    return Counts(
        input_tokens=_count(u, "inputTokens") + cache_read + cache_write,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=_count(u, "outputTokens"),
    )


@dataclass(frozen=True)
class ClaudeCodeModelUsage:
    """One `modelUsage` entry of a Claude Code result message."""

    model: str
    counts: Counts
    cost_usd: Decimal | None


def claude_code_model_usage(result: dict[str, Any]) -> list[ClaudeCodeModelUsage]:
    """One entry per model of `modelUsage` (it includes sub-agents; `usage` does not).

    A result with an empty `modelUsage` but a non-zero `total_cost_usd` is one
    entry with model `unknown`, so the money is never dropped.
    """
    if not isinstance(result, dict):
        raise UsageShapeError("must be an object")
    if result.get("type", "result") != "result":
        raise UsageShapeError("must be a Claude Code result message (type 'result')", ("type",))
    model_usage = result.get("modelUsage") or {}
    if not isinstance(model_usage, dict):
        raise UsageShapeError("must be an object keyed by model", ("modelUsage",))
    entries = []
    for model, entry in model_usage.items():
        if not isinstance(entry, dict):
            raise UsageShapeError("must be an object", ("modelUsage", model))
        try:
            cache_read = _count(entry, "cacheReadInputTokens")
            cache_write = _count(entry, "cacheCreationInputTokens")
            counts = Counts(
                input_tokens=_count(entry, "inputTokens") + cache_read + cache_write,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
                output_tokens=_count(entry, "outputTokens"),
                web_search_requests=_count(entry, "webSearchRequests"),
            )
        except UsageShapeError as exc:
            raise UsageShapeError(str(exc), ("modelUsage", model, *exc.loc)) from None
        entries.append(ClaudeCodeModelUsage(str(model)[:200], counts, _money(entry.get("costUSD"), ("modelUsage", model, "costUSD"))))
    if not entries:
        total = _money(result.get("total_cost_usd"), ("total_cost_usd",))
        if total:
            entries.append(ClaudeCodeModelUsage("unknown", Counts(), total))
        else:
            raise UsageShapeError("has no modelUsage and no total_cost_usd: nothing to record", ("modelUsage",))
    return entries


def _money(value: Any, loc: tuple[Any, ...]) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise UsageShapeError("must be a number >= 0", loc)
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise UsageShapeError("must be a number >= 0", loc) from None
    if not amount.is_finite() or not 0 <= amount <= MAX_USD:
        raise UsageShapeError(f"must be a number from 0 to {MAX_USD}", loc)
    if decimal_places(amount) > MAX_PLACES:
        raise UsageShapeError(f"must have at most {MAX_PLACES} decimal places (amounts are stored exactly)", loc)
    return amount


def claude_code_metadata(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("session_id", "num_turns", "duration_ms", "subtype", "is_error") if k in result}
