"""Every field genai-prices' own `extract_usage` reads, aiusage reads too, into the same usage key (SPEC 4.2).

The tables of `shared.usage` are compared with the extractors of the pinned
genai-prices: a genai-prices upgrade that reads a new billed field fails here
until the table reads it too.
"""

from collections import Counter

import pytest
from genai_prices import data
from genai_prices.types import ArrayMatch

from shared import usage
from shared.usage import Item


def _theirs(provider_id: str, flavor: str) -> Counter:
    provider = next(p for p in data.providers if p.id == provider_id)
    extractor = next(e for e in provider.extractors if e.api_flavor == flavor)
    assert extractor.root == "usage" or extractor.root == "usageMetadata"

    def step(s):
        return Item(s.field, s.match.equals) if isinstance(s, ArrayMatch) else s

    return Counter((tuple(step(s) for s in ([m.path] if isinstance(m.path, str) else m.path)), m.dest)
                   for m in extractor.mappings)


@pytest.mark.parametrize(("provider_id", "flavor", "table"), [
    ("openai", "chat", usage.OPENAI_CHAT),
    ("openai", "responses", usage.OPENAI_RESPONSES),
    ("azure", "chat", usage.OPENAI_CHAT),
    ("azure", "responses", usage.OPENAI_RESPONSES),
    ("anthropic", "default", usage.ANTHROPIC),
    ("aws", "default", usage.BEDROCK_CONVERSE),
    ("google", "default", usage.GEMINI),
])
def test_each_table_reads_what_genai_prices_reads(provider_id, flavor, table):
    theirs, ours = _theirs(provider_id, flavor), Counter(table)
    assert theirs - ours == Counter(), "genai-prices reads fields aiusage does not"
    assert ours - theirs == Counter() or provider_id == "azure", "aiusage reads fields genai-prices does not"


def test_embeddings_read_a_part_of_the_chat_table():
    assert _theirs("openai", "embeddings") - Counter(usage.OPENAI_CHAT) == Counter()


def test_the_snake_case_gemini_table_is_the_camel_case_one_renamed():
    assert len(usage.GEMINI_SNAKE) == len(usage.GEMINI)
    renamed = dict(zip(usage.GEMINI, usage.GEMINI_SNAKE, strict=True))
    assert renamed[(("toolUsePromptTokenCount",), "input_tokens")] == (("tool_use_prompt_token_count",), "input_tokens")
    assert renamed[(("cacheTokensDetails", Item("modality", "AUDIO"), "tokenCount"), "cache_audio_read_tokens")] == (
        ("cache_tokens_details", Item("modality", "AUDIO"), "token_count"), "cache_audio_read_tokens")


def test_every_usage_key_read_is_one_genai_prices_prices():
    from genai_prices.units import _get_registry

    known = _get_registry()._reported_usage_keys
    tables = (usage.OPENAI_CHAT, usage.OPENAI_RESPONSES, usage.ANTHROPIC, usage.BEDROCK_CONVERSE, usage.GEMINI,
              usage.GEMINI_SNAKE, usage.CLAUDE_CODE_MODEL_USAGE)
    assert {key for table in tables for _, key in table} <= known
    assert set(usage.COLUMNS) <= known
