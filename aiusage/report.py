"""The terminal report of `aiusage report`: a `GET /ai_usage` answer rendered for people.

`usage_params` says what to ask the API (aggregation day, service, model);
`render_rich` draws a summary panel, cost by service, cost by model (top 10)
and the daily trend with bars; `render_markdown` writes the same as Markdown.
Amounts arrive as the API's exact JSON numbers and are shown for people by `aiusage.money.money`
(cents; more digits only below a cent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from aiusage.money import money

TOP_MODELS = 10
BAR_WIDTH = 40
BLOCKS = " ▏▎▍▌▋▊▉█"


def usage_params(days: int, service: str | None, end: date) -> dict[str, Any]:
    """The `GET /ai_usage` query of the last `days` days ending `end` (inclusive)."""
    return {"start_date": (end - timedelta(days=days - 1)).isoformat(), "end_date": end.isoformat(),
            "aggregation": "day,service,model", "service": service}


def bar(value: float, largest: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar in eighths of a character, `width` long for the largest value."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    return BLOCKS[-1] * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def _ranked(breakdown: dict[str, dict[str, Any]], top: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    entries = sorted(breakdown.items(), key=lambda kv: (-kv[1]["cost_usd"], kv[0]))
    return entries[:top] if top else entries


def _share(cost: float, total: float) -> str:
    return f"{cost / total * 100:.1f}%" if total else "-"


def daily_trend(answer: dict[str, Any]) -> list[tuple[str, float, int]]:
    """(day, cost, calls) for every day of the range, days without usage included."""
    by_day = answer["aggregations"].get("by_day", {})
    start = date.fromisoformat(answer["summary"]["date_range"]["start"])
    end = date.fromisoformat(answer["summary"]["date_range"]["end"])
    days = []
    day = start
    while day <= end:
        entry = by_day.get(day.isoformat()) or {}
        days.append((day.isoformat(), entry.get("cost_usd", 0.0), entry.get("api_calls", 0)))
        day += timedelta(days=1)
    return days


def _summary_rows(answer: dict[str, Any]) -> list[tuple[str, str]]:
    s = answer["summary"]
    r = s["date_range"]
    filters = answer.get("query", {}).get("filters") or {}
    rows = [
        ("Period", f"{r['start']} to {r['end']} (UTC)"),
        ("Total cost", money(s["total_cost_usd"])),
        ("API calls", f"{s['total_api_calls']:,}"),
        ("Events", f"{s['events']:,}"),
        ("Tokens", f"{s['total_tokens']:,} ({s['input_tokens']:,} in, {s['output_tokens']:,} out, "
                   f"{s['cache_read_tokens']:,} cache reads)"),
        ("Average per call", money(s["average_cost_per_call"])),
        ("Unpriced events", f"{s['unpriced_events']:,}"),
    ]
    if filters.get("service"):
        rows.insert(1, ("Service", ", ".join(filters["service"])))
    return rows


def _breakdown_rows(entries: Iterable[tuple[str, dict[str, Any]]], total: float) -> list[tuple[str, ...]]:
    return [(name, money(e["cost_usd"]), _share(e["cost_usd"], total), f"{e['api_calls']:,}", f"{e['tokens']:,}")
            for name, e in entries]


def render_rich(answer: dict[str, Any], console: Any) -> None:
    """Draw the report with rich on `console`."""
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    total = answer["summary"]["total_cost_usd"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in _summary_rows(answer):
        grid.add_row(label, value)
    console.print(Panel(grid, title="aiusage report", expand=False))

    aggs = answer["aggregations"]
    for title, label, entries in (
        ("Cost by service", "Service", _ranked(aggs.get("by_service", {}))),
        (f"Cost by model (top {TOP_MODELS})", "Model", _ranked(aggs.get("by_model", {}), TOP_MODELS)),
    ):
        out = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        out.add_column(label, overflow="fold")  # model ids are copied: wrapped, never cut
        for column in ("Cost", "Share", "Calls", "Tokens"):
            out.add_column(column, justify="right")
        for row in _breakdown_rows(entries, total):
            out.add_row(*row)
        if not entries:
            out.add_row("no usage", "", "", "", "")
        console.print(out)

    trend = daily_trend(answer)
    largest = max((cost for _, cost, _ in trend), default=0.0)
    out = Table(title="Daily trend", box=box.SIMPLE_HEAD, title_justify="left")
    out.add_column("Day")
    out.add_column("Cost", justify="right")
    out.add_column("Calls", justify="right")
    out.add_column("", style="cyan", no_wrap=True)
    for day, cost, calls in trend:
        out.add_row(day, money(cost), f"{calls:,}", bar(cost, largest))
    console.print(out)


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    return lines + ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]


def render_markdown(answer: dict[str, Any]) -> str:
    """The same report as Markdown."""
    total = answer["summary"]["total_cost_usd"]
    aggs = answer["aggregations"]
    lines = ["# aiusage report", ""]
    lines += _md_table(["Measure", "Value"], _summary_rows(answer), right=(1,))
    for title, label, entries in (
        ("Cost by service", "Service", _ranked(aggs.get("by_service", {}))),
        (f"Cost by model (top {TOP_MODELS})", "Model", _ranked(aggs.get("by_model", {}), TOP_MODELS)),
    ):
        lines += ["", f"## {title}", ""]
        lines += _md_table([label, "Cost", "Share", "Calls", "Tokens"], _breakdown_rows(entries, total),
                           right=(1, 2, 3, 4)) if entries else ["No usage."]
    trend = daily_trend(answer)
    largest = max((cost for _, cost, _ in trend), default=0.0)
    lines += ["", "## Daily trend", ""]
    lines += _md_table(["Day", "Cost", "Calls", "Trend"],
                       [(day, money(cost), f"{calls:,}", bar(cost, largest, 20)) for day, cost, calls in trend],
                       right=(1, 2))
    return "\n".join(lines) + "\n"
