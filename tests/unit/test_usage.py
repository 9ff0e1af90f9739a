"""Provider usage normalisation (SPEC 4.2, 4.4) on real-shaped payloads."""

from decimal import Decimal

import pytest

from shared.models import Counts
from shared.usage import (
    UsageShapeError,
    claude_code_error,
    claude_code_metadata,
    claude_code_model_usage,
    claude_code_run,
    normalise_usage,
)
from tests.conftest import fixture_json


def test_openai_chat_counts_cached_and_reasoning_parts():
    usage = fixture_json("usage-openai-chat.json")["usage"]
    assert normalise_usage("openai", usage) == Counts(input_tokens=1117, cache_read_tokens=1024, output_tokens=46)


def test_openai_responses_api():
    usage = fixture_json("usage-openai-responses.json")["usage"]
    assert normalise_usage("openai", usage) == Counts(input_tokens=36, output_tokens=87, reasoning_tokens=64)


def test_openai_embeddings_have_only_prompt_tokens():
    usage = fixture_json("usage-openai-embeddings.json")["usage"]
    assert normalise_usage("openai", usage) == Counts(input_tokens=8)


def test_anthropic_input_tokens_exclude_cache_so_they_are_added():
    usage = fixture_json("usage-anthropic.json")["usage"]
    counts = normalise_usage("anthropic", usage)
    assert counts.input_tokens == 21 + 188086 + 0
    assert counts.cache_write_tokens == 188086
    assert counts.cache_write_1h_tokens == 0
    assert counts.cache_read_tokens == 0
    assert counts.output_tokens == 393
    assert counts.web_search_requests == 1


def test_anthropic_shape_is_recognised_by_its_cache_keys_under_any_service():
    usage = {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5}
    assert normalise_usage("bedrock", usage).input_tokens == 100


def test_gemini_camel_case_output_includes_thoughts():
    usage = fixture_json("usage-gemini.json")["usageMetadata"]
    assert normalise_usage("google", usage) == Counts(
        input_tokens=1250, cache_read_tokens=1024, output_tokens=180 + 412, reasoning_tokens=412,
        details={"input_text_tokens": 1250, "cache_text_read_tokens": 1024, "output_text_tokens": 180})


def test_gemini_snake_case_from_the_python_sdk():
    usage = {"prompt_token_count": 1250, "cached_content_token_count": 1024, "candidates_token_count": 180,
             "thoughts_token_count": 412, "total_token_count": 1842,
             "prompt_tokens_details": [{"modality": "TEXT", "token_count": 1250}]}
    assert normalise_usage("google", usage) == Counts(
        input_tokens=1250, cache_read_tokens=1024, output_tokens=592, reasoning_tokens=412,
        details={"input_text_tokens": 1250})


# Google bills tool-use prompt tokens as input: total = prompt + candidates + toolUse + thoughts.
# (pydantic/pydantic-ai cassette test_google_model_web_search_tool.yaml, via genai-prices tests/dataset/usages.json)
GEMINI_TOOL_USE = {
    "candidatesTokenCount": 201,
    "promptTokenCount": 17,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 17}],
    "thoughtsTokenCount": 213,
    "toolUsePromptTokenCount": 119,
    "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 119}],
    "totalTokenCount": 550,
}


def test_gemini_tool_use_prompt_tokens_are_input_tokens():
    counts = normalise_usage("google", GEMINI_TOOL_USE)
    assert counts.input_tokens == 17 + 119
    assert counts.input_tokens + counts.output_tokens == GEMINI_TOOL_USE["totalTokenCount"]
    assert counts.details == {"input_text_tokens": 17 + 119, "input_tool_tokens": 119, "input_text_tool_tokens": 119}


def test_gemini_tool_use_prompt_tokens_in_snake_case_too():
    usage = {"prompt_token_count": 17, "candidates_token_count": 201, "thoughts_token_count": 213,
             "tool_use_prompt_token_count": 119, "total_token_count": 550}
    counts = normalise_usage("google", usage)
    assert (counts.input_tokens, counts.output_tokens, counts.details) == (136, 414, {"input_tool_tokens": 119})


def test_openai_cache_writes_are_read_in_chat_and_responses():
    chat = {"prompt_tokens": 4020, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4012, "audio_tokens": 3}}
    responses = {"input_tokens": 4020, "input_tokens_details": {"cache_write_tokens": 4012, "cached_tokens": 0},
                 "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 4025}
    assert normalise_usage("openai", chat) == Counts(input_tokens=4020, cache_write_tokens=4012, output_tokens=5,
                                                     details={"input_audio_tokens": 3})
    assert normalise_usage("openai", responses) == Counts(input_tokens=4020, cache_write_tokens=4012, output_tokens=5)


def test_bedrock_cache_details_split_writes_by_ttl():
    usage = {"inputTokens": 3, "outputTokens": 61, "cacheReadInputTokens": 2074, "cacheWriteInputTokens": 897,
             "cacheDetails": [{"ttl": "1h", "inputTokens": 600}, {"ttl": "5m", "inputTokens": 297}]}
    counts = normalise_usage("bedrock", usage)
    assert (counts.input_tokens, counts.cache_write_tokens, counts.cache_write_1h_tokens) == (3 + 2074 + 897, 897, 600)
    assert counts.details == {"cache_write_5m_tokens": 297}


def test_anthropic_thinking_tokens_are_reasoning_tokens():
    usage = {"input_tokens": 13, "output_tokens": 44, "output_tokens_details": {"thinking_tokens": 33},
             "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    assert normalise_usage("anthropic", usage) == Counts(input_tokens=13, output_tokens=44, reasoning_tokens=33)


def test_a_count_in_a_list_names_its_place():
    with pytest.raises(UsageShapeError) as info:
        normalise_usage(
            "bedrock",
            {
                "inputTokens": 1,
                "outputTokens": 1,
                "cacheWriteInputTokens": 5,
                "cacheDetails": [{"ttl": "5m", "inputTokens": 5}, {"ttl": "1h", "inputTokens": -1}],
            },
        )
    assert info.value.loc == ("cacheDetails", 1, "inputTokens")


def test_gemini_without_candidates_counts_zero_output():
    assert normalise_usage("google", {"promptTokenCount": 7, "totalTokenCount": 7}).output_tokens == 0


def test_bedrock_converse_adds_cache_reads_and_writes_to_input():
    usage = fixture_json("usage-bedrock-converse.json")["usage"]
    assert normalise_usage("bedrock", usage) == Counts(
        input_tokens=15 + 150000 + 6111, cache_read_tokens=150000, cache_write_tokens=6111, output_tokens=395,
        details={"cache_write_5m_tokens": 6111})


@pytest.mark.parametrize("usage", [{}, {"total_tokens": 5}, {"characters": 100}])
def test_unrecognisable_usage_is_an_error_never_a_guess(usage):
    with pytest.raises(UsageShapeError, match="no recognisable token counts"):
        normalise_usage("openai", usage)


@pytest.mark.parametrize("value", [-1, 1.5, "12", True])
def test_counts_must_be_whole_numbers(value):
    with pytest.raises(UsageShapeError) as info:
        normalise_usage("openai", {"prompt_tokens": value, "completion_tokens": 1})
    assert info.value.loc == ("prompt_tokens",)


def test_claude_code_records_one_entry_per_model_including_sub_agents():
    result = fixture_json("claude-code-execution.json")[-1]
    entries = claude_code_model_usage(result)
    assert [e.model for e in entries] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    sonnet, haiku = entries
    assert sonnet.counts == Counts(input_tokens=12 + 198400 + 41210, cache_read_tokens=198400,
                                   cache_write_tokens=41210, output_tokens=2710, session_totals=True)
    assert sonnet.cost_usd == Decimal("0.2547435")
    assert haiku.counts == Counts(input_tokens=1840, output_tokens=402, session_totals=True)
    assert haiku.cost_usd == Decimal("0.00385")
    assert claude_code_metadata(result) == {"session_id": "3f1c2a9e-7b41-4c0e-9d2a-5e8f10b6c7d4", "num_turns": 7,
                                            "duration_ms": 74120, "subtype": "success", "is_error": False}


def test_claude_code_failed_run_still_carries_its_cost():
    entries = claude_code_model_usage(fixture_json("claude-code-result-error.json"))
    assert len(entries) == 1
    assert entries[0].model == "claude-opus-4-5"
    assert entries[0].cost_usd == Decimal("1.04711")
    assert entries[0].counts.input_tokens == 88 + 1402211 + 90233


def test_claude_code_empty_model_usage_with_cost_is_one_unknown_entry():
    entries = claude_code_model_usage({"type": "result", "modelUsage": {}, "total_cost_usd": 0.42})
    assert [(e.model, e.cost_usd) for e in entries] == [("unknown", Decimal("0.42"))]


def test_claude_code_empty_model_usage_takes_the_counts_of_usage():
    # A real result (anthropics/claude-code-action pull request #366): no modelUsage, counts in usage.
    result = {"type": "result", "subtype": "error_during_execution", "duration_ms": 185041, "duration_api_ms": 184154,
              "is_error": False, "num_turns": 0, "session_id": "xxxxxxxxx", "total_cost_usd": 0.6571631500000001,
              "usage": {"input_tokens": 112, "cache_creation_input_tokens": 58211, "cache_read_input_tokens": 1120129,
                        "output_tokens": 6814, "server_tool_use": {"web_search_requests": 0},
                        "service_tier": "standard"}}
    (entry,) = claude_code_model_usage(result)
    assert (entry.model, entry.cost_usd) == ("unknown", Decimal("0.6571631500000001"))
    assert entry.counts == Counts(input_tokens=112 + 58211 + 1120129, cache_read_tokens=1120129,
                                  cache_write_tokens=58211, output_tokens=6814, session_totals=True)


def test_claude_code_usage_counts_alone_are_worth_recording():
    (entry,) = claude_code_model_usage({"type": "result", "modelUsage": {}, "total_cost_usd": 0,
                                        "usage": {"input_tokens": 10, "output_tokens": 5}})
    assert (entry.model, entry.cost_usd, entry.counts.input_tokens, entry.counts.output_tokens) == (
        "unknown", Decimal(0), 10, 5)


def test_claude_code_with_nothing_to_record_is_an_error():
    with pytest.raises(UsageShapeError):
        claude_code_model_usage({"type": "result", "modelUsage": {}, "total_cost_usd": 0})
    with pytest.raises(UsageShapeError):
        claude_code_model_usage({"type": "assistant"})
    with pytest.raises(UsageShapeError):
        claude_code_model_usage({"type": "result", "modelUsage": {}, "total_cost_usd": 0,
                                 "usage": {"input_tokens": 0, "output_tokens": 0}})


def test_claude_code_costs_are_kept_exactly_or_refused():
    entry = {"inputTokens": 1, "outputTokens": 1}
    (kept,) = claude_code_model_usage(
        {"type": "result", "modelUsage": {"m": {**entry, "costUSD": Decimal("3.0000000000000004E-7")}}}
    )
    assert kept.cost_usd == Decimal("3.0000000000000004E-7")  # 23 places: stored as given
    with pytest.raises(UsageShapeError) as info:
        claude_code_model_usage({"type": "result", "modelUsage": {"m": {**entry, "costUSD": Decimal("1E-25")}}})
    assert info.value.loc == ("modelUsage", "m", "costUSD") and "24 decimal places" in str(info.value)


# --- why a run failed (SPEC 4.4) ---------------------------------------------------------------
# The shapes are Claude Code's own, from anthropics/claude-agent-sdk-python tests/test_errors.py and
# tests/test_message_parser.py, anthropics/claude-code-action base-action/test/run-claude-sdk.test.ts.

@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (
            {
                "subtype": "success",
                "is_error": True,
                "errors": [],
                "result": "API Error: Stream idle timeout - no chunks received",
                "api_error_status": None,
                "terminal_reason": "api_error",
            },
            "API Error: Stream idle timeout - no chunks received",
        ),
        (
            {
                "subtype": "success",
                "is_error": True,
                "result": 'API Error: 500 {"type":"error",'
                '"error":{"type":"api_error","message":"Internal server error"}}',
            },
            'API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
        ),
        ({"subtype": "success", "is_error": True, "api_error_status": 529}, "API error (HTTP 529)"),
        ({"subtype": "success", "is_error": True, "terminal_reason": "api_error"}, "api_error"),
        (
            {"subtype": "error_max_turns", "is_error": True, "errors": ["Reached maximum number of turns (30)"]},
            "Reached maximum number of turns (30)",
        ),
        (
            {
                "subtype": "error_during_execution",
                "is_error": True,
                "errors": ["Tool execution failed: permission denied", "Unable to write to /etc/hosts"],
            },
            "Tool execution failed: permission denied; Unable to write to /etc/hosts",
        ),
        ({"subtype": "error_during_execution", "is_error": False}, "error_during_execution"),
        ({"subtype": "success", "is_error": True}, "Claude Code reported is_error: true without a reason"),
    ],
)
def test_a_failed_run_keeps_its_real_reason_never_success(result, reason):
    assert claude_code_error({"type": "result", **result}) == reason


def test_a_successful_run_has_no_error_and_its_answer_is_never_read():
    assert claude_code_error({"type": "result", "subtype": "success", "is_error": False, "result": "LGTM"}) is None


def test_the_reason_is_trimmed_to_what_the_event_can_hold():
    assert claude_code_error({"subtype": "success", "is_error": True, "result": "x" * 5000}) == "x" * 1000


def test_claude_code_run_gives_ingest_everything():
    run = claude_code_run({"type": "result", "subtype": "success", "is_error": True, "api_error_status": 529,
                           "terminal_reason": "api_error", "session_id": "s", "num_turns": 3, "duration_ms": 9,
                           "result": "API Error: 529 Overloaded", "total_cost_usd": 0.5,
                           "modelUsage": {"claude-opus-4-5": {"inputTokens": 5, "outputTokens": 7, "costUSD": 0.5}}})
    assert run.error == "API Error: 529 Overloaded"
    assert run.metadata == {"session_id": "s", "num_turns": 3, "duration_ms": 9, "subtype": "success",
                            "is_error": True, "terminal_reason": "api_error", "api_error_status": 529}
    assert [(e.model, e.cost_usd) for e in run.entries] == [("claude-opus-4-5", Decimal("0.5"))]
