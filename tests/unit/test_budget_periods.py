"""Budget periods in IANA timezones: boundaries, DST, anchor days (SPEC 6)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.budgets import period_of, state_of


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_berlin_month_starts_at_23_utc_the_day_before():
    p = period_of("monthly", "Europe/Berlin", 1, utc(2026, 10, 31, 23, 30))
    assert p.key == "2026-11"
    assert p.start.astimezone(UTC) == utc(2026, 10, 31, 23, 0)
    assert p.end.astimezone(UTC) == utc(2026, 11, 30, 23, 0)
    assert p.start.isoformat() == "2026-11-01T00:00:00+01:00"
    assert period_of("monthly", "Europe/Berlin", 1, utc(2026, 10, 31, 22, 59, 59)).key == "2026-10"


def test_october_in_berlin_is_one_hour_longer_because_of_dst():
    p = period_of("monthly", "Europe/Berlin", 1, utc(2026, 10, 15))
    assert p.start.astimezone(UTC) == utc(2026, 9, 30, 22, 0)  # CEST, +02:00
    assert p.end.astimezone(UTC) == utc(2026, 10, 31, 23, 0)  # CET, +01:00
    assert p.end.astimezone(UTC) - p.start.astimezone(UTC) == timedelta(days=31, hours=1)


@pytest.mark.parametrize("tz, day, hours", [
    ("Europe/Berlin", (2026, 3, 29), 23),
    ("Europe/Berlin", (2026, 10, 25), 25),
    ("America/New_York", (2026, 3, 8), 23),
    ("America/New_York", (2026, 11, 1), 25),
    ("UTC", (2026, 3, 29), 24),
])
def test_daily_periods_follow_local_midnight_across_dst(tz, day, hours):
    p = period_of("daily", tz, 1, utc(*day, 12))
    assert p.key == "{:04d}-{:02d}-{:02d}".format(*day)
    assert (p.end.astimezone(UTC) - p.start.astimezone(UTC)).total_seconds() == hours * 3600


def test_anchor_day_starts_the_month_on_that_day():
    p = period_of("monthly", "UTC", 15, utc(2026, 11, 14, 23, 59))
    assert (p.key, p.start.date().isoformat(), p.end.date().isoformat()) == ("2026-10-15", "2026-10-15", "2026-11-15")
    p = period_of("monthly", "UTC", 15, utc(2026, 11, 15))
    assert p.key == "2026-11-15"
    p = period_of("monthly", "America/Los_Angeles", 28, utc(2026, 3, 1, 7))  # Feb 28 23:00 in LA
    assert (p.key, p.end.date().isoformat()) == ("2026-02-28", "2026-03-28")


def test_weekly_quarterly_yearly_total():
    w = period_of("weekly", "Asia/Tokyo", 1, utc(2026, 11, 22, 16))  # Monday 01:00 in Tokyo
    assert (w.key, w.start.isoformat()) == ("2026-W48", "2026-11-23T00:00:00+09:00")
    q = period_of("quarterly", "UTC", 1, utc(2026, 11, 21))
    assert (q.key, q.start.date().isoformat(), q.end.date().isoformat()) == ("2026-Q4", "2026-10-01", "2027-01-01")
    y = period_of("yearly", "Europe/Berlin", 1, utc(2026, 12, 31, 23, 30))
    assert y.key == "2027"
    t = period_of("total", "UTC", 1, utc(2026, 11, 21))
    assert (t.key, t.end) == ("total", None)


@pytest.mark.parametrize(
    "u, state",
    [
        ("0", "ok"),
        ("0.7499", "ok"),
        ("0.75", "warning"),
        ("0.8999", "warning"),
        ("0.9", "critical"),
        ("0.99999", "critical"),
        ("1", "exceeded"),
        ("3", "exceeded"),
    ],
)
def test_state_bands(u, state):
    assert state_of(Decimal(u)) == state
