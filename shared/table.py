"""THE key design of the aiusage table: every key string, GSI and the table schema.

One DynamoDB table holds everything. This module is the only place that knows
how keys are spelled; `shared/store.py` uses the builders below, the local
server and the tests create the table from `table_schema()`, and the CDK stack
builds its table from `TABLE_KEYS`, `GSIS` and `TTL_ATTRIBUTE`.

Access patterns, and the item that answers each:

| pattern                                   | item / index                          |
|-------------------------------------------|---------------------------------------|
| event by id (idempotency)                 | event item, base table                |
| events by service and time                | event item, GSI1 (month partitions)   |
| events by day                             | event item, GSI2                      |
| events by job / batch / PR                | event item, GSI3 / GSI4 / GSI5        |
| totals by hour x service x model x op     | hour cell                             |
| totals by day x service x model x op      | day cell                              |
| totals by day x user / project / repo / job / batch | dimension cell              |
| unpriced events to reprice                | unpriced marker                       |
| API keys by hash, listing                 | key item (+ GSI2 `KEYS`)              |
| price overrides                           | price item (+ GSI2 `PRICES`)          |
| budgets, their spend, alerts, audit       | budget items                          |
| alerts by time                            | alert item, GSI2 `ALERTS#<yyyy-mm>`   |
| reports by kind and period                | report item                           |

Item by item (`ts` is the event time in UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`,
so string order is time order):

- **event**: PK=`EVENT#<event_id>`, SK=`EVENT`;
  GSI1PK=`SVC#<service>#<yyyy-mm>`, GSI1SK=`<ts>#<event_id>` (a month per
  partition keeps one hot service from being one hot GSI key);
  GSI2PK=`DAY#<yyyy-mm-dd>`, GSI2SK=`<ts>#<event_id>`;
  GSI3PK=`JOB#<job_id>`, GSI4PK=`BATCH#<batch_id>`, GSI5PK=`PR#<repo>#<n>`,
  each with SK `<ts>#<event_id>` and only when the event has that field
  (sparse indexes); `expires_at` (TTL) = ts + raw retention.
  Written with `attribute_not_exists(PK)`: that condition is the idempotency.
- **hour cell**: PK=`AGG#H#<yyyy-mm-dd>`, SK=`<hh>#<service>#<model>#<operation>`.
- **day cell**: PK=`AGG#D#<yyyy-mm>`, SK=`<dd>#<service>#<model>#<operation>`.
  Cells hold ADD counters (`COUNTERS`) and their dimension values as plain
  attributes, so no reader ever parses a sort key. They never expire.
- **dimension cell**: PK=`AGG#<USER|PROJECT|REPO|JOB|BATCH>#<yyyy-mm>`, SK=`<dd>#<value>`;
  events without a user, project or repository count under the empty value;
  events without a job or batch have no job or batch cell.
- **unpriced marker**: PK=`UNPRICED#<yyyy-mm>`, SK=`<ts>#<event_id>`; exists
  while its event is `unpriced`, deleted in the transaction that reprices it.
- **API key**: PK=`KEY#<key_id>`, SK=`KEY`; GSI2PK=`KEYS`, GSI2SK=`<created_at>#<key_id>`.
  Holds the SHA-256 of the key, never the key.
- **price override**: PK=`PRICE#<service>`, SK=`<model_or_operation>#<valid_from>`;
  GSI2PK=`PRICES`, GSI2SK=`<service>#<model_or_operation>#<valid_from>`.
- **budget definition**: PK=`BUDGETS`, SK=`<budget_id>`. All definitions share
  one partition so the ingest path reads them with one consistent Query,
  together with the **budget set version**: PK=`BUDGETS`, SK=`#VERSION`.
- **budget spend**: PK=`BUDGET#<id>`, SK=`SPEND#<generation>#<period_key>`.
- **budget alert**: PK=`ALERT#<dedup_key>`, SK=`ALERT`; GSI2PK=`ALERTS#<yyyy-mm>`,
  GSI2SK=`<created_at>#<dedup_key>`. The conditional put on the dedup key is
  what makes "one alert per (budget, period, threshold)".
- **budget audit**: PK=`BUDGET#<id>`, SK=`HISTORY#<ts>#<n>`.
- **report**: PK=`REPORT#<kind>`, SK=`<period>`.
- **idempotency record** (Powertools idempotency): PK=`IDEMPOTENCY#<function>`,
  SK=`<hash>`, expiring through the same TTL attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TABLE_KEYS = ("PK", "SK")
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class Gsi:
    name: str
    partition_key: str
    sort_key: str
    purpose: str


GSI_BY_SERVICE = Gsi("GSI1", "GSI1PK", "GSI1SK", "events by service and month")
GSI_BY_DAY = Gsi("GSI2", "GSI2PK", "GSI2SK", "events by day; keys, prices and alerts listings")
GSI_BY_JOB = Gsi("GSI3", "GSI3PK", "GSI3SK", "events by job_id")
GSI_BY_BATCH = Gsi("GSI4", "GSI4PK", "GSI4SK", "events by batch_id")
GSI_BY_PR = Gsi("GSI5", "GSI5PK", "GSI5SK", "events by repository pull request")
GSIS = (GSI_BY_SERVICE, GSI_BY_DAY, GSI_BY_JOB, GSI_BY_BATCH, GSI_BY_PR)

# The counters every aggregate cell (and budget spend item) carries.
COUNTERS = (
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "requests",
    "events",
    "unpriced_events",
    "credits",
)

# Dimension cells: query dimension name -> key prefix, event field, and whether events
# without the field count under the empty value (so "(none)" is exact) or not at all
# (job and batch views list attributed work only).
DIMENSIONS = {
    "user": ("USER", "user_id", True),
    "project": ("PROJECT", "project", True),
    "repository": ("REPO", "repository", True),
    "job": ("JOB", "job_id", False),
    "batch": ("BATCH", "batch_id", False),
}


def table_schema(table_name: str) -> dict[str, Any]:
    """`create_table` arguments for the local server and the tests (on-demand)."""
    attributes = {TABLE_KEYS[0], TABLE_KEYS[1]}
    for gsi in GSIS:
        attributes.update((gsi.partition_key, gsi.sort_key))
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "KeySchema": [
            {"AttributeName": TABLE_KEYS[0], "KeyType": "HASH"},
            {"AttributeName": TABLE_KEYS[1], "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": gsi.name,
                "KeySchema": [
                    {"AttributeName": gsi.partition_key, "KeyType": "HASH"},
                    {"AttributeName": gsi.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for gsi in GSIS
        ],
    }


def key(pk: str, sk: str) -> dict[str, str]:
    return {"PK": pk, "SK": sk}


# --- events -----------------------------------------------------------------


def event_key(event_id: str) -> dict[str, str]:
    return key(f"EVENT#{event_id}", "EVENT")


def event_index_keys(
    *, event_id: str, ts: str, service: str, job_id: str | None, batch_id: str | None,
    repository: str | None, pr_number: int | None,
) -> dict[str, str]:
    """The GSI attributes of an event item (sparse ones only when the field is set)."""
    sort = f"{ts}#{event_id}"
    keys = {
        "GSI1PK": service_month_partition(service, ts[:7]),
        "GSI1SK": sort,
        "GSI2PK": day_partition(ts[:10]),
        "GSI2SK": sort,
    }
    if job_id:
        keys.update(GSI3PK=job_partition(job_id), GSI3SK=sort)
    if batch_id:
        keys.update(GSI4PK=batch_partition(batch_id), GSI4SK=sort)
    if repository and pr_number is not None:
        keys.update(GSI5PK=pr_partition(repository, pr_number), GSI5SK=sort)
    return keys


def service_month_partition(service: str, month: str) -> str:
    return f"SVC#{service}#{month}"


def day_partition(day: str) -> str:
    return f"DAY#{day}"


def job_partition(job_id: str) -> str:
    return f"JOB#{job_id}"


def batch_partition(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def pr_partition(repository: str, pr_number: int) -> str:
    return f"PR#{repository}#{pr_number}"


def time_sort_bounds(start_ts: str, end_ts: str) -> tuple[str, str]:
    """Sort key bounds (inclusive) for GSI sort keys `<ts>#<event_id>` in [start_ts, end_ts)."""
    # '#' sorts before every character of an event id, '~' after all of them.
    return f"{start_ts}#", f"{end_ts}#"


# --- aggregate cells ----------------------------------------------------------


def hour_cell_key(day: str, hour: str, service: str, model: str, operation: str) -> dict[str, str]:
    return key(f"AGG#H#{day}", f"{hour}#{service}#{model}#{operation}")


def hour_cell_partition(day: str) -> str:
    return f"AGG#H#{day}"


def day_cell_key(day: str, service: str, model: str, operation: str) -> dict[str, str]:
    return key(day_cell_partition(day[:7]), f"{day[8:10]}#{service}#{model}#{operation}")


def day_cell_partition(month: str) -> str:
    return f"AGG#D#{month}"


def dimension_cell_key(dimension: str, day: str, value: str) -> dict[str, str]:
    return key(dimension_cell_partition(dimension, day[:7]), f"{day[8:10]}#{value}")


def dimension_cell_partition(dimension: str, month: str) -> str:
    return f"AGG#{DIMENSIONS[dimension][0]}#{month}"


def cell_sort_range(first: str, last: str) -> tuple[str, str]:
    """Sort key bounds for cells whose SK starts with a 2-digit unit in [first, last]."""
    return f"{first}#", f"{last}#\uffff"


def unpriced_marker_key(ts: str, event_id: str) -> dict[str, str]:
    return key(unpriced_partition(ts[:7]), f"{ts}#{event_id}")


def unpriced_partition(month: str) -> str:
    return f"UNPRICED#{month}"


# --- API keys -------------------------------------------------------------------


def api_key_key(key_id: str) -> dict[str, str]:
    return key(f"KEY#{key_id}", "KEY")


def api_key_listing(created_at: str, key_id: str) -> dict[str, str]:
    return {"GSI2PK": API_KEYS_LISTING, "GSI2SK": f"{created_at}#{key_id}"}


API_KEYS_LISTING = "KEYS"

# --- prices -----------------------------------------------------------------------


def price_key(service: str, model_or_operation: str, valid_from: str) -> dict[str, str]:
    return key(price_partition(service), f"{model_or_operation}#{valid_from}")


def price_partition(service: str) -> str:
    return f"PRICE#{service}"


def price_listing(service: str, model_or_operation: str, valid_from: str) -> dict[str, str]:
    return {"GSI2PK": PRICES_LISTING, "GSI2SK": f"{service}#{model_or_operation}#{valid_from}"}


PRICES_LISTING = "PRICES"

# --- budgets, alerts, reports -------------------------------------------------------

BUDGETS_PARTITION = "BUDGETS"
BUDGET_VERSION_SK = "#VERSION"


def budget_definition_key(budget_id: str) -> dict[str, str]:
    return key(BUDGETS_PARTITION, budget_id)


def budget_version_key() -> dict[str, str]:
    return key(BUDGETS_PARTITION, BUDGET_VERSION_SK)


def budget_partition(budget_id: str) -> str:
    return f"BUDGET#{budget_id}"


def budget_spend_key(budget_id: str, generation: int, period_key: str) -> dict[str, str]:
    return key(budget_partition(budget_id), f"SPEND#{generation}#{period_key}")


def budget_history_key(budget_id: str, ts: str, seq: str) -> dict[str, str]:
    return key(budget_partition(budget_id), f"HISTORY#{ts}#{seq}")


BUDGET_HISTORY_PREFIX = "HISTORY#"


def alert_key(dedup_key: str) -> dict[str, str]:
    return key(f"ALERT#{dedup_key}", "ALERT")


def alert_listing(created_at: str, dedup_key: str) -> dict[str, str]:
    return {"GSI2PK": alerts_partition(created_at[:7]), "GSI2SK": f"{created_at}#{dedup_key}"}


def alerts_partition(month: str) -> str:
    return f"ALERTS#{month}"


def report_key(kind: str, period: str) -> dict[str, str]:
    return key(report_partition(kind), period)


def report_partition(kind: str) -> str:
    return f"REPORT#{kind}"


IDEMPOTENCY_PARTITION_PREFIX = "IDEMPOTENCY#"
