"""Query parameters, read at the HTTP edge: what the route signatures validate, turned into typed arguments.

Powertools validates each declared parameter (`Query(...)` in the route
signatures: type, pattern, bounds) and answers a 400 naming it. What a
pattern cannot say is checked here, each failure naming its parameter the
SPEC 3 way (`["query", name]`): dates and ranges, names of breakdowns,
comma lists of filter values bounded like the stored values they match.
Empty values count as absent (`?service=` is no filter). `shared/` receives
dates, lists and numbers, never a query string.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.errors import ValidationFailed
from shared.models import BUDGET_ID_PATTERN, EARLIEST, LATEST_DATE, SLUG, parse_timestamp
from shared.rollups import AGGREGATION_NAMES

MAX_RANGE_DAYS = 400
DEFAULT_RANGE_DAYS = 30

# A query value is compared with stored values, so it is bounded like them: a
# value no event could hold is a 400 naming the parameter, not an empty answer
# (or a DynamoDB key too long to query). Comma lists hold at most this many values.
MAX_QUERY_VALUES = 50
_DIGITS = re.compile(r"^\d{1,16}$")
QUERY_VALUE_RULES: dict[str, tuple[int, re.Pattern[str] | None, str]] = {
    "service": (64, SLUG, "a service name: lower case letters, digits and _ . - (at most 64)"),
    "operation": (64, SLUG, "an operation name: lower case letters, digits and _ . - (at most 64)"),
    "model": (200, None, "a model name of at most 200 characters"),
    "user_id": (128, None, "at most 128 characters"),
    "project": (128, None, "at most 128 characters"),
    "job_id": (128, None, "at most 128 characters"),
    "batch_id": (128, None, "at most 128 characters"),
    "repository": (200, None, "an owner/name repository of at most 200 characters"),
    "pr_number": (16, _DIGITS, "a pull request number"),
    "budget_id": (
        64,
        re.compile(BUDGET_ID_PATTERN),
        "a budget id: 1..64 of [A-Za-z0-9._-], starting with a letter or digit",
    ),
}


def query_values(name: str, raw: str, *, lower: bool = False, many: bool = True) -> list[str]:
    """The values of query parameter `name` (a comma list when `many`), each checked like a stored value."""
    max_length, pattern, wanted = QUERY_VALUE_RULES[name]
    values = [v.strip() for v in raw.split(",")] if many else [raw.strip()]
    values = list(dict.fromkeys(v.lower() if lower else v for v in values if v))  # a value counts once
    if len(values) > MAX_QUERY_VALUES:
        raise ValidationFailed.at(["query", name], f"at most {MAX_QUERY_VALUES} comma-separated values")
    for value in values:
        if len(value) > max_length or (pattern is not None and not pattern.match(value)):
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise ValidationFailed.at(["query", name], f"{shown!r} is not {wanted}")
    return values


def known_parameters(app: Any, next_middleware: Callable[[Any], Any]) -> Any:
    """Route middleware: a query parameter the route does not declare is a 400 (a typo must not widen a query)."""
    declared = {p.alias for p in app.context["_route"].dependant.query_params}
    for name in app.current_event.query_string_parameters or {}:
        if name not in declared:
            raise ValidationFailed.at(["query", name], "unknown parameter")
    return next_middleware(app)


def parse_date(value: str, name: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.at(["query", name], "must be a date YYYY-MM-DD") from None
    if not EARLIEST.date() <= parsed <= LATEST_DATE:
        raise ValidationFailed.at(["query", name], f"must be from {EARLIEST.date()} to {LATEST_DATE}")
    return parsed


def date_range(start_date: str | None, end_date: str | None, *, today: date | None = None) -> tuple[date, date]:
    """`start_date`..`end_date`, inclusive: default the 30 days ending today, at most 400 days."""
    today = today or datetime.now(UTC).date()
    end = parse_date(end_date, "end_date") if end_date else today
    start = parse_date(start_date, "start_date") if start_date else end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end:
        raise ValidationFailed.at(["query", "start_date"], "is after end_date")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed.at(["query", "end_date"], f"the range is longer than {MAX_RANGE_DAYS} days")
    return start, end


def names(value: str | None, param: str, default: list[str]) -> list[str]:
    """A comma list of breakdown names (`day,service`), each once, in order; empty means `default`."""
    if value is None or value.strip() == "":
        return list(default)
    found: list[str] = []
    for raw in value.split(","):
        name = raw.strip().lower()
        if name not in AGGREGATION_NAMES:
            raise ValidationFailed.at(["query", param], f"unknown name {name!r}; use {', '.join(AGGREGATION_NAMES)}")
        if name not in found:
            found.append(name)
    return found


def values(name: str, raw: str | None, *, lower: bool = False) -> list[str]:
    """A filter's comma list of values (each bounded like the stored value), or [] when absent or empty."""
    return query_values(name, raw, lower=lower) if raw else []


def value(name: str, raw: str | None, *, lower: bool = False) -> str | None:
    """One filter value (bounded like the stored value), or None when absent or empty."""
    return next(iter(query_values(name, raw, lower=lower, many=False)), None) if raw else None


def since(raw: str | None, name: str = "since") -> datetime | None:
    """RFC 3339 with offset, or YYYY-MM-DD (midnight UTC); None when absent or empty."""
    if not raw:
        return None
    try:
        return parse_timestamp(raw + "T00:00:00Z" if len(raw) == 10 else raw)
    except ValueError as exc:
        raise ValidationFailed.at(["query", name], str(exc)) from None
