"""Aggregate cells: which cells an event adds to, and folding cells into answers.

Writing: `event_cells(event)` names the cells an event counts in; the
aggregator (`shared/aggregation.py`) merges the counters of a whole stream
batch into one delta per cell, so 1,000 events in the same hour touch a few
dozen cells, not 7,000. Reading: `Record`s (from cells or, for job/batch/PR views, raw
events) fold into a summary, `by_<name>` breakdowns and cross-tab rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any, cast

from shared import table
from shared.events import UsageEvent
from shared.money import ZERO, round_usd, usd

TIME_NAMES = ("hour", "day", "week", "month")
CELL_NAMES = ("service", "model", "operation")
DIMENSION_NAMES = tuple(table.DIMENSIONS)  # user, project, repository, job, batch
AGGREGATION_NAMES = TIME_NAMES + CELL_NAMES + DIMENSION_NAMES
NONE_KEY = "(none)"


@dataclass(slots=True)
class Totals:
    """The counters of SPEC 5, summed exactly (money as Decimal)."""

    cost_usd: Decimal = ZERO
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 0
    events: int = 0
    unpriced_events: int = 0
    credits: Decimal = ZERO

    @classmethod
    def of_event(cls, e: UsageEvent) -> Totals:
        c = e.counts
        return cls(
            cost_usd=e.cost_usd or ZERO,
            input_tokens=c.input_tokens,
            output_tokens=c.output_tokens,
            cache_read_tokens=c.cache_read_tokens,
            cache_write_tokens=c.cache_write_tokens,
            reasoning_tokens=c.reasoning_tokens,
            requests=e.requests,
            events=1,
            unpriced_events=1 if e.cost_source == "unpriced" else 0,
            credits=e.credits or ZERO,
        )

    @classmethod
    def of_item(cls, item: Mapping[str, Any]) -> Totals:
        """From a stored cell or spend item (DynamoDB numbers arrive as Decimal)."""
        values: dict[str, Any] = {
            name: (Decimal(item.get(name, 0)) if name in ("cost_usd", "credits") else int(item.get(name, 0)))
            for name in table.COUNTERS
        }
        return cls(**values)

    def add(self, other: Totals) -> Totals:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def scaled(self, factor: int) -> Totals:
        """These totals times `factor` (-1: what removing them subtracts)."""
        return Totals(**{f.name: getattr(self, f.name) * factor for f in fields(self)})

    def counters(self) -> dict[str, Any]:
        """Non-zero counters, for an `ADD` update."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_json(self) -> dict[str, Any]:
        """One breakdown entry: money rounded once, here."""
        return {
            "cost_usd": usd(self.cost_usd),
            "tokens": self.tokens,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "api_calls": self.requests,
            "events": self.events,
            "unpriced_events": self.unpriced_events,
        }

    def summary_json(self) -> dict[str, Any]:
        average = round_usd(self.cost_usd / self.requests) if self.requests else ZERO
        return {
            "total_cost_usd": usd(self.cost_usd),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.tokens,
            "total_api_calls": self.requests,
            "events": self.events,
            "unpriced_events": self.unpriced_events,
            "credits": float(self.credits) if self.credits else 0,
            "average_cost_per_call": usd(average),
        }


@dataclass(slots=True)
class CellDelta:
    """What one write adds to one cell: its dimension attributes and the counters."""

    attributes: dict[str, str]
    totals: Totals = field(default_factory=Totals)


def event_cells(e: UsageEvent) -> list[tuple[dict[str, str], dict[str, str]]]:
    """(key, dimension attributes) of every cell the event counts in."""
    ts = e.ts.strftime("%Y-%m-%dT%H")
    day, hour = ts[:10], ts[11:13]
    dims = {"service": e.service, "model": e.model, "operation": e.operation}
    cells = [
        (table.hour_cell_key(day, hour, e.service, e.model, e.operation), {"day": day, "hour": hour, **dims}),
        (table.day_cell_key(day, e.service, e.model, e.operation), {"day": day, **dims}),
    ]
    for name, (_, attr, count_unset) in table.DIMENSIONS.items():
        value = getattr(e, attr) or ""
        if not value and not count_unset:
            continue
        cells.append((table.dimension_cell_key(name, day, value), {"day": day, "dimension": name, "value": value}))
    return cells


# --- reading ----------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    """A slice of usage with its dimension values, from a cell or a raw event."""

    dims: dict[str, str | None]
    totals: Totals


def record_of_cell(item: Mapping[str, Any]) -> Record:
    dims: dict[str, str | None] = {"day": item["day"]}
    if "hour" in item:
        dims["hour"] = item["hour"]
    if "dimension" in item:
        dims[item["dimension"]] = item["value"] or None
    else:
        dims.update(service=item["service"], model=item["model"], operation=item["operation"])
    return Record(dims, Totals.of_item(item))


def record_of_event(e: UsageEvent) -> Record:
    ts = e.ts.strftime("%Y-%m-%dT%H")
    dims = {
        "day": ts[:10], "hour": ts[11:13], "service": e.service, "model": e.model, "operation": e.operation,
        "user": e.user_id, "project": e.project, "repository": e.repository, "job": e.job_id, "batch": e.batch_id,
    }
    return Record(dims, Totals.of_event(e))


def bucket(name: str, dims: Mapping[str, str | None]) -> str | None:
    """The key of `dims` under aggregation `name` (`hour` -> `YYYY-MM-DDTHH`, `week` -> `YYYY-Www`)."""
    if name == "hour":
        return f"{dims['day']}T{dims['hour']}"
    if name == "week":
        year, week, _ = date.fromisoformat(cast(str, dims["day"])).isocalendar()  # every cell has its day
        return f"{year}-W{week:02d}"
    if name == "month":
        return cast(str, dims["day"])[:7]
    return dims.get(name) or None


@dataclass
class Folded:
    """An answer before rounding: exact totals, breakdowns by name and key, and group_by rows."""

    summary: Totals
    by: dict[str, dict[str, Totals]]
    rows: dict[tuple[str | None, ...], Totals]

    def aggregations_json(self, names: list[str]) -> dict[str, Any]:
        return {f"by_{n}": {k: t.as_json() for k, t in sorted(self.by[n].items())} for n in names}

    def rows_json(self, group_by: list[str]) -> list[dict[str, Any]]:
        ordered = sorted(self.rows.items(), key=lambda kv: tuple("" if v is None else v for v in kv[0]))
        return [{**dict(zip(group_by, key, strict=True)), **t.as_json()} for key, t in ordered]


def fold(records: Iterable[Record], aggregation: list[str], group_by: list[str]) -> Folded:
    """Sum records into a summary, `by_<name>` maps and group_by rows, exactly."""
    folded = Folded(Totals(), {name: {} for name in aggregation}, {})
    for r in records:
        folded.summary.add(r.totals)
        for name in aggregation:
            k = bucket(name, r.dims)
            folded.by[name].setdefault(NONE_KEY if k is None else k, Totals()).add(r.totals)
        if group_by:
            folded.rows.setdefault(tuple(bucket(n, r.dims) for n in group_by), Totals()).add(r.totals)
    return folded
