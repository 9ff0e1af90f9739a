"""Report periods, anomaly rules, money text and the terminal report renderer: pure functions, no AWS."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shared.errors import ValidationFailed
from shared.periods import ReportPeriod
from shared.reports import (
    RULE_SIGMA,
    RULE_TWICE_MEAN,
    find_anomalies,
    last_complete_period,
    money_text,
    parse_period,
    requested_period,
)
from shared.rollups import Totals

D = Decimal


@pytest.mark.parametrize(("kind", "key", "start", "end", "previous"), [
    ("daily", "2026-11-21", "2026-11-21", "2026-11-21", "2026-11-20"),
    ("daily", "2026-03-01", "2026-03-01", "2026-03-01", "2026-02-28"),
    ("weekly", "2026-W47", "2026-11-16", "2026-11-22", "2026-W46"),
    ("weekly", "2026-W01", "2025-12-29", "2026-01-04", "2025-W52"),
    ("weekly", "2026-W53", "2026-12-28", "2027-01-03", "2026-W52"),
    ("monthly", "2026-11", "2026-11-01", "2026-11-30", "2026-10"),
    ("monthly", "2024-02", "2024-02-01", "2024-02-29", "2024-01"),
    ("monthly", "2026-01", "2026-01-01", "2026-01-31", "2025-12"),
])
def test_period_keys_bounds_and_previous(kind, key, start, end, previous):
    p = parse_period(kind, key)
    assert (p.key, p.start.isoformat(), p.end.isoformat(), p.previous().key) == (key, start, end, previous)
    assert len(p.days) == (p.end - p.start).days + 1


@pytest.mark.parametrize(("kind", "key", "field"), [
    ("hourly", "2026-11-21", "kind"),
    (None, "2026-11-21", "kind"),
    ("daily", "2026-11-21T00:00", "period"),
    ("daily", "2026-02-30", "period"),
    ("weekly", "2026-47", "period"),
    ("weekly", "2025-W53", "period"),  # 2025 has 52 ISO weeks
    ("weekly", "2026-W00", "period"),
    ("monthly", "2026-1", "period"),
    ("monthly", "2026-00", "period"),
    ("monthly", None, "period"),
])
def test_bad_kind_or_period_names_the_field(kind, key, field):
    with pytest.raises(ValidationFailed) as caught:
        parse_period(kind, key, "body")
    assert caught.value.details == [{"loc": ["body", field], "msg": caught.value.details[0]["msg"]}]


@pytest.mark.parametrize(("kind", "now", "key"), [
    ("daily", "2026-11-21T06:00:00Z", "2026-11-20"),
    ("daily", "2026-11-21T00:00:00Z", "2026-11-20"),
    ("weekly", "2026-11-23T06:00:00Z", "2026-W47"),  # Monday
    ("weekly", "2026-11-22T23:59:59Z", "2026-W46"),  # Sunday: W47 is not over yet
    ("monthly", "2026-12-01T06:00:00Z", "2026-11"),
    ("monthly", "2027-01-01T06:00:00Z", "2026-12"),
])
def test_last_complete_period(kind, now, key):
    assert last_complete_period(kind, datetime.fromisoformat(now)).key == key


def test_requested_period_refuses_one_that_has_not_started():
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    assert requested_period("daily", "2026-11-21", now).key == "2026-11-21"  # current: allowed (partial)
    assert requested_period("monthly", None, now).key == "2026-10"
    for kind, key in (("daily", "2026-11-22"), ("weekly", "2026-W48"), ("monthly", "2026-12")):
        with pytest.raises(ValidationFailed) as caught:
            requested_period(kind, key, now)
        assert caught.value.details[0]["loc"] == ["body", "period"]


def test_period_containing_a_day():
    day = date(2026, 11, 19)  # a Thursday
    assert ReportPeriod.containing("weekly", day).key == "2026-W47"
    assert ReportPeriod.containing("monthly", day).key == "2026-11"
    assert ReportPeriod.containing("daily", day).key == "2026-11-19"


def series(costs: dict[str, str]) -> dict[date, Totals]:
    return {date.fromisoformat(d): Totals(cost_usd=D(c), events=1) for d, c in costs.items()}


def days_from(first: str, costs: list[str]) -> dict[str, str]:
    start = date.fromisoformat(first)
    return {(start + timedelta(days=n)).isoformat(): c for n, c in enumerate(costs)}


def test_three_sigma_rule_with_full_history():
    # 14 days alternating 1.00 / 1.20: mean 1.10, population std dev 0.10, threshold 1.40
    history = days_from("2026-11-01", ["1.00", "1.20"] * 7)
    by_day = series({**history, "2026-11-15": "1.41"})
    (a,) = find_anomalies([date(2026, 11, 15)], by_day, {})
    assert (a.service, a.cost, a.mean, a.stddev, a.threshold, a.history_days, a.rule) == (
        None, D("1.41"), D("1.1"), D("0.1"), D("1.4"), 14, RULE_SIGMA)
    assert find_anomalies([date(2026, 11, 15)], series({**history, "2026-11-15": "1.40"}), {}) == []  # not over


def test_twice_the_mean_rule_with_short_history_and_nothing_without_history():
    by_day = series({"2026-11-01": "1", "2026-11-02": "2", "2026-11-03": "3", "2026-11-04": "4.01"})
    (a,) = find_anomalies([date(2026, 11, 4)], by_day, {})
    assert (a.rule, a.history_days, a.mean, a.threshold) == (RULE_TWICE_MEAN, 3, D(2), D(4))
    assert find_anomalies([date(2026, 11, 4)], series({**{k: str(v) for k, v in [("2026-11-01", 1), ("2026-11-02", 2),
                                                                                 ("2026-11-03", 3)]},
                                                       "2026-11-04": "4"}), {}) == []
    assert find_anomalies([date(2026, 11, 1)], series({"2026-11-01": "100"}), {}) == []  # the first day ever
    # Six days of history is still short; seven is not.
    six = series({**days_from("2026-11-01", ["1"] * 6), "2026-11-07": "2.5"})
    assert [a.rule for a in find_anomalies([date(2026, 11, 7)], six, {})] == [RULE_TWICE_MEAN]
    seven = series({**days_from("2026-11-01", ["1"] * 7), "2026-11-08": "1.5"})
    assert [a.rule for a in find_anomalies([date(2026, 11, 8)], seven, {})] == [RULE_SIGMA]


def test_history_is_the_trailing_14_days_only():
    old_spike = days_from("2026-10-01", ["50"])  # outside the window of 11-15
    by_day = series({**old_spike, **days_from("2026-11-01", ["1"] * 14), "2026-11-15": "1.5"})
    (a,) = find_anomalies([date(2026, 11, 15)], by_day, {})
    assert (a.mean, a.history_days) == (D(1), 14)


def test_service_anomalies_count_quiet_days_as_zero_once_the_ledger_has_data():
    by_day = series({**days_from("2026-11-01", ["1"] * 14), "2026-11-15": "1.2"})
    by_day_service = {(d, "openai"): t for d, t in by_day.items()}
    by_day_service[(date(2026, 11, 15), "google")] = Totals(cost_usd=D("0.2"), events=1)
    by_day_service[(date(2026, 11, 15), "openai")] = Totals(cost_usd=D("1.0"), events=1)
    anomalies = find_anomalies([date(2026, 11, 15)], by_day, by_day_service)
    # the day (1.2 over a constant 1.0) and google (0.2 after 14 days at 0); openai spent its usual 1.0
    assert [(a.service, a.rule, a.mean) for a in anomalies] == [(None, RULE_SIGMA, D(1)), ("google", RULE_SIGMA, D(0))]


def test_a_floor_keeps_pennies_from_being_anomalies():
    # The trial's case: one $0.0128 call after a first day that cost $0.00 ("over twice the mean" of 0).
    first_days = {
        date(2026, 11, 1): Totals(cost_usd=D(0), events=3),
        date(2026, 11, 2): Totals(cost_usd=D("0.0128"), events=1),
    }
    assert (
        find_anomalies([date(2026, 11, 2)], first_days, {(date(2026, 11, 2), "openai"): first_days[date(2026, 11, 2)]})
        == []
    )
    # A cent's wobble on a perfectly steady day: 3 sigma of nothing is nothing, the floor is $0.05 ...
    steady = days_from("2026-11-01", ["0.50"] * 14)
    assert find_anomalies([date(2026, 11, 15)], series({**steady, "2026-11-15": "0.54"}), {}) == []
    (a,) = find_anomalies([date(2026, 11, 15)], series({**steady, "2026-11-15": "0.56"}), {})
    assert (a.cost, a.mean, a.stddev, a.threshold, a.rule) == (D("0.56"), D("0.5"), D(0), D("0.55"), RULE_SIGMA)
    # ... or 5% of the usual daily total when that is more: a new $4 service on a $100 day is not news, $6 is.
    big = series({**days_from("2026-11-01", ["100"] * 14), "2026-11-15": "104"})
    for cost, flagged in (("4", False), ("6", True)):
        services = {(date(2026, 11, 15), "google"): Totals(cost_usd=D(cost), events=1)}
        found = [(x.service, x.threshold) for x in find_anomalies([date(2026, 11, 15)], big, services)]
        assert found == ([("google", D(5))] if flagged else [])


@pytest.mark.parametrize(("amount", "text"), [
    (D("5.82"), "$5.82"), (D("0.00025"), "$0.00025"), (D("0.0000025"), "$0.000003"), (D("1234.5"), "$1,234.50"),
    (D(0), "$0.00"), (D("-1.2"), "-$1.20"), (0.1, "$0.10"), (None, "-"),
])
def test_money_text(amount, text):
    assert money_text(amount) == text


def test_signed_money_text():
    assert (money_text(D("4.02"), signed=True), money_text(D("-4.02"), signed=True)) == ("+$4.02", "-$4.02")


# --- the terminal report (aiusage/report.py) ---------------------------------------------------

ANSWER = {
    "summary": {"total_cost_usd": 6.5, "input_tokens": 3000, "output_tokens": 300, "cache_read_tokens": 100,
                "cache_write_tokens": 0, "total_tokens": 3300, "total_api_calls": 4, "events": 3,
                "unpriced_events": 1, "average_cost_per_call": 1.625,
                "date_range": {"start": "2026-11-13", "end": "2026-11-15"}},
    "aggregations": {
        "by_day": {"2026-11-13": {"cost_usd": 2.0, "api_calls": 1}, "2026-11-15": {"cost_usd": 4.5, "api_calls": 3}},
        "by_service": {"openai": {"cost_usd": 4.5, "api_calls": 3, "tokens": 2200},
                       "anthropic": {"cost_usd": 2.0, "api_calls": 1, "tokens": 1100}},
        "by_model": {f"m{i:02d}": {"cost_usd": float(i), "api_calls": 1, "tokens": 10} for i in range(12)},
    },
    "query": {"filters": {}},
}


def test_bars_scale_to_the_largest_value():
    from aiusage.report import bar

    assert bar(4.5, 4.5, 10) == "█" * 10
    assert bar(2.25, 4.5, 10) == "█" * 5
    assert bar(0.1, 4.5, 10) == "▎"  # 1.78 eighths
    assert bar(0.01, 4.5, 10) == "▏"  # never invisible when there was spend
    assert bar(0, 4.5, 10) == "" and bar(1, 0, 10) == ""


def test_terminal_markdown_has_summary_services_top_models_and_every_day():
    from aiusage.report import render_markdown

    text = render_markdown(ANSWER)
    assert "| Total cost | $6.50 |" in text and "| Unpriced events | 1 |" in text
    services = text.split("## Cost by service")[1].split("##")[0]
    assert services.index("| openai | $4.50 | 69.2% | 3 | 2,200 |") < services.index("| anthropic | $2.00 | 30.8% |")
    models = text.split("## Cost by model (top 10)")[1].split("##")[0]
    assert "| m11 | $11.00 |" in models and "| m02 |" in models and "| m01 |" not in models
    trend = text.split("## Daily trend")[1]
    assert "| 2026-11-13 | $2.00 | 1 | " + "█" * 8 + "▉ |" in trend
    assert "| 2026-11-14 | $0.00 | 0 |  |" in trend  # a day without usage is still a row
    assert "| 2026-11-15 | $4.50 | 3 | " + "█" * 20 + " |" in trend


def test_terminal_table_renders_with_rich():
    from rich.console import Console

    from aiusage.report import render_rich

    console = Console(record=True, width=120)
    render_rich(ANSWER, console)
    text = console.export_text()
    for expected in ("aiusage report", "Total cost", "$6.50", "Cost by service", "Cost by model (top 10)",
                     "Daily trend", "2026-11-14", "█" * 40):
        assert expected in text
    assert "m01" not in text
