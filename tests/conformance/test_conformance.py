"""The server prices every provider shape exactly as genai-prices does (SPEC 4.2, 4.4).

Each case in cases/*.json is a real usage object (its source is cited next to
it, and in README.md). The server's cost, posted through the API, must equal
genai-prices' own `extract_usage` + `calc_price` on the very same raw object,
to 6 places; `batch`/`flex` halve the token part (SPEC 4.3). The tokens the
server stores must be the ones genai-prices extracted.

Claude Code results have no genai-prices extractor: each `modelUsage` entry is
the sum of a session's Anthropic calls, so the reference is genai-prices on
that entry as an Anthropic usage object, split into calls of at most 50,000
input tokens (below every long-context tier), i.e. the session at base rates.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from math import ceil
from pathlib import Path
from typing import Any

import pytest
from genai_prices import calc_price, extract_usage

from shared.money import round_usd
from tests.support.aggregation import drain

CASES_DIR = Path(__file__).parent / "cases"
TS = "2026-11-21T09:30:00Z"
AT = __import__("datetime").datetime(2026, 11, 21, 9, 30, tzinfo=__import__("datetime").UTC)
HALVED = {"batch", "flex"}
HALVED_SERVICES = {"openai", "anthropic"}
CHUNK = 50_000  # input tokens per call when a session is split: below every tier start (100k, 200k)


def load(name: str) -> list[dict[str, Any]]:
    return json.loads((CASES_DIR / f"{name}.json").read_text())["cases"]


PROVIDER_CASES = [c for name in ("openai", "anthropic", "gemini", "bedrock") for c in load(name)]
CLAUDE_CODE_CASES = load("claude_code")


def by_name(cases: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[c["name"] for c in cases])


def micro(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# --- the reference: genai-prices on the raw object ------------------------------------------------

def _camel(value: Any) -> Any:
    """The REST (camel case) spelling of a Python SDK (snake case) Gemini object."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def reference(case: dict[str, Any]) -> tuple[Decimal, Any]:
    """genai-prices' price of the case's raw object (token part halved for batch/flex), and its usage."""
    response = _camel(case["response"]) if case.get("snake_case") else case["response"]
    extracted = extract_usage(response, **case["genai_prices"])
    price = calc_price(extracted.usage, case["model"], provider_id=case["genai_prices"]["provider_id"],
                       genai_request_timestamp=AT)
    tokens = price.input_price + price.output_price
    factor = Decimal("0.5") if case.get("service_tier") in HALVED and case["service"] in HALVED_SERVICES else 1
    return tokens * factor + (price.total_price - tokens), extracted.usage


def session_reference(model: str, entry: dict[str, Any]) -> Decimal:
    """A Claude Code modelUsage entry as Anthropic calls no larger than CHUNK input tokens, priced by genai-prices."""
    counts = {
        "input_tokens": entry.get("inputTokens", 0),
        "cache_read_input_tokens": entry.get("cacheReadInputTokens", 0),
        "cache_creation_input_tokens": entry.get("cacheCreationInputTokens", 0),
        "output_tokens": entry.get("outputTokens", 0),
        "web_search_requests": entry.get("webSearchRequests", 0),
    }
    total_input = counts["input_tokens"] + counts["cache_read_input_tokens"] + counts["cache_creation_input_tokens"]
    calls = max(1, ceil(total_input / (CHUNK - 3)))  # each part rounds each of 3 counts up by at most 1
    total = Decimal(0)
    for i in range(calls):
        part = {k: v // calls + (1 if i < v % calls else 0) for k, v in counts.items()}
        searches = part.pop("web_search_requests")
        usage = extract_usage({"model": model, "usage": {**part, "server_tool_use": {"web_search_requests": searches}}},
                              provider_id="anthropic")
        assert usage.usage.input_tokens <= CHUNK
        total += calc_price(usage.usage, model, provider_id="anthropic", genai_request_timestamp=AT).total_price
    return total


# --- the server: every case posted once ---------------------------------------------------------

def usage_object(response: dict[str, Any]) -> dict[str, Any]:
    for key in ("usage", "usageMetadata", "usage_metadata"):
        if key in response:
            return response[key]
    raise AssertionError("no usage object in the case")


@pytest.fixture(scope="module")
def recorded(module_api):
    answers: dict[str, Any] = {}
    for case in PROVIDER_CASES:
        body = {"event_id": case["name"], "timestamp": TS, "service": case["service"], "model": case["model"],
                "usage": usage_object(case["response"])}
        if case.get("service_tier"):
            body["service_tier"] = case["service_tier"]
        answers[case["name"]] = module_api.post("/ai_usage", body)
    for case in CLAUDE_CODE_CASES:
        answers[case["name"]] = module_api.post("/ai_usage", {"event_id": case["name"], "timestamp": TS,
                                                              "claude_code_result": case["claude_code_result"]})
    drain()
    page = module_api.get("/ai_usage/events", start_date="2026-11-21", end_date="2026-11-21", limit="1000")
    assert page.status == 200, page
    events = {e["event_id"]: e for e in page.json()["events"]}
    return answers, events


@by_name(PROVIDER_CASES)
def test_provider_usage_costs_what_genai_prices_says(recorded, case):
    answers, events = recorded
    answer = answers[case["name"]]
    assert answer.status == 200, answer
    (result,) = answer.json()["results"]
    expected, usage = reference(case)
    assert expected > 0
    assert (micro(result["cost_usd"]), result["cost_source"]) == (round_usd(expected), "computed")
    event = events[case["name"]]
    stored = {name: event[name] for name in ("input_tokens", "cache_read_tokens", "cache_write_tokens",
                                             "output_tokens", "reasoning_tokens")}
    assert stored == {"input_tokens": usage.reported_value("input_tokens"),
                      "cache_read_tokens": usage.reported_value("cache_read_tokens"),
                      "cache_write_tokens": usage.reported_value("cache_write_tokens"),
                      "output_tokens": usage.reported_value("output_tokens"),
                      "reasoning_tokens": usage.reported_value("output_reasoning_tokens")}
    assert event.get("cache_write_1h_tokens", 0) == usage.reported_value("cache_write_1h_tokens")
    assert event.get("web_search_requests", 0) == usage.reported_value("web_searches")


def _model_id(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._:@/-]", "-", model)


@by_name([c for c in CLAUDE_CODE_CASES if not c["expect"].get("refused")])
def test_claude_code_sessions_cost_their_tokens_at_base_rates(recorded, case):
    answers, events = recorded
    answer = answers[case["name"]]
    assert answer.status == 200, answer
    result = case["claude_code_result"]
    results = {r["event_id"]: r for r in answer.json()["results"]}
    entries = result.get("modelUsage") or {case["expect"]["model"]: None}
    assert set(results) == {f"{case['name']}:{_model_id(m)}" for m in entries}
    for model, entry in entries.items():
        event_id = f"{case['name']}:{_model_id(model)}"
        event = events[event_id]
        assert (event["status"], event.get("error")) == (case["expect"]["status"], case["expect"].get("error"))
        if entry is None:  # no modelUsage: the reported total, no list price for model "unknown"
            assert (micro(results[event_id]["cost_usd"]), event["cost_source"]) == (
                round_usd(Decimal(str(result["total_cost_usd"]))), "reported")
            continue
        expected = round_usd(session_reference(model, entry))
        if "costUSD" in entry:
            assert (micro(results[event_id]["cost_usd"]), event["cost_source"]) == (
                round_usd(Decimal(str(entry["costUSD"]))), "reported")
            assert micro(event["list_cost_usd"]) == expected
        else:
            assert (micro(results[event_id]["cost_usd"]), event["cost_source"]) == (expected, "computed")


def test_claude_codes_own_costs_are_the_base_rate_prices(recorded):
    """The logged three-model session: Claude Code's costUSD of each model is what base rates give."""
    (case,) = [c for c in CLAUDE_CODE_CASES if c["name"] == "claude-code-sub-agents-three-models"]
    for model, entry in case["claude_code_result"]["modelUsage"].items():
        assert round_usd(Decimal(str(entry["costUSD"]))) == round_usd(session_reference(model, entry)), model


@by_name([c for c in CLAUDE_CODE_CASES if c["expect"].get("refused")])
def test_a_result_with_nothing_to_record_is_refused(recorded, case):
    answers, _ = recorded
    answer = answers[case["name"]]
    assert answer.status == 400, answer
    assert answer.json()["error"]["details"][0]["loc"] == ["claude_code_result", "modelUsage"]
