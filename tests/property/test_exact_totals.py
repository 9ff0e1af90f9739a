"""Exactness as a property (SPEC 4.5): any mix of repeats, reorderings and conflicting re-posts, in any batch
split, leaves every total equal to the sum over the distinct stored events — the first stored content of each id.

Checked through the API on a fresh table per example: `GET /ai_usage` (summary and by day, service, model,
operation, user, project and day x service rows), every budget's `spent_usd` (two created before the events,
one after), a monthly report's totals, the POST answers themselves (created / duplicate / conflict) and the
stored events. Costs are known exactly: reported ones, an override price for `acme`, and unpriced `mystery`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.money import usd
from tests.property.ledger import fresh_ledger

IDS = [f"p-{n}" for n in range(6)]
ACME_PRICE = {"input_per_mtok": "1.5", "output_per_mtok": "2.25"}  # USD per million tokens
BUDGETS_BEFORE = {"all": {}, "openai": {"service": "openai"}}
BUDGET_AFTER = ("ana", {"user_id": "ana"})
BREAKDOWNS = ("day", "service", "model", "operation", "user", "project")


@dataclass(frozen=True)
class Usage:
    """What one posted event carries; `cost` is what the ledger must store for it."""

    service: str
    model: str
    operation: str
    offset: float  # where in [start of this month, now) the event happened
    input_tokens: int
    cache_read_tokens: int
    output_tokens: int
    requests: int
    user_id: str | None
    project: str | None
    reported_cost: Decimal | None

    def body(self, event_id: str | None, month_start: datetime, span: timedelta) -> dict:
        ts = month_start + span * self.offset
        body = {"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "service": self.service, "model": self.model,
                "operation": self.operation, "input_tokens": self.input_tokens,
                "cache_read_tokens": self.cache_read_tokens, "output_tokens": self.output_tokens,
                "requests": self.requests}
        body.update(
            {
                k: v
                for k, v in (
                    ("event_id", event_id),
                    ("user_id", self.user_id),
                    ("project", self.project),
                    ("cost_usd", str(self.reported_cost) if self.reported_cost is not None else None),
                )
                if v is not None
            }
        )
        return body

    @property
    def cost(self) -> Decimal:
        if self.reported_cost is not None:
            return self.reported_cost
        if self.service == "acme":
            return (self.input_tokens * Decimal(ACME_PRICE["input_per_mtok"])
                    + self.output_tokens * Decimal(ACME_PRICE["output_per_mtok"])) / 1_000_000
        return Decimal(0)  # mystery: no price anywhere

    def dims(self, ts_day: str) -> dict[str, str]:
        return {"day": ts_day, "service": self.service, "model": self.model, "operation": self.operation,
                "user": self.user_id or "(none)", "project": self.project or "(none)"}


@st.composite
def usages(draw) -> Usage:
    service = draw(st.sampled_from(["openai", "acme", "mystery"]))
    input_tokens = draw(st.integers(0, 50_000))
    return Usage(
        service=service,
        model={"openai": "gpt-4o", "acme": "acme-1", "mystery": "m-x"}[service] + draw(st.sampled_from(["", "-mini"])),
        operation=draw(st.sampled_from(["completion", "embedding"])),
        offset=draw(st.integers(0, 9_999)) / 10_000,
        input_tokens=input_tokens,
        cache_read_tokens=draw(st.integers(0, input_tokens)),
        output_tokens=draw(st.integers(0, 5_000)),
        requests=draw(st.integers(1, 3)),
        user_id=draw(st.sampled_from([None, "ana", "bo"])),
        project=draw(st.sampled_from([None, "web"])),
        reported_cost=(draw(st.decimals(0, 5, places=draw(st.integers(0, 8))))
                       if service == "openai" or draw(st.booleans()) and service == "acme" else None),
    )


@st.composite
def scenarios(draw):
    """Two contents per id (the second differs: a conflict), a posting sequence with repeats, and batch splits."""
    first = {i: draw(usages()) for i in IDS}
    other = {i: draw(usages()) for i in IDS}
    other = {
        i: u if u != first[i] else Usage(**{**u.__dict__, "output_tokens": u.output_tokens + 1})
        for i, u in other.items()
    }
    posts = draw(st.lists(st.one_of(
        st.tuples(st.sampled_from(IDS), st.sampled_from([0, 0, 1])),  # mostly the first content: duplicates
        st.tuples(st.none(), st.integers(0, 1)),  # no event_id: every post is a new event
    ), min_size=1, max_size=24))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(posts) - 1)), max_size=5)))
    batches = [posts[a:b] for a, b in zip([0, *cuts], [*cuts, len(posts)], strict=True) if posts[a:b]]
    anonymous = draw(st.lists(usages(), min_size=len(posts), max_size=len(posts)))
    return first, other, batches, anonymous


def exact_totals(stored: list[tuple[Usage, str]]):
    """Summary and breakdowns over the stored events, money exact (rounded once, at the end, like the API)."""
    def zero():
        return {"cost": Decimal(0), "input": 0, "output": 0, "cache_read": 0, "calls": 0, "events": 0, "unpriced": 0}

    summary, by = zero(), {name: defaultdict(zero) for name in (*BREAKDOWNS, "day,service")}
    for usage, day in stored:
        dims = usage.dims(day)
        keys = {**dims, "day,service": (day, usage.service)}
        for totals in (summary, *(by[name][keys[name]] for name in by)):
            totals["cost"] += usage.cost
            totals["input"] += usage.input_tokens
            totals["output"] += usage.output_tokens
            totals["cache_read"] += usage.cache_read_tokens
            totals["calls"] += usage.requests
            totals["events"] += 1
            totals["unpriced"] += usage.service == "mystery"
    return summary, by


def as_bucket(t: dict) -> dict:
    return {"cost_usd": usd(t["cost"]), "tokens": t["input"] + t["output"], "input_tokens": t["input"],
            "output_tokens": t["output"], "cache_read_tokens": t["cache_read"], "cache_write_tokens": 0,
            "api_calls": t["calls"], "events": t["events"], "unpriced_events": t["unpriced"]}


def canonical(body: dict) -> dict:
    """A body as the ledger compares contents: amounts by value (1.0 and 1.00 are the same cost)."""
    return {**body, "cost_usd": Decimal(body["cost_usd"]).normalize()} if "cost_usd" in body else body


def check_post(api, batch: list[dict], expected_statuses: list[str]) -> None:
    answer = api.post("/ai_usage", {"events": batch} if len(batch) > 1 else batch[0])
    assert answer.status == 200, answer
    assert [r["status"] for r in answer.json()["results"]] == expected_statuses


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario=scenarios())
def test_totals_equal_the_sum_over_distinct_stored_events(aws, scenario):
    first, other, batches, anonymous = scenario
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span = max(now - month_start - timedelta(minutes=2), timedelta(0))
    start_date, end_date = month_start.date().isoformat(), now.date().isoformat()

    with fresh_ledger() as api:
        assert api.put("/prices/acme/acme-1", ACME_PRICE).status == 200
        assert api.put("/prices/acme/acme-1-mini", ACME_PRICE).status == 200
        for budget_id, scope in BUDGETS_BEFORE.items():
            assert (
                api.put(f"/budgets/{budget_id}", {"scope": scope, "period": "monthly", "limit_usd": 10**6}).status
                == 201
            )

        stored: dict[str, Usage] = {}
        sent: dict[str, dict] = {}
        stored_list: list[tuple[Usage, str]] = []
        n = 0
        for batch in batches:
            bodies, statuses = [], []
            for event_id, variant in batch:
                usage = anonymous[n] if event_id is None else (first if variant == 0 else other)[event_id]
                n += 1
                body = usage.body(event_id, month_start, span)
                bodies.append(body)
                day = body["timestamp"][:10]
                if event_id is None:
                    statuses.append("created")
                    stored_list.append((usage, day))
                elif event_id not in stored:
                    stored[event_id], sent[event_id] = usage, canonical(body)
                    statuses.append("created")
                    stored_list.append((usage, day))
                else:  # the same content (as sent) again is a duplicate, other content a conflict
                    statuses.append("duplicate" if sent[event_id] == canonical(body) else "conflict")
            check_post(api, bodies, statuses)

        budget_id, scope = BUDGET_AFTER
        assert api.put(f"/budgets/{budget_id}", {"scope": scope, "period": "monthly", "limit_usd": 10**6}).status == 201

        summary, by = exact_totals(stored_list)
        answer = api.get("/ai_usage", start_date=start_date, end_date=end_date, aggregation=",".join(BREAKDOWNS),
                         group_by="day,service").json()
        got = answer["summary"]
        assert (got["total_cost_usd"], got["input_tokens"], got["output_tokens"], got["cache_read_tokens"],
                got["total_api_calls"], got["events"], got["unpriced_events"]) == (
            usd(summary["cost"]), summary["input"], summary["output"], summary["cache_read"], summary["calls"],
            summary["events"], summary["unpriced"])
        for name in BREAKDOWNS:
            assert answer["aggregations"][f"by_{name}"] == {k: as_bucket(t) for k, t in sorted(by[name].items())}, name
        assert {(r["day"], r["service"]): {k: v for k, v in r.items() if k not in ("day", "service")}
                for r in answer["rows"]} == {k: as_bucket(t) for k, t in by["day,service"].items()}

        budgets = {b["budget_id"]: b["status"] for b in api.get("/budgets").json()["budgets"]}
        matching = {
            "all": lambda u: True,
            "openai": lambda u: u.service == "openai",
            "ana": lambda u: u.user_id == "ana",
        }
        for budget_id, counts in matching.items():
            spent = sum((u.cost for u, _ in stored_list if counts(u)), Decimal(0))
            assert budgets[budget_id]["spent_usd"] == usd(spent), budget_id
            assert budgets[budget_id]["events"] == sum(1 for u, _ in stored_list if counts(u)), budget_id

        report = api.post("/reports", {"kind": "monthly", "period": month_start.strftime("%Y-%m")}).json()
        assert (report["totals"]["total_cost_usd"], report["totals"]["events"], report["totals"]["input_tokens"],
                report["totals"]["total_api_calls"]) == (usd(summary["cost"]), summary["events"], summary["input"],
                                                         summary["calls"])

        events = api.get("/ai_usage/events", start_date=start_date, end_date=end_date, limit=1000).json()["events"]
        assert len(events) == len(stored_list)
        named = {e["event_id"]: e for e in events if e["event_id"] in stored}
        assert set(named) == set(stored)
        for event_id, usage in stored.items():
            e = named[event_id]
            assert (e["input_tokens"], e["output_tokens"], e.get("user_id"), e["cost_usd"]) == (
                usage.input_tokens, usage.output_tokens, usage.user_id, usd(usage.cost))
