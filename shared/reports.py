"""Reports (SPEC 7): building, rendering (JSON and Markdown), storing and listing them.

A report covers one period — a day (`2026-11-21`), an ISO week (`2026-W47`)
or a month (`2026-11`) — and holds its totals, breakdowns by service, model and
operation, the top users, jobs and repositories by cost, every budget's status in
its period containing the report period's end (`budgets_at_end`),
the change against the previous period of the same kind, anomalies and the
month-end forecast.

Everything is read from aggregate cells through `query.aggregate` (two
queries: the period itself with its breakdowns, and a day x service history
that covers the previous period, the anomaly window and month to date), never
from raw events. Money stays Decimal in `Report`; `report_json` rounds it
once, half-up to 6 places, and `report_markdown` rounds the exact amounts once
for display.

Anomalies: for every day of the period, the day's total — and each service's
cost that day — is compared with its trailing 14-day mean. History starts at
the first day in that window on which anything at all was recorded (days
before the ledger had data are not history; later days without spend count as
$0). With 7 or more days of history the rule is "over the mean + 3 standard
deviations" (population standard deviation), with fewer "over twice the
mean"; with no history at all nothing is flagged. A service that spends
after 14 quiet days is therefore flagged — that is what an anomaly is.
Either way the cost must also exceed its mean by more than a floor: $0.05,
or 5% of the trailing mean daily total when that is larger, so that one
cheap call after quiet days ($0.0128 against $0.00) or a cent's wobble on a
steady day is not reported as an anomaly. The threshold shown is the higher
of the rule's and the floor's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from shared import alerts, budgets, query, store, table
from shared.errors import NotFound, ValidationFailed
from shared.models import EARLIEST, LATEST_DATE, format_ts
from shared.money import ZERO, round_usd, usd
from shared.periods import ReportPeriod, month_end
from shared.rollups import NONE_KEY, Folded, Totals

KINDS = ("daily", "weekly", "monthly")
PERIOD_EXAMPLES = {"daily": "2026-11-21", "weekly": "2026-W47", "monthly": "2026-11"}
TOP_N = 10
ANOMALY_WINDOW_DAYS = 14
MIN_HISTORY_DAYS = 7
ANOMALY_SIGMAS = 3
SHORT_HISTORY_FACTOR = 2
# A cost must exceed its trailing mean by more than this much to be an anomaly (see the module doc).
ANOMALY_FLOOR_USD = Decimal("0.05")
ANOMALY_FLOOR_SHARE = Decimal("0.05")  # of the trailing mean daily total
RULE_SIGMA = "over_3_stddev"
RULE_TWICE_MEAN = "over_twice_mean"
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
PERCENT = Decimal("0.01")
RATIO = Decimal("0.0001")

_DAILY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEKLY = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTHLY = re.compile(r"^(\d{4})-(\d{2})$")


# --- periods -------------------------------------------------------------------------------


def parse_period(kind: Any, key: Any, where: str = "body") -> ReportPeriod:
    """`kind` and period key -> ReportPeriod, or a 400 naming the field (`where` is body, path or query)."""
    if kind not in KINDS:
        raise ValidationFailed.at([where, "kind"], f"must be one of {', '.join(KINDS)}")
    bad = ValidationFailed.at([where, "period"], f"must be a {kind} period key like {PERIOD_EXAMPLES[kind]}")
    if not isinstance(key, str):
        raise bad
    period = None
    try:
        if kind == "daily" and _DAILY.match(key):
            period = ReportPeriod(kind, date.fromisoformat(key))
        elif kind == "weekly" and (m := _WEEKLY.match(key)):
            period = ReportPeriod(kind, date.fromisocalendar(int(m[1]), int(m[2]), 1))
        elif kind == "monthly" and (m := _MONTHLY.match(key)):
            period = ReportPeriod(kind, date(int(m[1]), int(m[2]), 1))
    except ValueError:
        pass
    if period is None:
        raise bad
    if not EARLIEST.date() <= period.start <= LATEST_DATE:  # history windows reach back before the period
        raise ValidationFailed.at([where, "period"], f"must start from {EARLIEST.date()} to {LATEST_DATE}")
    return period


def last_complete_period(kind: str, now: datetime) -> ReportPeriod:
    """The period that ended most recently before `now`: yesterday, last ISO week, last month."""
    if kind not in KINDS:
        raise ValidationFailed.at(["kind"], f"must be one of {', '.join(KINDS)}")
    return ReportPeriod.containing(kind, now.astimezone(UTC).date()).previous()


def requested_period(kind: Any, key: Any, now: datetime, where: str = "body") -> ReportPeriod:
    """The period a caller asked for (default: the last complete one); never one that has not started."""
    if key is None:
        if kind is None:
            raise ValidationFailed.at([where, "kind"], f"missing: one of {', '.join(KINDS)}")
        if kind not in KINDS:
            raise ValidationFailed.at([where, "kind"], f"must be one of {', '.join(KINDS)}")
        return last_complete_period(kind, now)
    period = parse_period(kind, key, where)
    if period.start > now.astimezone(UTC).date():
        raise ValidationFailed.at([where, "period"], f"{period.key} has not started yet")
    return period


# --- the report ------------------------------------------------------------------------------


@dataclass
class Anomaly:
    day: date
    service: str | None  # None: the day's total
    cost: Decimal
    mean: Decimal
    stddev: Decimal
    threshold: Decimal
    history_days: int
    rule: str


@dataclass
class Forecast:
    month: str
    month_to_date: Decimal
    days_elapsed: int
    days_in_month: int

    @property
    def remaining_days(self) -> int:
        return self.days_in_month - self.days_elapsed

    @property
    def daily_average(self) -> Decimal:
        return self.month_to_date / self.days_elapsed

    @property
    def forecast(self) -> Decimal:
        return self.month_to_date + self.daily_average * self.remaining_days


@dataclass
class Report:
    period: ReportPeriod
    generated_at: datetime
    complete: bool
    totals: Totals
    by_service: list[tuple[str, Totals]]
    by_model: list[tuple[str, Totals]]
    by_operation: list[tuple[str, Totals]]
    top_users: list[tuple[str, Totals]]
    top_jobs: list[tuple[str, Totals]]
    top_repositories: list[tuple[str, Totals]]
    budgets: list[dict[str, Any]]
    previous: ReportPeriod
    previous_cost: Decimal
    anomalies: list[Anomaly]
    forecast: Forecast
    stats: store.ReadStats = field(default_factory=store.ReadStats)

    @property
    def change_percent(self) -> Decimal | None:
        if not self.previous_cost:
            return None
        return ((self.totals.cost_usd - self.previous_cost) * 100 / self.previous_cost).quantize(PERCENT, ROUND_HALF_UP)


def build_report(period: ReportPeriod, now: datetime | None = None) -> Report:
    """Build the report of `period` from aggregate cells (nothing is stored)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today = now.date()
    stats = store.ReadStats()
    current = query.aggregate(query.UsageQuery(
        period.start, period.end, ["service", "model", "operation", "user", "job", "repository"], []), stats)
    previous = period.previous()
    through = min(period.end, today)  # a partial (current) period forecasts from today
    month_start = through.replace(day=1)
    history_start = min(period.start - timedelta(days=ANOMALY_WINDOW_DAYS), previous.start, month_start)
    history = query.aggregate(query.UsageQuery(history_start, period.end, ["day"], ["day", "service"]), stats)
    by_day = {date.fromisoformat(k): t for k, t in history.by["day"].items()}
    by_day_service = {(date.fromisoformat(cast(str, d)), s or NONE_KEY): t  # grouped by day: never None
                      for (d, s), t in history.rows.items()}
    return Report(
        period=period,
        generated_at=now,
        complete=period.end < today,
        totals=current.summary,
        by_service=_ranked(current, "service"),
        by_model=_ranked(current, "model"),
        by_operation=_ranked(current, "operation"),
        top_users=_ranked(current, "user", top=TOP_N, attributed_only=True),
        top_jobs=_ranked(current, "job", top=TOP_N, attributed_only=True),
        top_repositories=_ranked(current, "repository", top=TOP_N, attributed_only=True),
        budgets=budgets_at_end(period, now),
        previous=previous,
        previous_cost=sum((by_day[d].cost_usd for d in previous.days if d in by_day), ZERO),
        anomalies=find_anomalies([d for d in period.days if d <= today], by_day, by_day_service),
        forecast=Forecast(
            month=month_start.strftime("%Y-%m"),
            month_to_date=sum((t.cost_usd for d, t in by_day.items() if month_start <= d <= through), ZERO),
            days_elapsed=(through - month_start).days + 1,
            days_in_month=month_end(month_start).day,
        ),
        stats=stats,
    )


def _ranked(folded: Folded, name: str, *, top: int | None = None,
            attributed_only: bool = False) -> list[tuple[str, Totals]]:
    """A breakdown, most expensive first (then by name); top lists leave out unattributed usage."""
    entries = [(k, t) for k, t in folded.by[name].items() if not (attributed_only and k == NONE_KEY)]
    entries.sort(key=lambda kv: (-kv[1].cost_usd, kv[0]))
    return entries[:top] if top else entries


def budgets_at_end(period: ReportPeriod, now: datetime) -> list[dict[str, Any]]:
    """Every budget as it stood when the report's period ended (or now, for a period still running).

    Each budget is shown in its own period containing that moment (yesterday's
    daily budget period for yesterday's report, not today's). Budgets created
    after the period ended are left out: they counted nothing then.
    """
    ended = datetime.combine(period.end + timedelta(days=1), time.min, UTC) - timedelta(microseconds=1)
    as_of = min(now, ended)
    as_of_text = format_ts(as_of)
    return [_budget_entry(b) for b in budgets.all_statuses(as_of) if b.get("created_at", "") <= as_of_text]


def _budget_entry(status: Mapping[str, Any]) -> dict[str, Any]:
    return {name: status.get(name) for name in (
        "budget_id", "name", "utilization", "state", "spent_usd", "limit_usd", "period_start", "period_end")}


def find_anomalies(days: Iterable[date], by_day: Mapping[date, Totals],
                   by_day_service: Mapping[tuple[date, str], Totals]) -> list[Anomaly]:
    """Days, and services on a day, whose cost is far above their trailing 14-day mean (see the module doc)."""
    by_service: dict[str, dict[date, Totals]] = {}
    for (d, name), t in by_day_service.items():
        by_service.setdefault(name, {})[d] = t
    found: list[Anomaly] = []
    for day in days:
        window = [day - timedelta(days=n) for n in range(ANOMALY_WINDOW_DAYS, 0, -1)]
        recorded = [d for d in window if d in by_day and by_day[d].events > 0]
        if not recorded:
            continue
        history = [d for d in window if d >= recorded[0]]
        usual_day = sum((_cost(by_day, d) for d in history), ZERO) / len(history)
        floor = max(ANOMALY_FLOOR_USD, ANOMALY_FLOOR_SHARE * usual_day)
        spent_that_day = sorted(s for s, series in by_service.items() if day in series)
        for service, series in [(None, by_day), *((s, by_service[s]) for s in spent_that_day)]:
            anomaly = _anomaly(day, service, _cost(series, day), [_cost(series, d) for d in history], floor)
            if anomaly is not None:
                found.append(anomaly)
    return found


def _cost(series: Mapping[date, Totals], day: date) -> Decimal:
    t = series.get(day)
    return t.cost_usd if t is not None else ZERO


def _anomaly(day: date, service: str | None, value: Decimal, history: Sequence[Decimal],
             floor: Decimal = ANOMALY_FLOOR_USD) -> Anomaly | None:
    n = len(history)
    mean = sum(history, ZERO) / n
    stddev = (sum(((v - mean) ** 2 for v in history), ZERO) / n).sqrt()
    if n >= MIN_HISTORY_DAYS:
        threshold, rule = mean + ANOMALY_SIGMAS * stddev, RULE_SIGMA
    else:
        threshold, rule = SHORT_HISTORY_FACTOR * mean, RULE_TWICE_MEAN
    threshold = max(threshold, mean + floor)
    if value > threshold:
        return Anomaly(day, service, value, mean, stddev, threshold, n, rule)
    return None


# --- JSON --------------------------------------------------------------------------------------


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON: money rounded once, here."""
    p = report.period
    change = report.change_percent
    f = report.forecast
    return {
        "kind": p.kind,
        "period": p.key,
        "start_date": p.start.isoformat(),
        "end_date": p.end.isoformat(),
        "generated_at": format_ts(report.generated_at),
        "complete": report.complete,
        "totals": report.totals.summary_json(),
        "change": {
            "previous_period": report.previous.key,
            "previous_cost_usd": usd(report.previous_cost),
            "cost_usd": usd(report.totals.cost_usd),
            "change_usd": usd(report.totals.cost_usd - report.previous_cost),
            "change_percent": float(change) if change is not None else None,
        },
        "by_service": _entries_json("service", report.by_service),
        "by_model": _entries_json("model", report.by_model),
        "by_operation": _entries_json("operation", report.by_operation),
        "top_users": _entries_json("user", report.top_users),
        "top_jobs": _entries_json("job", report.top_jobs),
        "top_repositories": _entries_json("repository", report.top_repositories),
        "budgets": [_budget_json(b) for b in report.budgets],
        "anomalies": [{
            "day": a.day.isoformat(),
            "scope": "day" if a.service is None else "service",
            "service": a.service,
            "cost_usd": usd(a.cost),
            "mean_usd": usd(a.mean),
            "stddev_usd": usd(a.stddev),
            "threshold_usd": usd(a.threshold),
            "history_days": a.history_days,
            "rule": a.rule,
        } for a in report.anomalies],
        "forecast": {
            "month": f.month,
            "month_to_date_usd": usd(f.month_to_date),
            "days_elapsed": f.days_elapsed,
            "days_in_month": f.days_in_month,
            "remaining_days": f.remaining_days,
            "daily_average_usd": usd(f.daily_average),
            "forecast_usd": usd(f.forecast),
        },
        "stats": report.stats.as_json(),
    }


def _entries_json(name: str, entries: Sequence[tuple[str, Totals]]) -> list[dict[str, Any]]:
    return [{name: key, **totals.as_json()} for key, totals in entries]


def _budget_json(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    for name in ("spent_usd", "limit_usd"):
        if isinstance(out.get(name), Decimal):
            out[name] = usd(out[name])
    if isinstance(out.get("utilization"), Decimal):
        out["utilization"] = float(out["utilization"].quantize(RATIO, ROUND_HALF_UP))
    for name in ("period_start", "period_end"):
        if isinstance(out.get(name), datetime):
            out[name] = format_ts(out[name])
    return out


# --- Markdown ------------------------------------------------------------------------------------


def money_text(amount: Decimal | float | int | None, *, signed: bool = False) -> str:
    """Money for people: cents, more digits only below a cent (`$33.80`, `$50.00`, `$0.0032`).

    The API's amount (half-up to 6 places), then half-up to the cent; below a cent, two
    significant digits. The same rule as `money` in aiusage/money.py (the CLI; that package
    is not in the Lambda asset) and dashboard/src/format.ts: tests/fixtures/money-cases.json.
    """
    if amount is None:
        return "-"
    micros = int(round_usd(amount if isinstance(amount, Decimal) else Decimal(str(amount))).scaleb(6))
    sign = "-" if micros < 0 else ("+" if signed and micros > 0 else "")
    magnitude = abs(micros)
    if 0 < magnitude < 10_000:
        step = 10 ** max(0, len(str(magnitude)) - 2)
        magnitude = (magnitude + step // 2) // step * step
        if magnitude < 10_000:
            return f"{sign}$0.{magnitude:06d}".rstrip("0")
    cents = (magnitude + 5_000) // 10_000
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def _percent_text(value: Decimal | None, *, signed: bool = False, places: str = "0.1") -> str:
    if value is None:
        return "n/a"
    value = value.quantize(Decimal(places), ROUND_HALF_UP)
    return f"{'+' if signed and value > 0 else ''}{value}%"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Sequence[int] = ()) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _share(part: Decimal, total: Decimal) -> Decimal | None:
    return part * 100 / total if total else None


def _breakdown_md(title: str, label: str, entries: Sequence[tuple[str, Totals]], total: Decimal) -> list[str]:
    lines = [f"## {title}", ""]
    if not entries:
        return lines + ["No usage.", ""]
    rows = [(k, money_text(t.cost_usd), _percent_text(_share(t.cost_usd, total)), f"{t.requests:,}", f"{t.tokens:,}")
            for k, t in entries]
    return lines + _md_table([label, "Cost", "Share", "Calls", "Tokens"], rows, right=(1, 2, 3, 4)) + [""]


def report_markdown(report: Report) -> str:
    """The report for humans: a summary and Markdown tables."""
    p, t, f = report.period, report.totals, report.forecast
    change = report.change_percent
    delta = t.cost_usd - report.previous_cost
    change_text = (f"{money_text(delta, signed=True)} ({_percent_text(change, signed=True, places='0.01')})"
                   if change is not None
                   else f"{money_text(delta, signed=True)} (previous period had no spend)")
    span = p.start.isoformat() if p.start == p.end else f"{p.start.isoformat()} to {p.end.isoformat()}"
    lines = [
        f"# aiusage {p.kind} report: {p.key}",
        "",
        f"Period: {span} (UTC). Generated {format_ts(report.generated_at)[:19]}Z"
        + ("." if report.complete else "; the period is not over yet, so this report is partial."),
        "",
        "## Summary",
        "",
    ]
    lines += _md_table(["Measure", "Value"], [
        ("Total cost", money_text(t.cost_usd)),
        (f"Change vs {report.previous.key}", change_text),
        ("API calls", f"{t.requests:,}"),
        ("Events", f"{t.events:,}"),
        ("Input tokens", f"{t.input_tokens:,}"),
        ("Output tokens", f"{t.output_tokens:,}"),
        ("Unpriced events", f"{t.unpriced_events:,}"),
        (f"Month-end forecast ({f.month})",
         f"{money_text(f.forecast)} ({money_text(f.month_to_date)} month to date + "
         f"{money_text(f.daily_average)}/day x {f.remaining_days} days left)"),
    ], right=(1,))
    lines.append("")
    lines += _breakdown_md("Cost by service", "Service", report.by_service, t.cost_usd)
    lines += _breakdown_md("Cost by model", "Model", report.by_model, t.cost_usd)
    lines += _breakdown_md("Cost by operation", "Operation", report.by_operation, t.cost_usd)
    lines += _breakdown_md(f"Top {TOP_N} users", "User", report.top_users, t.cost_usd)
    lines += _breakdown_md(f"Top {TOP_N} jobs", "Job", report.top_jobs, t.cost_usd)
    lines += _breakdown_md(f"Top {TOP_N} repositories", "Repository", report.top_repositories, t.cost_usd)
    lines += ["## Budgets", ""]
    if report.budgets:
        lines += _md_table(["Budget", "State", "Utilization", "Spent", "Limit", "Period"], [(
            b.get("name") or b.get("budget_id"), b.get("state") or "-",
            _percent_text(_decimal(b.get("utilization")) * 100 if b.get("utilization") is not None else None),
            money_text(b.get("spent_usd")), money_text(b.get("limit_usd")),
            f"{str(b.get('period_start') or '')[:10]} to {str(b.get('period_end'))[:10]}" if b.get("period_end")
            else "all time",
        ) for b in report.budgets], right=(2, 3, 4))
    else:
        lines.append("No budgets were defined when the period ended.")
    lines += ["", "## Anomalies", ""]
    if report.anomalies:
        lines += _md_table(["Day", "What", "Cost", "Trailing mean", "Threshold", "Rule"], [(
            a.day.isoformat(), "all services" if a.service is None else a.service, money_text(a.cost),
            f"{money_text(a.mean)} over {a.history_days} days", money_text(a.threshold),
            "over mean + 3 std dev" if a.rule == RULE_SIGMA else "over twice the mean (short history)",
        ) for a in report.anomalies], right=(2, 4))
    else:
        lines.append("None: no day or service spent over 3 standard deviations above its trailing 14-day mean "
                     "(twice the mean while history is short), and more than a small floor above it.")
    return "\n".join(lines) + "\n"


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


# --- storing, reading, publishing ----------------------------------------------------------------


def generate(period: ReportPeriod, now: datetime | None = None) -> Report:
    """Build the report of `period` and store it (JSON and Markdown); regenerating replaces it."""
    report = build_report(period, now)
    body = report_json(report)
    store.put({
        **table.report_key(period.kind, period.key),
        "item_type": "report",
        "kind": period.kind,
        "period": period.key,
        "start_date": body["start_date"],
        "end_date": body["end_date"],
        "generated_at": body["generated_at"],
        "complete": report.complete,
        "total_cost_usd": round_usd(report.totals.cost_usd),
        "report": json.dumps(body, separators=(",", ":")),
        "markdown": report_markdown(report),
    })
    return report


def stored_item(kind: str, period: str) -> dict[str, Any]:
    p = parse_period(kind, period, "path")
    item = store.get(table.report_key(p.kind, p.key))
    if item is None:
        raise NotFound(f"no {p.kind} report for {p.key}; POST /reports to generate it")
    return item


def stored_report(kind: str, period: str) -> dict[str, Any]:
    return json.loads(stored_item(kind, period)["report"])


def stored_markdown(kind: str, period: str) -> str:
    return stored_item(kind, period)["markdown"]


def list_reports(kind: str | None = None, limit: int = DEFAULT_LIST_LIMIT) -> list[dict[str, Any]]:
    """Stored reports, newest period first (all kinds, or one; `kind` and `limit` come validated)."""
    count = limit
    listed = []
    for k in ([kind] if kind else KINDS):
        items, _ = store.query_page(table.report_partition(k), forward=False, limit=count)
        listed += [{
            "kind": i["kind"], "period": i["period"], "start_date": i["start_date"], "end_date": i["end_date"],
            "generated_at": i["generated_at"], "complete": bool(i.get("complete", True)),
            "total_cost_usd": usd(i.get("total_cost_usd", ZERO)),
        } for i in items]
    listed.sort(key=lambda r: (r["end_date"], r["start_date"]), reverse=True)
    return listed[:count]


def summary_message(report: Report) -> tuple[str, dict[str, Any]]:
    """The short summary published to the alerts topic: subject and JSON (`type: report`)."""
    p, f = report.period, report.forecast
    change = report.change_percent
    watch = [b["budget_id"] for b in report.budgets if b.get("state") in ("warning", "critical", "exceeded")]
    text = (f"aiusage {p.kind} report {p.key}: {money_text(report.totals.cost_usd)} "
            + (f"({_percent_text(change, signed=True, places='0.01')} vs {report.previous.key})" if change is not None
               else f"(no spend in {report.previous.key})")
            + f"; {len(report.anomalies)} anomal{'y' if len(report.anomalies) == 1 else 'ies'}"
            + f"; {f.month} forecast {money_text(f.forecast)}"
            + (f"; budgets to watch: {', '.join(watch)}" if watch else ""))
    message = {
        "type": "report",
        "kind": p.kind,
        "period": p.key,
        "start_date": p.start.isoformat(),
        "end_date": p.end.isoformat(),
        "total_cost_usd": usd(report.totals.cost_usd),
        "previous_cost_usd": usd(report.previous_cost),
        "change_percent": float(change) if change is not None else None,
        "anomalies": len(report.anomalies),
        "forecast_usd": usd(f.forecast),
        "budgets_to_watch": watch,
        "summary": text,
    }
    return f"aiusage {p.kind} report {p.key}: {money_text(report.totals.cost_usd)}", message


def publish_summary(report: Report) -> bool:
    subject, message = summary_message(report)
    return alerts.publish(subject, message)
