"""Calendar math: the one `Period` (a budget's span of time), `ReportPeriod` (a report's UTC days) and
month stepping.

Every module that walks months or asks which period a moment falls in comes
here, so a month always steps to the 1st of the next one (never by adding 32
days) and a monthly period ends at the same anchor day of the next month,
clamped to its last day.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

PeriodKind = Literal["daily", "weekly", "monthly", "quarterly", "yearly", "total"]
Day = TypeVar("Day", date, datetime)


@dataclass(frozen=True)
class Period:
    """A span of a budget's calendar: local-midnight boundaries in its timezone."""

    start: datetime  # aware, in the budget's timezone
    end: datetime | None  # None: the `total` period never ends
    key: str

    def as_json(self) -> dict[str, str | None]:
        return {"key": self.key, "start": self.start.isoformat(), "end": self.end.isoformat() if self.end else None}


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def add_months(d: date, months: int) -> date:
    """The same day `months` later (or earlier), clamped to the last day of a shorter month."""
    month = d.month - 1 + months
    year = d.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def month_start(d: Day) -> Day:
    """Midnight of the 1st of the month of `d` (a date stays a date; a datetime keeps its timezone)."""
    if isinstance(d, datetime):
        return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return d.replace(day=1)


def next_month(d: Day) -> Day:
    """The 1st of the month after the month of `d` (at midnight for a datetime)."""
    first = month_start(d)
    return first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)


def month_end(d: date) -> date:
    """The last day of the month of `d`."""
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def months_between(start: date, end: date) -> list[str]:
    """Every month (`YYYY-MM`) from the month of `start` through the month of `end`."""
    months, month = [], month_start(start)
    while month <= end:
        months.append(month.strftime("%Y-%m"))
        month = next_month(month)
    return months


def period_of(kind: str, timezone: str, anchor_day: int, at: datetime) -> Period:
    """The period of `kind` containing `at`, with local-midnight boundaries in `timezone` (DST-safe)."""
    tz = zone(timezone)
    local = at.astimezone(tz)
    d = local.date()

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=tz)

    if kind == "daily":
        return Period(midnight(d), midnight(d + timedelta(days=1)), d.isoformat())
    if kind == "weekly":
        monday = d - timedelta(days=d.weekday())
        year, week, _ = monday.isocalendar()
        return Period(midnight(monday), midnight(monday + timedelta(days=7)), f"{year}-W{week:02d}")
    if kind == "monthly":
        start = (
            date(d.year, d.month, anchor_day)
            if d.day >= anchor_day
            else add_months(date(d.year, d.month, anchor_day), -1)
        )
        key = start.strftime("%Y-%m") if anchor_day == 1 else start.isoformat()
        return Period(midnight(start), midnight(add_months(start, 1)), key)
    if kind == "quarterly":
        start = date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
        return Period(midnight(start), midnight(add_months(start, 3)), f"{d.year}-Q{(d.month - 1) // 3 + 1}")
    if kind == "yearly":
        return Period(midnight(date(d.year, 1, 1)), midnight(date(d.year + 1, 1, 1)), str(d.year))
    return Period(datetime(1970, 1, 1, tzinfo=UTC).astimezone(tz), None, "total")


@dataclass(frozen=True)
class ReportPeriod:
    """A report period: its kind and first day (UTC); the rest follows."""

    kind: str
    start: date

    @property
    def end(self) -> date:
        if self.kind == "daily":
            return self.start
        if self.kind == "weekly":
            return self.start + timedelta(days=6)
        return month_end(self.start)

    @property
    def key(self) -> str:
        if self.kind == "daily":
            return self.start.isoformat()
        if self.kind == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return self.start.strftime("%Y-%m")

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def previous(self) -> ReportPeriod:
        if self.kind == "daily":
            return ReportPeriod("daily", self.start - timedelta(days=1))
        if self.kind == "weekly":
            return ReportPeriod("weekly", self.start - timedelta(days=7))
        return ReportPeriod("monthly", (self.start - timedelta(days=1)).replace(day=1))

    @classmethod
    def containing(cls, kind: str, day: date) -> ReportPeriod:
        if kind == "daily":
            return cls(kind, day)
        if kind == "weekly":
            return cls(kind, day - timedelta(days=day.weekday()))
        return cls(kind, day.replace(day=1))
