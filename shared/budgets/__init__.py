"""Budgets (SPEC 6): definitions, exact spend, status and forecast, check decisions, alerts, audit.

Spend is counted by the aggregator (`shared/aggregation.py`), which folds the
event stream into the spend item of every budget whose scope matches, under
the period the event's timestamp falls in (in the budget's timezone), so late
arrivals land in their own period and reading a status is one GetItem.

A change to what a budget counts (scope, period, timezone, anchor day, reset)
starts a new generation of spend items. Each generation is split in time by
its `live_from`, set `budget_fence_seconds` after the definition is written:
the aggregator counts the events stamped (`received_at`, or the reprice) from
then on, and a backfill counts, once, the events of the current period stamped
before — when `backfill_due_at` (`live_from` plus the write bound) has passed,
every such event is stored, and the aggregator has counted them in the cells.
So every event is counted exactly once for every generation, with no shared
item on the ingest path.

The package, one thing per module:

- `definitions`: what a budget is, what it counts, how it is stored;
- `status`: its spend, status and forecast, and the alerts they raise;
- `changes`: create, replace, delete, reset, with the audit history;
- `backfill`: counting, once, what a new generation's `live_from` left out;
- `decisions`: `POST /budgets/check` and the impact of an estimate.

Callers use `from shared import budgets` and the names below.
"""

from shared.budgets.backfill import backfill, services_between
from shared.budgets.changes import delete_budget, history, parse_budget, put_budget, reset_budget
from shared.budgets.decisions import check, estimate_impact
from shared.budgets.definitions import (
    ACTION_RANK,
    BACKFILL_MARKER,
    SCOPE_FIELDS,
    Budget,
    event_attributes,
    load_all,
    spend_key,
)
from shared.budgets.status import (
    all_statuses,
    budget_json,
    counting_since,
    evaluate,
    get_budget,
    in_limit_unit,
    list_budgets,
    report_utilization,
    state_of,
    status,
)
from shared.periods import Period, months_between, period_of

__all__ = [
    "ACTION_RANK", "BACKFILL_MARKER", "SCOPE_FIELDS", "Budget", "Period", "all_statuses", "backfill", "budget_json",
    "check", "counting_since", "delete_budget", "estimate_impact", "evaluate", "event_attributes", "get_budget",
    "history", "in_limit_unit", "list_budgets", "load_all", "months_between", "parse_budget", "period_of",
    "put_budget", "report_utilization", "reset_budget", "services_between", "spend_key", "state_of", "status",
]
