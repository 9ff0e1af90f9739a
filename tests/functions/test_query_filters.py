"""Every filter of GET /ai_usage filters (SPEC 5): each alone, several values, and together.

Eight events differ in every filtered dimension and each costs a different
power of two (in micro-dollars), so any wrong set of events shows in the total.
"""

from decimal import Decimal
from itertools import combinations

import pytest

from tests.support.aggregation import drain

DIMENSIONS = {
    "service": ("openai", "anthropic"),
    "model": ("gpt-4o-mini", "claude-haiku-4-5"),
    "operation": ("completion", "embedding"),
    "user_id": ("alice", "bob"),
    "project": ("search", "ads"),
    "job_id": ("job-1", "job-2"),
    "batch_id": ("b-1", "b-2"),
    "repository": ("acme/web", "acme/api"),
    "pr_number": ("7", "8"),
}
NAMES = list(DIMENSIONS)


def _events():
    """Eight events; event i takes value (i >> k) & 1 of dimension k, spread so the pairs are not all aligned."""
    events = []
    for i in range(8):
        picks = {name: values[(i >> (k % 3)) & 1 if k % 2 else ((i + k) >> (k % 3)) & 1]
                 for k, (name, values) in enumerate(DIMENSIONS.items())}
        events.append({
            "event_id": f"f-{i}", "timestamp": f"2026-11-{10 + i:02d}T12:00:00Z", "service": picks["service"],
            "model": picks["model"], "operation": picks["operation"], "user_id": picks["user_id"],
            "project": picks["project"], "job_id": picks["job_id"], "batch_id": picks["batch_id"],
            "github": {"repository": picks["repository"], "pr_number": int(picks["pr_number"])},
            "input_tokens": 10 * (i + 1), "output_tokens": 1, "cost_usd": str(Decimal(2**i) / 10**6),
            "_picks": picks,
        })
    return events


EVENTS = _events()


@pytest.fixture
def recorded(api):
    answer = api.post("/ai_usage", {"events": [{k: v for k, v in e.items() if k != "_picks"} for e in EVENTS]})
    assert answer.status == 200 and answer.json()["accepted"] == 8, answer
    drain()
    return api


def expected(filters):
    chosen = [e for e in EVENTS if all(e["_picks"][n] in values for n, values in filters.items())]
    return len(chosen), float(sum(Decimal(e["cost_usd"]) for e in chosen)), sum(e["input_tokens"] for e in chosen)


def summary(api, filters, **extra):
    query = {name: ",".join(values) for name, values in filters.items()}
    if "pr_number" in query and "repository" not in query:
        query["repository"] = ",".join(DIMENSIONS["repository"])  # pr_number needs a repository (SPEC 5)
    got = api.get("/ai_usage", start_date="2026-11-01", end_date="2026-11-30", **query, **extra)
    assert got.status == 200, got
    body = got.json()
    totals = (body["summary"]["events"], body["summary"]["total_cost_usd"], body["summary"]["input_tokens"])
    return totals, body


def test_the_events_differ_in_every_filtered_dimension():
    for name, values in DIMENSIONS.items():
        assert {e["_picks"][name] for e in EVENTS} == set(values), name
    assert len({tuple(e["_picks"].values()) for e in EVENTS}) == 8


def test_each_filter_alone_counts_only_its_events(recorded):
    for name, values in DIMENSIONS.items():
        for value in values:
            events, cost, tokens = expected({name: [value]})
            assert 0 < events < 8
            assert summary(recorded, {name: [value]})[0] == (events, cost, tokens), (name, value)


def test_several_values_of_one_filter_count_each(recorded):
    for name, values in DIMENSIONS.items():
        assert summary(recorded, {name: list(values)})[0] == expected({name: list(values)}) == (8, 0.000255, 360), name


def test_two_filters_together_count_the_events_matching_both(recorded):
    matched = 0
    for first, second in combinations(NAMES, 2):
        filters = {first: [DIMENSIONS[first][0]], second: [DIMENSIONS[second][1]]}
        totals, body = summary(recorded, filters, aggregation="day,service")
        assert totals == expected(filters), filters
        assert sum(b["events"] for b in body["aggregations"]["by_service"].values()) == totals[0], filters
        matched += totals[0] > 0
    assert matched >= 20  # most pairs select some events, so a filter that does nothing would show
