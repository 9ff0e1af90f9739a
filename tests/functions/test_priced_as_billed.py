"""Issue 13 through the API: sessions at base rates, every billed count, real error reasons, exact amounts.

Each test here failed before the fix (the comment says how) and passes now.
"""

from decimal import Decimal

from tests.conftest import fixture_json
from tests.support.aggregation import drain

DAY = {"start_date": "2026-11-21", "end_date": "2026-11-21"}
TS = "2026-11-21T09:30:00Z"


def events(api, **query):
    answer = api.get("/ai_usage/events", **{**DAY, **query})
    assert answer.status == 200, answer
    return {e["event_id"]: e for e in answer.json()["events"]}


def post(api, body):
    answer = api.post("/ai_usage", body)
    assert answer.status == 200, answer
    return answer.json()["results"]


# --- 1. Claude Code sessions are priced per token at base rates --------------------------------

REPRO = {"type": "result", "subtype": "success", "is_error": False, "session_id": "s-13",
         "modelUsage": {"claude-sonnet-4-5": {"inputTokens": 40, "outputTokens": 2000, "cacheReadInputTokens": 600000,
                                              "cacheCreationInputTokens": 30000}}}


def test_a_session_without_cost_usd_costs_its_tokens_at_base_rates(api):
    # $3 input, $0.30 cache read, $3.75 cache write, $15 output per MTok = $0.32262. Before: the session's
    # 630,040 input tokens were priced as one request in the >200k tier: $0.63024.
    (result,) = post(api, {"event_id": "cc-1", "timestamp": TS, "claude_code_result": REPRO})
    assert (result["event_id"], result["cost_usd"], result["cost_source"]) == (
        "cc-1:claude-sonnet-4-5",
        0.32262,
        "computed",
    )
    drain()
    summary = api.get("/ai_usage", **DAY).json()["summary"]
    assert (summary["total_cost_usd"], summary["input_tokens"]) == (0.32262, 630040)


def test_list_cost_of_a_real_session_is_at_base_rates_and_matches_claude_codes_own_cost(api):
    # Sonnet: 12 + 198,400 cache read + 41,210 cache write = 239,622 input tokens in the session. Claude Code's
    # costUSD 0.2547435 is exactly the base-rate price; before, list_cost_usd was the >200k tier's 0.489162.
    result = fixture_json("claude-code-execution.json")[-1]
    post(api, {"event_id": "cc-2", "timestamp": TS, "claude_code_result": result})
    sonnet = events(api)["cc-2:claude-sonnet-4-5"]
    assert (sonnet["cost_usd"], sonnet["cost_source"], sonnet["list_cost_usd"]) == (0.254744, "reported", 0.254744)


def test_a_stored_session_is_repriced_as_it_was_priced(api):
    # Repricing rebuilds the event from its item: the session flag and the extra billed counts must survive.
    from shared import events, pricing, store, table

    post(api, {"event_id": "cc-3", "timestamp": TS, "claude_code_result": REPRO})
    post(api, {"event_id": "g-0", "timestamp": TS, "service": "google", "model": "gemini-2.5-flash", "usage": {
        "promptTokenCount": 1000, "candidatesTokenCount": 10,
        "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 800}, {"modality": "TEXT", "tokenCount": 200}]}})
    for event_id, cost in (("cc-3:claude-sonnet-4-5", Decimal("0.32262")), ("g-0", Decimal("0.000885"))):
        event = events.from_item(store.get(table.event_key(event_id)))
        pricing.price_event(event, None, [])
        assert event.cost_usd == cost, event_id


# --- 2. every count a provider bills -------------------------------------------------------------

def test_gemini_tool_use_prompt_tokens_are_counted_and_billed(api):
    # Before: toolUsePromptTokenCount was dropped (input 17, $0.004161 instead of $0.00431).
    usage = {"candidatesTokenCount": 201, "promptTokenCount": 17, "thoughtsTokenCount": 213,
             "toolUsePromptTokenCount": 119, "totalTokenCount": 550,
             "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 119}]}
    (result,) = post(api, {"event_id": "g-1", "timestamp": TS, "service": "google", "model": "gemini-2.5-pro",
                           "usage": usage})
    assert result["cost_usd"] == 0.00431  # (17 + 119) x $1.25 + (201 + 213) x $10 per MTok
    event = events(api)["g-1"]
    assert (event["input_tokens"], event["output_tokens"], event["reasoning_tokens"]) == (136, 414, 213)


def test_bedrock_one_hour_cache_writes_are_priced_as_one_hour_writes(api):
    # Before: all 897 writes at the 5-minute $3.75; 600 of them are 1-hour writes at $6.
    usage = {"inputTokens": 3, "outputTokens": 61, "cacheReadInputTokens": 2074, "cacheWriteInputTokens": 897,
             "cacheDetails": [{"ttl": "1h", "inputTokens": 600}, {"ttl": "5m", "inputTokens": 297}]}
    (result,) = post(api, {"event_id": "b-1", "timestamp": TS, "service": "bedrock",
                           "model": "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "usage": usage})
    assert result["cost_usd"] == 0.00626  # 0.00625995 rounded once
    assert events(api)["b-1"]["cache_write_1h_tokens"] == 600


def test_openai_cache_writes_are_priced_as_cache_writes(api):
    usage = {"input_tokens": 4020, "input_tokens_details": {"cache_write_tokens": 4012, "cached_tokens": 0},
             "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 4025}
    (result,) = post(
        api, {"event_id": "o-1", "timestamp": TS, "service": "openai", "model": "gpt-5.6-sol", "usage": usage}
    )
    assert result["cost_usd"] == 0.020192  # before: 0.01618, the writes at the $4 input price instead of $5
    assert events(api)["o-1"]["cache_write_tokens"] == 4012


def test_anthropic_thinking_tokens_are_reasoning_tokens(api):
    usage = {"input_tokens": 13, "output_tokens": 44, "output_tokens_details": {"thinking_tokens": 33}}
    post(
        api, {"event_id": "a-1", "timestamp": TS, "service": "anthropic", "model": "claude-sonnet-4-5", "usage": usage}
    )
    assert events(api)["a-1"]["reasoning_tokens"] == 33  # before: 0


# --- 3. error results keep their reason ------------------------------------------------------------

def test_an_api_error_result_is_stored_as_an_error_with_the_api_error(api):
    # Claude Code ends an API 500 with is_error: true and subtype "success". Before: error "success".
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "duration_ms": 18591,
        "num_turns": 186,
        "session_id": "2b3f9218",
        "api_error_status": 500,
        "terminal_reason": "api_error",
        "result": 'API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
        "total_cost_usd": 1.7,
        "modelUsage": {"claude-opus-4-5": {"inputTokens": 5000, "outputTokens": 900, "costUSD": 1.7}},
    }
    post(api, {"event_id": "err-1", "timestamp": TS, "claude_code_result": result})
    event = events(api)["err-1:claude-opus-4-5"]
    assert (event["status"], event["error"]) == ("error", result["result"])
    assert event["metadata"]["api_error_status"] == 500 and event["metadata"]["subtype"] == "success"
    assert event["cost_usd"] == 1.7


def test_a_long_reason_is_trimmed_to_1000_characters(api):
    result = {"type": "result", "subtype": "success", "is_error": True, "result": "API Error: 529 " + "x" * 2000,
              "total_cost_usd": 0.01}
    post(api, {"event_id": "err-2", "timestamp": TS, "claude_code_result": result})
    assert events(api)["err-2:unknown"]["error"] == ("API Error: 529 " + "x" * 2000)[:1000]


# --- 4. an empty modelUsage keeps the counts of usage ------------------------------------------

def test_a_result_without_model_usage_keeps_the_tokens_of_usage(api):
    # anthropics/claude-code-action pull request #366: a real result with usage and no modelUsage. Before: zero tokens.
    result = {
        "type": "result",
        "subtype": "error_during_execution",
        "duration_ms": 185041,
        "is_error": False,
        "num_turns": 0,
        "session_id": "xxxxxxxxx",
        "total_cost_usd": 0.6571631500000001,
        "usage": {
            "input_tokens": 112,
            "cache_creation_input_tokens": 58211,
            "cache_read_input_tokens": 1120129,
            "output_tokens": 6814,
            "server_tool_use": {"web_search_requests": 0},
            "service_tier": "standard",
        },
    }
    (answer,) = post(api, {"event_id": "u-1", "timestamp": TS, "claude_code_result": result})
    assert (answer["cost_usd"], answer["cost_source"]) == (0.657163, "reported")
    event = events(api)["u-1:unknown"]
    assert (event["input_tokens"], event["cache_read_tokens"], event["cache_write_tokens"], event["output_tokens"]) == (
        112 + 58211 + 1120129, 1120129, 58211, 6814)
    assert (event["status"], event["error"]) == ("error", "error_during_execution")


# --- 5. amounts are stored exactly and rounded once ---------------------------------------------

def raw_post(api, text):
    return api.call("POST", "/ai_usage", raw=text.encode(), headers={"content-type": "application/json"})


def test_a_reported_amount_is_rounded_once_not_cut_first(api):
    # Cut to 12 places first, 0.0000004999999999999 became 0.0000005, shown as 0.000001. Exact, it rounds to 0.
    answer = raw_post(api, '{"event_id": "x-1", "timestamp": "2026-11-21T09:30:00Z", "service": "openai", '
                           '"model": "gpt-4o", "input_tokens": 1, "cost_usd": 0.0000004999999999999}')
    assert answer.status == 200, answer
    assert answer.json()["results"][0]["cost_usd"] == 0.0
    drain()
    assert api.get("/ai_usage", **DAY).json()["summary"]["total_cost_usd"] == 0.0


def test_an_amount_too_precise_to_store_exactly_is_refused_not_cut(api):
    answer = raw_post(api, '{"event_id": "x-2", "timestamp": "2026-11-21T09:30:00Z", "service": "openai", '
                           '"model": "gpt-4o", "input_tokens": 1, "cost_usd": 1E-25}')
    assert answer.status == 400, answer
    assert answer.json()["error"]["details"][0]["loc"] == ["cost_usd"]
