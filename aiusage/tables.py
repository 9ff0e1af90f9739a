"""API answers as rich tables for people (the CLI's default; `--format json` prints the answer itself).

Ids that a person copies into another command (key ids, budget ids, event ids) are never
wrapped or cut: their column is `no_wrap` and as wide as the longest id. Other text folds onto
more lines when the terminal is narrow; numbers stay whole. When even that does not fit, a
listing is printed as one block of `field  value` lines per row instead of a table, so nothing
is ever cropped. Money is `aiusage.money.money` (cents; more digits only below a cent); prices
are rates and are shown exactly (`aiusage.money.exact`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from aiusage.money import exact, money

FOLD_MIN = 12  # a text column of a table is never narrower than this (or its longest word)
STATE_STYLE = {"ok": "green", "warning": "yellow", "critical": "red", "exceeded": "bold red"}
PRICE_FIELDS = (
    ("input_per_mtok", "input /MTok"),
    ("output_per_mtok", "output /MTok"),
    ("cache_read_per_mtok", "cache read /MTok"),
    ("cache_write_per_mtok", "cache write /MTok"),
    ("per_request", "per request"),
    ("credits_per_request", "credits /request"),
)


@dataclass
class Listing:
    """Rows under headers: a table when it fits the terminal, else one block per row."""

    title: str | None
    headers: list[str]
    kinds: list[str]  # per column: "id" (never wrapped), "text" (folds), "number" (right, whole)
    rows: list[list[str]] = field(default_factory=list)
    empty: str = "(none)"

    def table(self) -> Table:
        out = Table(title=self.title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False, pad_edge=False)
        for n, (header, kind) in enumerate(zip(self.headers, self.kinds, strict=True)):
            cells = [header, *(Text.from_markup(r[n]).plain for r in self.rows)]
            if kind == "text":  # folds, but never below its longest word (up to FOLD_MIN)
                longest = max(len(word) for cell in cells for word in (cell.split() or [""]))
                out.add_column(header, overflow="fold", min_width=min(longest, FOLD_MIN))
            else:  # ids and numbers: whole, on one line
                out.add_column(header, no_wrap=True, min_width=max(len(line) for c in cells for line in c.split("\n")),
                               justify="right" if kind == "number" else "left")
        for row in self.rows:
            out.add_row(*row)
        if not self.rows:
            out.add_row(self.empty, *("" for _ in self.headers[1:]))
        return out

    def blocks(self) -> Group:
        parts: list[Any] = [Text(self.title, style="italic")] if self.title else []
        for n, row in enumerate(self.rows):
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold", no_wrap=True)
            grid.add_column(overflow="fold")
            for header, value in zip(self.headers, row, strict=True):
                if value:
                    grid.add_row(header, value)
            parts += [Text("")] if n else []
            parts.append(grid)
        if not self.rows:
            parts.append(Text(self.empty))
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table()
        fits = Measurement.get(console, options.update(width=10_000), table).minimum <= options.max_width
        yield table if fits else self.blocks()


def fields_grid(rows: Iterable[tuple[str, str]]) -> Table:
    """One record: `field  value` lines."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def when(value: str | None) -> str:
    """`2026-12-02T01:03:30.75Z` -> `2026-12-02 01:03 UTC` (the offset kept when it is not UTC)."""
    if not value:
        return ""
    if len(value) < 16 or value[10] != "T":
        return value
    rest = value[16:]
    offset = "UTC" if rest.endswith(("Z", "+00:00")) or not rest else rest[-6:]
    return f"{value[:10]} {value[11:16]} {offset}"


def _count(value: Any) -> str:
    if value is None:
        return "-"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def _percent(ratio: Any) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}%"


def _state(state: str | None) -> str:
    return f"[{STATE_STYLE.get(state or '', 'white')}]{state or '-'}[/]"


def scope_text(scope: Mapping[str, Any] | None) -> str:
    if not scope:
        return "(all usage)"
    return ", ".join(f"{k}={json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in scope.items())


# --- keys ---


def _key_status(key: Mapping[str, Any]) -> str:
    if key.get("revoked_at"):
        return f"[dim]revoked {when(key['revoked_at'])}[/]"
    return f"used {when(key['last_used_at'])}" if key.get("last_used_at") else "never used"


def keys_listing(keys: Sequence[Mapping[str, Any]]) -> Listing:
    return Listing(None, ["key_id", "name", "scopes", "created", "status"], ["id", "text", "text", "text", "text"],
                   [[k["key_id"], Text(k["name"]).markup, " ".join(k["scopes"]), when(k.get("created_at")),
                     _key_status(k)] for k in keys],
                   empty="(no keys)")


def key_fields(key: Mapping[str, Any]) -> Table:
    """One key's fields (without the key itself: print that on a line of its own, never wrapped)."""
    rows = [("key_id", key["key_id"]), ("name", Text(key["name"]).markup), ("scopes", " ".join(key["scopes"])),
            ("created", when(key.get("created_at")))]
    rows += [(label, when(key[name])) for label, name in (("last used", "last_used_at"), ("revoked", "revoked_at"))
             if key.get(name)]
    return fields_grid(rows)


# --- budgets ---


def _spent_and_limit(status: Mapping[str, Any], budget: Mapping[str, Any], unit: bool = True) -> tuple[str, str]:
    """(spent, limit) in the budget's own unit (named after the limit when `unit`)."""
    if budget.get("limit_usd") is not None:
        return money(status.get("spent_usd")), money(status.get("limit_usd") or budget["limit_usd"])
    name, spent, limit = (("tokens", status.get("spent_tokens"), budget["limit_tokens"])
                          if budget.get("limit_tokens") is not None else
                          ("credits", status.get("spent_credits"), budget.get("limit_credits")))
    return (f"{_count(spent)} {name}" if unit else _count(spent)), f"{_count(limit)} {name}"


def budgets_listing(budgets: Sequence[Mapping[str, Any]]) -> Listing:
    """Budgets with this period's state; period and scope under the name, the forecast in `budgets status`."""
    rows = []
    for b in budgets:
        s = b.get("status") or {}
        spent, limit = _spent_and_limit(s, b, unit=False)
        name = Text(_text(b.get("name")) or b["budget_id"]).markup
        about = Text(f"{b['period']} · {scope_text(b.get('scope'))}").markup
        rows.append([b["budget_id"], f"{name}\n[dim]{about}[/]", spent, limit, _percent(s.get("utilization")),
                     _state(s.get("state"))])
    return Listing(None, ["budget_id", "name", "spent", "limit", "used", "state"],
                   ["id", "text", "number", "number", "number", "text"], rows, empty="(no budgets)")


def budget_fields(budget: Mapping[str, Any]) -> Table:
    """One budget: its definition, then its status this period."""
    s = budget.get("status") or {}
    spent, limit = _spent_and_limit(s, budget)
    period = budget["period"] + f" ({budget.get('timezone') or 'UTC'}" + (
        f", from day {budget['anchor_day']}" if budget["period"] == "monthly" else "") + ")"
    rows: list[tuple[str, str]] = [
        ("budget_id", budget["budget_id"]),
        ("name", Text(_text(budget.get("name"))).markup),
        ("scope", Text(scope_text(budget.get("scope"))).markup),
        ("period", period),
        ("limit", limit),
        ("thresholds", ", ".join(f"{t * 100:g}%" for t in budget.get("thresholds") or [])),
        ("on limit", (budget.get("action_on_limit") or "warn")
         + (f" (fallback {budget['fallback_model']})" if budget.get("fallback_model") else "")),
        ("forecast alert", "yes" if budget.get("forecast_alert") else "no"),
    ]
    if budget.get("override_until"):
        rows.append(("override until", when(budget["override_until"])))
    if s:
        rows += [("this period", f"{when(s.get('period_start'))} to {when(s.get('period_end'))}"),
                 ("spent", f"{spent} of {limit}"), ("used", _percent(s.get("utilization"))),
                 ("state", _state(s.get("state")))]
        if budget.get("limit_usd") is not None:
            rows += [("remaining", money(s.get("remaining_usd"))),
                     ("burn rate", f"{money(s.get('burn_rate_usd_per_day'))}/day"),
                     ("forecast", money(s.get("forecast_usd")))]
        if s.get("forecast_exhausted_at"):
            rows.append(("runs out", when(s["forecast_exhausted_at"])))
        if s.get("thresholds_crossed"):
            rows.append(("crossed", ", ".join(f"{t * 100:g}%" for t in s["thresholds_crossed"])))
        if s.get("override_active"):
            rows.append(("override", "active"))
    return fields_grid(rows)


def check_listing(decision: Mapping[str, Any]) -> Listing:
    title = (f"{'allowed' if decision['allowed'] else 'NOT allowed'}: {decision['action']}"
             + (f", use {decision['fallback_model']}" if decision.get("fallback_model") else "")
             + (f", retry after {when(decision['retry_after'])}" if decision.get("retry_after") else "")
             + (f" (estimate {money(decision['estimated_cost_usd'])})"
                if decision.get("estimated_cost_usd") is not None else ""))
    rows = [[b["budget_id"], money(b["remaining_usd"]) if b.get("remaining_usd") is not None else "-",
             _percent(b.get("utilization")), _state(b.get("state")), b.get("action") or "-"]
            for b in decision.get("budgets") or []]
    return Listing(title, ["budget_id", "remaining", "used", "state", "action"],
                   ["id", "number", "number", "text", "text"], rows, empty="(no budget applies)")


# --- prices ---


def _price_columns(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(name, header) for name, header in PRICE_FIELDS if any(r.get(name) is not None for r in rows)]


def _price(name: str, value: Any) -> str:
    if value is None:
        return "-"
    return _count(value) if name == "credits_per_request" else exact(value)


def _source(row: Mapping[str, Any]) -> str:
    if row.get("source"):
        return f"{row['source']} {row.get('version') or ''}".strip()
    return row.get("message") or "no price known"


def prices_renderables(answer: Mapping[str, Any]) -> list[Any]:
    """`GET /prices`: the effective price(s), or the override and per-request lists."""
    if "prices" in answer:
        out: list[Any] = []
        for r in answer["prices"]:
            rows = [(label, _text(r.get(name))) for label, name in
                    (("service", "service"), ("model", "model"), ("operation", "operation")) if r.get(name)]
            rows += [(header, _price(name, r[name])) for name, header in PRICE_FIELDS if r.get(name) is not None]
            rows.append(("source", _source(r)))
            out.append(fields_grid(rows))
        return out
    per_request = answer.get("per_request") or []
    return [
        overrides_listing(answer.get("overrides") or [], "Overrides (PUT /prices)"),
        Listing(
            f"Per-request prices (token prices: genai-prices {answer.get('genai_prices_version') or '?'})",
            ["service", "operation", "per request", "version"],
            ["text", "text", "number", "text"],
            [[r["service"], r["operation"], exact(r["per_request"]), _text(r.get("version"))] for r in per_request],
        ),
    ]


def overrides_listing(overrides: Sequence[Mapping[str, Any]], title: str | None = None) -> Listing:
    columns = _price_columns(overrides) or list(PRICE_FIELDS[:2])
    return Listing(title, ["service", "model or operation", "valid from", *(h for _, h in columns)],
                   ["text", "text", "text", *("number" for _ in columns)],
                   [[o["service"], Text(o["model_or_operation"]).markup, when(o.get("valid_from")),
                     *(_price(name, o.get(name)) for name, _ in columns)] for o in overrides])


def record_listing(results: Sequence[Mapping[str, Any]]) -> Listing:
    return Listing(None, ["event_id", "status", "cost", "source"], ["id", "text", "number", "text"],
                   [[Text(r["event_id"]).markup, r["status"],
                     money(r["cost_usd"]) if r.get("cost_usd") is not None else "-", _text(r.get("cost_source"))]
                    for r in results])

