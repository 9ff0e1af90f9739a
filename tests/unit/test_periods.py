"""The calendar module: month stepping and the one `Period` (no DynamoDB, no moto)."""

from datetime import UTC, date, datetime, timedelta, timezone

from shared.periods import Period, add_months, month_end, month_start, months_between, next_month, period_of


def test_add_months_clamps_to_the_last_day_of_a_shorter_month():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)  # leap year
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 2) == date(2027, 1, 15)
    assert add_months(date(2026, 1, 15), -13) == date(2024, 12, 15)


def test_next_month_steps_to_the_first_of_the_next_month_across_the_year():
    assert next_month(date(2026, 12, 31)) == date(2027, 1, 1)
    assert next_month(date(2026, 1, 31)) == date(2026, 2, 1)
    aware = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)
    assert next_month(aware) == datetime(2026, 2, 1, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    assert next_month(datetime(2026, 12, 5, 7, tzinfo=plus_two)) == datetime(2027, 1, 1, tzinfo=plus_two)


def test_month_start_and_end():
    assert month_start(date(2026, 2, 17)) == date(2026, 2, 1)
    assert month_start(datetime(2026, 2, 17, 5, 6, 7, 8, tzinfo=UTC)) == datetime(2026, 2, 1, tzinfo=UTC)
    assert month_end(date(2026, 2, 17)) == date(2026, 2, 28)
    assert month_end(date(2028, 2, 1)) == date(2028, 2, 29)
    assert month_end(date(2026, 12, 1)) == date(2026, 12, 31)


def test_months_between_lists_every_month_inclusive():
    assert months_between(date(2026, 11, 30), date(2027, 2, 1)) == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert months_between(date(2026, 1, 31), date(2026, 3, 1)) == ["2026-01", "2026-02", "2026-03"]
    assert months_between(date(2026, 5, 5), date(2026, 5, 5)) == ["2026-05"]
    assert months_between(date(2026, 5, 5), date(2026, 4, 5)) == []


def test_a_period_as_json_names_its_key_and_bounds():
    p = period_of("monthly", "UTC", 1, datetime(2026, 11, 21, tzinfo=UTC))
    assert p == Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "2026-11")
    assert p.as_json() == {"key": "2026-11", "start": "2026-11-01T00:00:00+00:00", "end": "2026-12-01T00:00:00+00:00"}
    total = period_of("total", "UTC", 1, datetime(2026, 11, 21, tzinfo=UTC))
    assert total.as_json()["end"] is None and total.key == "total"
