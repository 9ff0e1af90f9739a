"""Pricing (SPEC 4.3): overrides, genai-prices at the event time, per-request table, tiers."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.events import UsageEvent
from shared.models import Counts
from shared.money import InexactAmount
from shared.pricing import PriceOverride, price_event, quote
from shared.usage import normalise_usage

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def q(service, model, operation="completion", counts=None, requests=1, at=NOW, tier=None, overrides=()):
    return quote(service, model, operation, Counts() if counts is None else counts, requests, at, tier, overrides)


def test_openai_chat_with_cached_tokens_at_list_price():
    # gpt-4o: $2.50 input, $1.25 cached input, $10 output per MTok.
    result = q(
        "openai", "gpt-4o-2024-08-06", counts=Counts(input_tokens=1117, cache_read_tokens=1024, output_tokens=46)
    )
    assert (
        result.cost_usd
        == (Decimal(93) * Decimal("2.5") + Decimal(1024) * Decimal("1.25") + Decimal(46) * 10) / 1_000_000
    )
    assert result.cost_usd == Decimal("0.0019725")
    assert result.source == "genai-prices"


def test_batch_and_flex_tiers_halve_openai_and_anthropic_token_prices():
    counts = Counts(input_tokens=1_000_000, output_tokens=1_000_000)
    standard = q("openai", "gpt-4o", counts=counts).cost_usd
    assert standard == Decimal("12.5")
    assert q("openai", "gpt-4o", counts=counts, tier="batch").cost_usd == Decimal("6.25")
    assert q("anthropic", "claude-haiku-4-5", counts=counts, tier="flex").cost_usd == Decimal("3")
    assert (
        q("google", "gemini-2.5-flash", counts=counts, tier="batch").cost_usd
        == q("google", "gemini-2.5-flash", counts=counts).cost_usd
    )


def test_anthropic_cache_writes_and_one_hour_writes_are_priced_separately():
    counts = Counts(input_tokens=100_000, cache_write_tokens=60_000, cache_write_1h_tokens=20_000, output_tokens=0)
    # haiku 4.5: $1 input, $1.25 5-minute cache write, $2 1-hour cache write.
    expected = (Decimal(40_000) * 1 + Decimal(40_000) * Decimal("1.25") + Decimal(20_000) * 2) / 1_000_000
    assert q("anthropic", "claude-haiku-4-5", counts=counts).cost_usd == expected


def test_price_history_uses_the_event_timestamp():
    counts = Counts(input_tokens=1_000_000)
    before = q("openai", "o3", counts=counts, at=datetime(2025, 5, 1, tzinfo=UTC)).cost_usd
    after = q("openai", "o3", counts=counts, at=datetime(2026, 5, 1, tzinfo=UTC)).cost_usd
    assert (before, after) == (Decimal(10), Decimal(2))


def test_per_request_table_for_google_places():
    assert q("google_places", "", "place_details", requests=3).cost_usd == Decimal("0.051")
    assert q("google_places", "", "place_autocomplete", requests=1000).cost_usd == Decimal("2.83")
    assert q("google_places", "", "text_search").source == "per-request-table"


def test_unknown_model_has_no_price():
    assert q("openai", "no-such-model-xyz", counts=Counts(input_tokens=10)) is None
    assert q("acme-llm", "acme-large-2", counts=Counts(input_tokens=10)) is None


def test_override_beats_genai_prices_and_follows_valid_from():
    old = PriceOverride(
        "openai", "gpt-4o", datetime(2026, 1, 1, tzinfo=UTC), input_per_mtok=Decimal(1), output_per_mtok=Decimal(2)
    )
    new = PriceOverride(
        "openai", "gpt-4o", datetime(2026, 11, 1, tzinfo=UTC), input_per_mtok=Decimal(3), output_per_mtok=Decimal(4)
    )
    counts = Counts(input_tokens=1_000_000, cache_read_tokens=500_000, output_tokens=1_000_000)
    assert q("openai", "gpt-4o", counts=counts, overrides=[old, new]).cost_usd == Decimal(7)
    assert q(
        "openai", "gpt-4o", counts=counts, at=datetime(2026, 6, 1, tzinfo=UTC), overrides=[old, new]
    ).cost_usd == Decimal(3)
    # Before any override: genai-prices again.
    assert (
        q("openai", "gpt-4o", counts=counts, at=datetime(2025, 6, 1, tzinfo=UTC), overrides=[old, new]).source
        == "genai-prices"
    )


def test_operation_override_with_per_request_price_and_credits():
    o = PriceOverride("serpapi", "search", datetime(2026, 1, 1, tzinfo=UTC), per_request=Decimal("0.015"),
                      credits_per_request=Decimal(1))
    result = q("serpapi", "", "search", requests=4, overrides=[o])
    assert (result.cost_usd, result.credits, result.source) == (Decimal("0.060"), Decimal(4), "override")


def _event(**kw):
    return UsageEvent(
        event_id="e",
        ts=NOW,
        service=kw.pop("service", "openai"),
        model=kw.pop("model", "gpt-4o"),
        operation="completion",
        counts=kw.pop("counts", Counts(input_tokens=1000, output_tokens=100)),
        **kw,
    )


def test_reported_cost_is_authoritative_and_list_cost_is_kept():
    e = _event()
    price_event(e, Decimal("0.5"), [])
    assert (e.cost_usd, e.cost_source, e.list_cost_usd) == (Decimal("0.5"), "reported", Decimal("0.0035"))


def test_unpriced_is_said_never_silent():
    e = _event(service="acme-llm", model="acme-large-2")
    price_event(e, None, [])
    assert (e.cost_usd, e.cost_source, e.price_source) == (Decimal(0), "unpriced", None)


# --- every billed count priced as genai-prices prices it (SPEC 4.2) ---------------------------

def test_openai_cache_writes_cost_the_cache_write_price():
    # gpt-5.6-sol: $4 input, $5 cache write, $20 output per MTok; a prompt-cache write from OpenAI's Responses API
    # (pydantic/pydantic-ai cassette test_openai_responses_prompt_cache_e2e.yaml, via genai-prices' dataset).
    counts = normalise_usage("openai", {"input_tokens": 4020, "input_tokens_details": {"cache_write_tokens": 4012,
                                        "cached_tokens": 0}, "output_tokens": 5})
    assert (
        q("openai", "gpt-5.6-sol", counts=counts).cost_usd
        == (Decimal(8) * 4 + Decimal(4012) * 5 + Decimal(5) * 20) / 10**6
    )


def test_bedrock_one_hour_cache_writes_cost_the_one_hour_price():
    # Sonnet 4.5 on Bedrock: $3 input, $0.30 cache read, $3.75 5-minute write, $6 1-hour write, $15 output.
    counts = normalise_usage(
        "bedrock",
        {
            "inputTokens": 3,
            "outputTokens": 61,
            "cacheReadInputTokens": 2074,
            "cacheWriteInputTokens": 897,
            "cacheDetails": [{"ttl": "1h", "inputTokens": 600}, {"ttl": "5m", "inputTokens": 297}],
        },
    )
    expected = (Decimal(3) * 3 + Decimal(2074) * Decimal("0.3") + Decimal(297) * Decimal("3.75") + Decimal(600) * 6
                + Decimal(61) * 15) / 10**6
    assert q("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", counts=counts).cost_usd == expected


def test_gemini_tool_use_prompt_and_audio_tokens_are_billed():
    # gemini-2.5-pro: $1.25 input, $10 output; tool-use prompt tokens are input, thoughts are output.
    tool_use = normalise_usage("google", {"promptTokenCount": 17, "candidatesTokenCount": 201,
                                          "thoughtsTokenCount": 213, "toolUsePromptTokenCount": 119})
    assert (
        q("google", "gemini-2.5-pro", counts=tool_use).cost_usd
        == (Decimal(136) * Decimal("1.25") + Decimal(414) * 10) / 10**6
    )
    # gemini-2.5-flash: $0.30 text input, $1 audio input, $2.50 output.
    audio = normalise_usage("google", {"promptTokenCount": 1000, "candidatesTokenCount": 10, "promptTokensDetails": [
        {"modality": "AUDIO", "tokenCount": 800}, {"modality": "TEXT", "tokenCount": 200}]})
    assert q("google", "gemini-2.5-flash", counts=audio).cost_usd == (Decimal(200) * Decimal("0.3") + Decimal(800)
                                                                      + Decimal(10) * Decimal("2.5")) / 10**6


def test_batch_halves_token_prices_but_not_web_searches():
    # Sonnet 4.5: $3 input, $15 output per MTok; web search $10 per 1000, which has no batch price.
    counts = Counts(input_tokens=1000, output_tokens=100, web_search_requests=2)
    tokens, searches = Decimal("0.0045"), Decimal("0.02")
    assert q("anthropic", "claude-sonnet-4-5", counts=counts).cost_usd == tokens + searches
    assert q("anthropic", "claude-sonnet-4-5", counts=counts, tier="batch").cost_usd == tokens / 2 + searches


# --- Claude Code sessions at base rates (SPEC 4.4) -----------------------------------------------

SESSION = Counts(input_tokens=40 + 600_000 + 30_000, cache_read_tokens=600_000, cache_write_tokens=30_000,
                 output_tokens=2000, session_totals=True)


def test_a_session_total_is_priced_per_token_at_base_rates():
    # Sonnet 4.5 base rates: $3 input, $0.30 cache read, $3.75 cache write, $15 output per MTok. The session's
    # 630,040 input tokens were many calls: none of them reached the >200k-token tier (twice the base rate).
    base = (Decimal(40) * 3 + Decimal(600_000) * Decimal("0.3") + Decimal(30_000) * Decimal("3.75")
            + Decimal(2000) * 15) / 10**6
    assert base == Decimal("0.32262")
    assert q("anthropic", "claude-sonnet-4-5", "code_review", counts=SESSION).cost_usd == base
    one_request = Counts(**{**vars_of(SESSION), "session_totals": False})
    assert q("anthropic", "claude-sonnet-4-5", counts=one_request).cost_usd == Decimal("0.63024")  # the tier is real


def test_a_session_is_priced_at_base_rates_when_reported_too():
    e = _event(service="anthropic", model="claude-sonnet-4-5", counts=SESSION)
    price_event(e, Decimal("0.4"), [])
    assert (e.cost_usd, e.cost_source, e.list_cost_usd) == (Decimal("0.4"), "reported", Decimal("0.32262"))


def vars_of(counts):
    return {name: getattr(counts, name) for name in counts.__slots__}


# --- amounts are stored exactly (SPEC 4.5) ----------------------------------------------------------

def test_amounts_are_stored_as_reported_and_computed_never_cut():
    e = _event()
    price_event(e, Decimal("0.6571631500000001"), [])  # Claude Code's own float, as written
    assert e.cost_usd == Decimal("0.6571631500000001")
    cheap = PriceOverride(
        "acme-llm", "acme-mini", datetime(2026, 1, 1, tzinfo=UTC), input_per_mtok=Decimal("0.0000123")
    )
    tiny = _event(service="acme-llm", model="acme-mini", counts=Counts(input_tokens=3))
    price_event(tiny, None, [cheap])
    assert (tiny.cost_usd, tiny.cost_source) == (Decimal("3.69E-11"), "computed")  # 13 places: was cut to 12 before


def test_an_amount_too_precise_to_store_exactly_is_an_error_never_a_rounding():
    e = _event()
    with pytest.raises(InexactAmount):
        price_event(e, Decimal("1E-25"), [])
