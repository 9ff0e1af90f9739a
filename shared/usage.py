"""Normalising provider usage objects into `Counts` (SPEC 4.2 and 4.4). Never estimates.

Every provider counts differently; `Counts` follows the OpenAI convention:
`input_tokens` includes cache reads and writes, `output_tokens` includes
reasoning. The shape is recognised by `service` and by the keys present.

What is read, and what it counts as, follows genai-prices' own usage
extractors field for field (the tables below use its usage keys), so every
count it prices is read here and priced the same way; counts beyond the
columns of `Counts` (modalities, tool-use prompts, 5-minute cache writes)
travel in `Counts.details`. tests/unit/test_usage_fields.py holds the tables
against the pinned genai-prices' extractors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.models import MAX_COUNT, MAX_USD, Counts
from shared.money import MAX_PLACES, decimal_places


class UsageShapeError(ValueError):
    """The usage object has no recognisable counts, or a count is not a whole number >= 0."""

    def __init__(self, msg: str, loc: tuple[Any, ...] = ()):
        super().__init__(msg)
        self.loc = loc


@dataclass(frozen=True)
class Item:
    """A path step: the first object of a list whose `key` equals `value` (case-insensitive).

    The same rule as genai-prices' `ArrayMatch`, e.g. Bedrock's
    `cacheDetails: [{"ttl": "1h", "inputTokens": 100}]`.
    """

    key: str
    value: str


Path = tuple["str | Item", ...]
Table = Sequence[tuple[Path, str]]  # (where a count is, the genai-prices usage key it adds to)

# genai-prices usage keys that are columns of `Counts`; any other key goes to `Counts.details`.
COLUMNS = {
    "input_tokens": "input_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "cache_write_1h_tokens": "cache_write_1h_tokens",
    "output_tokens": "output_tokens",
    "output_reasoning_tokens": "reasoning_tokens",
    "web_searches": "web_search_requests",
}

# OpenAI chat completions (embeddings are the same object with only prompt_tokens).
OPENAI_CHAT: Table = (
    (("prompt_tokens",), "input_tokens"),
    (("prompt_tokens_details", "cached_tokens"), "cache_read_tokens"),
    (("prompt_tokens_details", "cache_write_tokens"), "cache_write_tokens"),
    (("prompt_tokens_details", "audio_tokens"), "input_audio_tokens"),
    (("completion_tokens_details", "audio_tokens"), "output_audio_tokens"),
    (("completion_tokens_details", "reasoning_tokens"), "output_reasoning_tokens"),
    (("completion_tokens",), "output_tokens"),
)

OPENAI_RESPONSES: Table = (
    (("input_tokens",), "input_tokens"),
    (("input_tokens_details", "cached_tokens"), "cache_read_tokens"),
    (("input_tokens_details", "cache_write_tokens"), "cache_write_tokens"),
    (("output_tokens_details", "reasoning_tokens"), "output_reasoning_tokens"),
    (("output_tokens",), "output_tokens"),
)

# Anthropic messages: input_tokens EXCLUDES cache reads and writes, so all three add to the input.
ANTHROPIC: Table = (
    (("input_tokens",), "input_tokens"),
    (("cache_creation_input_tokens",), "input_tokens"),
    (("cache_read_input_tokens",), "input_tokens"),
    (("cache_creation_input_tokens",), "cache_write_tokens"),
    (("cache_creation", "ephemeral_5m_input_tokens"), "cache_write_5m_tokens"),
    (("cache_creation", "ephemeral_1h_input_tokens"), "cache_write_1h_tokens"),
    (("cache_read_input_tokens",), "cache_read_tokens"),
    (("server_tool_use", "web_search_requests"), "web_searches"),
    (("output_tokens_details", "thinking_tokens"), "output_reasoning_tokens"),
    (("output_tokens",), "output_tokens"),
)

# Bedrock Converse: inputTokens excludes cache reads and writes too; cacheDetails splits writes by TTL.
BEDROCK_CONVERSE: Table = (
    (("inputTokens",), "input_tokens"),
    (("cacheReadInputTokens",), "input_tokens"),
    (("cacheWriteInputTokens",), "input_tokens"),
    (("cacheReadInputTokens",), "cache_read_tokens"),
    (("cacheWriteInputTokens",), "cache_write_tokens"),
    (("cacheDetails", Item("ttl", "5m"), "inputTokens"), "cache_write_5m_tokens"),
    (("cacheDetails", Item("ttl", "1h"), "inputTokens"), "cache_write_1h_tokens"),
    (("outputTokens",), "output_tokens"),
)


def _gemini_table() -> Table:
    """Gemini `usageMetadata`: the prompt count includes cached content; tool-use prompts and thoughts are billed
    on top of the prompt and the candidates (total = prompt + candidates + toolUse + thoughts)."""
    modalities = (("TEXT", "text"), ("AUDIO", "audio"), ("IMAGE", "image"), ("DOCUMENT", "image"), ("VIDEO", "video"))

    def each(details: str, *keys: str) -> list[tuple[Path, str]]:
        return [((details, Item("modality", modality), "tokenCount"), key.format(unit))
                for modality, unit in modalities for key in keys]

    return (
        (("promptTokenCount",), "input_tokens"),
        (("cachedContentTokenCount",), "cache_read_tokens"),
        *each("cacheTokensDetails", "cache_{}_read_tokens"),
        *each("promptTokensDetails", "input_{}_tokens"),
        *each("candidatesTokensDetails", "output_{}_tokens"),
        (("candidatesTokenCount",), "output_tokens"),
        (("thoughtsTokenCount",), "output_tokens"),
        (("thoughtsTokenCount",), "output_reasoning_tokens"),
        (("toolUsePromptTokenCount",), "input_tokens"),
        (("toolUsePromptTokenCount",), "input_tool_tokens"),
        *each("toolUsePromptTokensDetails", "input_{}_tokens", "input_{}_tool_tokens"),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


GEMINI: Table = _gemini_table()
# The Python SDK's `usage_metadata` spells the same fields in snake case.
GEMINI_SNAKE: Table = tuple(
    (tuple(_snake(step) if isinstance(step, str) else step for step in path), key) for path, key in GEMINI)

# One `modelUsage` entry of a Claude Code result (camel case; inputTokens excludes the cache, as in Anthropic's).
CLAUDE_CODE_MODEL_USAGE: Table = (
    (("inputTokens",), "input_tokens"),
    (("cacheReadInputTokens",), "input_tokens"),
    (("cacheCreationInputTokens",), "input_tokens"),
    (("cacheReadInputTokens",), "cache_read_tokens"),
    (("cacheCreationInputTokens",), "cache_write_tokens"),
    (("webSearchRequests",), "web_searches"),
    (("outputTokens",), "output_tokens"),
)


def _count(value: Any, loc: tuple[Any, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise UsageShapeError(f"must be an integer from 0 to {MAX_COUNT}", loc)
    return value


def _read(obj: Any, path: Path) -> tuple[Any, tuple[Any, ...]]:
    """The value at `path` (None when any step is missing or null) and where it was found."""
    loc: list[Any] = []
    value = obj
    for step in path:
        if isinstance(step, Item):
            if not isinstance(value, list):
                return None, ()
            index = next((i for i, x in enumerate(value) if isinstance(x, dict) and isinstance(x.get(step.key), str)
                          and x[step.key].lower() == step.value.lower()), None)
            if index is None:
                return None, ()
            loc.append(index)
            value = value[index]
        else:
            if not isinstance(value, dict):
                return None, ()
            loc.append(step)
            value = value.get(step)
        if value is None:
            return None, ()
    return value, tuple(loc)


def billed_units(obj: dict[str, Any], table: Table) -> dict[str, int]:
    """The counts of `obj` by genai-prices usage key, summed where several fields add to one key."""
    units: dict[str, int] = {}
    for path, key in table:
        value, loc = _read(obj, path)
        if value is not None:
            units[key] = units.get(key, 0) + _count(value, loc)
    return units


def counts_of_units(units: dict[str, int], *, session_totals: bool = False) -> Counts:
    """`Counts` from genai-prices usage keys: its columns, and every other non-zero count in `details`."""
    columns = {column: units.get(key, 0) for key, column in COLUMNS.items()}
    details = {key: value for key, value in units.items() if key not in COLUMNS and value}
    return Counts(**columns, details=details, session_totals=session_totals)


def genai_usage(c: Counts) -> dict[str, int]:
    """The counts as genai-prices usage keys (zeros left out), ready for `genai_prices.Usage(**...)`."""
    units = {key: getattr(c, column) for key, column in COLUMNS.items()}
    units.update(c.details)
    return {key: value for key, value in units.items() if value}


def _has(obj: dict[str, Any], *keys: str) -> bool:
    return any(obj.get(k) is not None for k in keys)


def usage_table(service: str, usage: dict[str, Any]) -> Table:
    """Which provider shape `usage` is, by the keys present (and `service` where two shapes share keys)."""
    if _has(usage, "prompt_token_count", "candidates_token_count", "total_token_count", "cached_content_token_count",
            "thoughts_token_count", "tool_use_prompt_token_count"):
        return GEMINI_SNAKE
    if _has(usage, "promptTokenCount", "candidatesTokenCount", "totalTokenCount", "cachedContentTokenCount",
            "thoughtsTokenCount", "toolUsePromptTokenCount"):
        return GEMINI
    if _has(usage, "inputTokens", "outputTokens"):
        return BEDROCK_CONVERSE
    if _has(usage, "prompt_tokens", "completion_tokens"):
        return OPENAI_CHAT
    if _has(usage, "input_tokens", "output_tokens"):
        anthropic_shape = service == "anthropic" or _has(
            usage, "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation", "server_tool_use"
        )
        return ANTHROPIC if anthropic_shape else OPENAI_RESPONSES
    raise UsageShapeError(
        "has no recognisable token counts (expected OpenAI, Anthropic, Gemini or Bedrock Converse usage)"
    )


def normalise_usage(service: str, usage: dict[str, Any]) -> Counts:
    """Counts from a provider's own usage object, by service and the keys present."""
    if not isinstance(usage, dict):
        raise UsageShapeError("must be an object")
    return counts_of_units(billed_units(usage, usage_table(service, usage)))


# --- Claude Code results (SPEC 4.4) ----------------------------------------------------------


@dataclass(frozen=True)
class ClaudeCodeModelUsage:
    """One event's worth of a Claude Code result: a `modelUsage` entry (or the `usage` fallback)."""

    model: str
    counts: Counts
    cost_usd: Decimal | None  # the reported costUSD, authoritative when given


@dataclass(frozen=True)
class ClaudeCodeRun:
    """Everything a Claude Code result message says that the ledger records."""

    entries: list[ClaudeCodeModelUsage]
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the reason the run failed (trimmed), or None when it did not fail


METADATA_KEYS = ("session_id", "num_turns", "duration_ms", "subtype", "is_error", "terminal_reason",
                 "api_error_status")
MAX_ERROR_CHARS = 1000


def claude_code_run(result: dict[str, Any]) -> ClaudeCodeRun:
    """A Claude Code result message as the events to record, their metadata and the error reason, if any."""
    return ClaudeCodeRun(claude_code_model_usage(result), claude_code_metadata(result), claude_code_error(result))


def claude_code_model_usage(result: dict[str, Any]) -> list[ClaudeCodeModelUsage]:
    """One entry per model of `modelUsage` (it includes sub-agents; `usage` does not).

    Every entry sums a whole session of API calls, so its counts are marked
    `session_totals` and priced per token at base rates. A result with an
    empty `modelUsage` is one entry with model `unknown`, with the counts of
    `usage` (Anthropic's shape) and `total_cost_usd`, so neither the money nor
    the tokens are dropped.
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
            counts = counts_of_units(billed_units(entry, CLAUDE_CODE_MODEL_USAGE), session_totals=True)
        except UsageShapeError as exc:
            raise UsageShapeError(str(exc), ("modelUsage", model, *exc.loc)) from None
        entries.append(ClaudeCodeModelUsage(str(model)[:200], counts,
                                            _money(entry.get("costUSD"), ("modelUsage", model, "costUSD"))))
    if entries:
        return entries
    total = _money(result.get("total_cost_usd"), ("total_cost_usd",))
    usage = result.get("usage")
    counts = Counts(session_totals=True)
    if usage is not None:
        if not isinstance(usage, dict):
            raise UsageShapeError("must be an object", ("usage",))
        try:
            counts = counts_of_units(billed_units(usage, ANTHROPIC), session_totals=True)
        except UsageShapeError as exc:
            raise UsageShapeError(str(exc), ("usage", *exc.loc)) from None
    if not total and not genai_usage(counts):
        raise UsageShapeError("has no modelUsage, no usage counts and no total_cost_usd: nothing to record",
                              ("modelUsage",))
    return [ClaudeCodeModelUsage("unknown", counts, total)]


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
    return {k: result[k] for k in METADATA_KEYS if result.get(k) is not None}


def claude_code_error(result: dict[str, Any]) -> str | None:
    """Why a Claude Code run failed, in its own words; None when it did not fail.

    A run failed when `is_error` is true (an API 500 or 529 ends with
    `subtype: "success"` and the API error in `result`) or its subtype is an
    `error_...` one. The reason is `errors` when it has any, else `result`
    (only read for failed runs: otherwise it is the model's answer), else the
    API status, the terminal reason or the subtype — never the word "success".
    """
    subtype = result.get("subtype")
    failed = result.get("is_error") is True or (isinstance(subtype, str) and subtype.startswith("error"))
    if not failed:
        return None
    errors = result.get("errors")
    errors = errors if isinstance(errors, list) else [errors] if isinstance(errors, str) else []
    reason = "; ".join(text for text in (str(e).strip() for e in errors if e is not None) if text)
    if not reason and isinstance(result.get("result"), str):
        reason = result["result"].strip()
    status = result.get("api_error_status")
    terminal = result.get("terminal_reason")
    if not reason and isinstance(status, int) and not isinstance(status, bool):
        reason = f"API error (HTTP {status})"
    if not reason and isinstance(terminal, str) and terminal.strip() and terminal != "completed":
        reason = terminal.strip()
    if not reason and isinstance(subtype, str) and subtype.strip() and subtype != "success":
        reason = subtype.strip()
    return (reason or "Claude Code reported is_error: true without a reason")[:MAX_ERROR_CHARS]
