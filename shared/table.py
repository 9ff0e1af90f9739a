"""THE key design of the aiusage table: every key string, GSI and the table schema.

One DynamoDB table holds everything. This module is the only place that knows
how keys are spelled; `shared/store.py` uses the builders below, the local
server and the tests create the table from `table_schema()`, and the CDK stack
builds its table (and its stream) from `TABLE_KEYS`, `GSIS`, `TTL_ATTRIBUTE`
and `STREAM_VIEW_TYPE`.

The write path (SPEC 13): `POST /ai_usage` writes each event with ONE
conditional put and nothing else; the table's stream carries it to the
aggregator (`shared/aggregation.py`), which folds batches of events into the
cells and budget spend items. No key that every event touches exists: event
GSI keys carry a shard suffix (`#<n>`, from a hash of the event id, so one
service, month or job is spread over `EVENT_INDEX_SHARDS` partitions), cell
partitions carry one too (`CELL_SHARDS`), and readers fan out over the shards.

Access patterns, and the item that answers each:

| pattern                                   | item / index                                   |
|-------------------------------------------|------------------------------------------------|
| event by id (idempotency)                 | event item, base table                         |
| events by service and time                | event item, GSI1 (month x shard partitions)    |
| events by day range (any service)         | GSI1, fanned out over the services the cells saw |
| events by job / batch / PR                | event item, GSI3 / GSI4 / GSI5 (x shard)       |
| unpriced events to reprice                | event item, GSI2 `UNPRICED#<month>#<n>` (sparse) |
| totals by hour x service x model x op     | hour cell                                      |
| totals by day x service x model x op      | day cell                                       |
| totals by day x user / project / repo / job / batch | dimension cell                       |
| how far aggregation has come              | stream checkpoint items                        |
| API keys by hash, listing                 | key item (+ GSI2 `KEYS`)                       |
| price overrides                           | price item (+ GSI2 `PRICES`)                   |
| budgets, their spend, alerts, audit       | budget items                                   |
| alerts by time                            | alert item, GSI2 `ALERTS#<yyyy-mm>`            |
| reports by kind and period                | report item                                    |

Item by item (`ts` is the event time in UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`,
so string order is time order; `<n>` is a shard number):

- **event**: PK=`EVENT#<event_id>`, SK=`EVENT`;
  GSI1PK=`SVC#<service>#<yyyy-mm>#<n>`, GSI1SK=`<ts>#<event_id>`;
  GSI3PK=`JOB#<job_id>#<n>`, GSI4PK=`BATCH#<batch_id>#<n>`, GSI5PK=`PR#<repo>#<pr>#<n>`,
  each with SK `<ts>#<event_id>` and only when the event has that field
  (sparse indexes); while the event is `unpriced`: GSI2PK=`UNPRICED#<yyyy-mm>#<n>`,
  GSI2SK=`<ts>#<event_id>`; `expires_at` (TTL) = ts + raw retention.
  Written with `attribute_not_exists(PK)`: that condition is the idempotency.
  The attributes come from the event model through `shared/events.py`.
- **hour cell**: PK=`AGG#H#<yyyy-mm-dd>#<n>`, SK=`<hh>#<service>#<model>#<operation>`.
- **day cell**: PK=`AGG#D#<yyyy-mm>#<n>`, SK=`<dd>#<service>#<model>#<operation>`.
  Cells hold ADD counters (`COUNTERS`) and their dimension values as plain
  attributes, so no reader ever parses a sort key. They never expire, and
  only the aggregator writes them.
- **dimension cell**: PK=`AGG#<USER|PROJECT|REPO|JOB|BATCH>#<yyyy-mm>#<n>`, SK=`<dd>#<value>`;
  events without a user, project or repository count under the empty value;
  events without a job or batch have no job or batch cell.
- **stream checkpoint**: PK=`STREAM#<shard_id>`, SK=`CHECKPOINT`: the last
  sequence number of that stream shard the aggregator applied, moved in the
  same transaction as the cells it applied (exactly once); expires after the
  stream's 24-hour retention has passed. GSI2PK=`CHECKPOINTS` lists them all.
  **pending batch**: PK=`STREAM#<shard_id>`, SK=`PENDING`: while a batch too big
  for one transaction is applied part by part, the parts still to apply.
- **API key**: PK=`KEY#<key_id>`, SK=`KEY`; GSI2PK=`KEYS`, GSI2SK=`<created_at>#<key_id>`.
  Holds the SHA-256 of the key, never the key.
- **price override**: PK=`PRICE#<service>`, SK=`<model_or_operation>#<valid_from>`;
  GSI2PK=`PRICES`, GSI2SK=`<service>#<model_or_operation>#<valid_from>`.
- **budget definition**: PK=`BUDGETS`, SK=`<budget_id>`. All definitions share
  one partition so the aggregator reads them with one consistent Query per batch.
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

import zlib
from dataclasses import dataclass
from typing import Any

TABLE_KEYS = ("PK", "SK")
TTL_ATTRIBUTE = "expires_at"
# The aggregator needs both images: a reprice is a MODIFY whose delta is new - old.
STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"
# Shards per event GSI key (service x month, job, batch, PR, unpriced x month): at most
# 1/16 of any one key's events land on one partition, so even a single service or one
# huge job takes 10,000 events/s at 625 WCU/s per partition (the limit is 1,000).
EVENT_INDEX_SHARDS = 16
# Shards per cell partition: one aggregator batch writes its cells once, spread over these.
CELL_SHARDS = 8


@dataclass(frozen=True)
class Gsi:
    name: str
    partition_key: str
    sort_key: str
    purpose: str


GSI_BY_SERVICE = Gsi("GSI1", "GSI1PK", "GSI1SK", "events by service and month (sharded)")
GSI_LISTINGS = Gsi("GSI2", "GSI2PK", "GSI2SK", "unpriced events (sharded); keys, prices and alerts listings")
GSI_BY_JOB = Gsi("GSI3", "GSI3PK", "GSI3SK", "events by job_id (sharded)")
GSI_BY_BATCH = Gsi("GSI4", "GSI4PK", "GSI4SK", "events by batch_id (sharded)")
GSI_BY_PR = Gsi("GSI5", "GSI5PK", "GSI5SK", "events by repository pull request (sharded)")
GSIS = (GSI_BY_SERVICE, GSI_LISTINGS, GSI_BY_JOB, GSI_BY_BATCH, GSI_BY_PR)
EVENT_GSI_ATTRIBUTES = tuple(a for g in GSIS for a in (g.partition_key, g.sort_key))

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
    """`create_table` arguments for the local server and the tests (on-demand, with the stream)."""
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
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE},
    }


def key(pk: str, sk: str) -> dict[str, str]:
    return {"PK": pk, "SK": sk}


def shard_of(text: str, shards: int) -> int:
    """A stable shard number for `text` (the same in every process and release)."""
    return zlib.crc32(text.encode("utf-8")) % shards


def shard_range(shards: int) -> range:
    return range(shards)


# --- events -----------------------------------------------------------------

EVENT_PREFIX = "EVENT#"
EVENT_SK = "EVENT"


def event_key(event_id: str) -> dict[str, str]:
    return key(EVENT_PREFIX + event_id, EVENT_SK)


def event_id_of_key(pk: str) -> str:
    return pk[len(EVENT_PREFIX):]


def event_index_keys(
    *, event_id: str, ts: str, service: str, job_id: str | None, batch_id: str | None,
    repository: str | None, pr_number: int | None, unpriced: bool,
) -> dict[str, str]:
    """The GSI attributes of an event item (sparse ones only when the field is set)."""
    sort = f"{ts}#{event_id}"
    shard = shard_of(event_id, EVENT_INDEX_SHARDS)
    keys = {"GSI1PK": service_month_partition(service, ts[:7], shard), "GSI1SK": sort}
    if unpriced:
        keys.update(GSI2PK=unpriced_partition(ts[:7], shard), GSI2SK=sort)
    if job_id:
        keys.update(GSI3PK=job_partition(job_id, shard), GSI3SK=sort)
    if batch_id:
        keys.update(GSI4PK=batch_partition(batch_id, shard), GSI4SK=sort)
    if repository and pr_number is not None:
        keys.update(GSI5PK=pr_partition(repository, pr_number, shard), GSI5SK=sort)
    return keys


def service_month_partition(service: str, month: str, shard: int) -> str:
    return f"SVC#{service}#{month}#{shard}"


def job_partition(job_id: str, shard: int) -> str:
    return f"JOB#{job_id}#{shard}"


def batch_partition(batch_id: str, shard: int) -> str:
    return f"BATCH#{batch_id}#{shard}"


def pr_partition(repository: str, pr_number: int, shard: int) -> str:
    return f"PR#{repository}#{pr_number}#{shard}"


def unpriced_partition(month: str, shard: int) -> str:
    return f"UNPRICED#{month}#{shard}"


def time_sort_bounds(start_ts: str, end_ts: str) -> tuple[str, str]:
    """Sort key bounds (inclusive) for GSI sort keys `<ts>#<event_id>` in [start_ts, end_ts)."""
    # '#' sorts before every character of an event id, '~' after all of them.
    return f"{start_ts}#", f"{end_ts}#"


# --- aggregate cells ----------------------------------------------------------


def _cell(partition: str, sort: str) -> dict[str, str]:
    return key(f"{partition}#{shard_of(sort, CELL_SHARDS)}", sort)


def hour_cell_key(day: str, hour: str, service: str, model: str, operation: str) -> dict[str, str]:
    return _cell(f"AGG#H#{day}", f"{hour}#{service}#{model}#{operation}")


def hour_cell_partitions(day: str) -> list[str]:
    return [f"AGG#H#{day}#{n}" for n in shard_range(CELL_SHARDS)]


def day_cell_key(day: str, service: str, model: str, operation: str) -> dict[str, str]:
    return _cell(f"AGG#D#{day[:7]}", f"{day[8:10]}#{service}#{model}#{operation}")


def day_cell_partitions(month: str) -> list[str]:
    return [f"AGG#D#{month}#{n}" for n in shard_range(CELL_SHARDS)]


def dimension_cell_key(dimension: str, day: str, value: str) -> dict[str, str]:
    return _cell(f"AGG#{DIMENSIONS[dimension][0]}#{day[:7]}", f"{day[8:10]}#{value}")


def dimension_cell_partitions(dimension: str, month: str) -> list[str]:
    return [f"AGG#{DIMENSIONS[dimension][0]}#{month}#{n}" for n in shard_range(CELL_SHARDS)]


def cell_sort_range(first: str, last: str) -> tuple[str, str]:
    """Sort key bounds for cells whose SK starts with a 2-digit unit in [first, last]."""
    return f"{first}#", f"{last}#\uffff"


# --- the aggregator's place in the stream ----------------------------------------

CHECKPOINT_PREFIX = "STREAM#"
CHECKPOINT_SK = "CHECKPOINT"


def checkpoint_key(shard_id: str) -> dict[str, str]:
    return key(CHECKPOINT_PREFIX + shard_id, CHECKPOINT_SK)


def pending_batch_key(shard_id: str) -> dict[str, str]:
    """A batch of the shard applied in several transactions: the parts still to apply (shared/aggregation.py)."""
    return key(CHECKPOINT_PREFIX + shard_id, "PENDING")


def checkpoint_listing(shard_id: str) -> dict[str, str]:
    """Checkpoints are listed together (GSI2 `CHECKPOINTS`): freshness reads them all in one Query."""
    return {"GSI2PK": CHECKPOINTS_LISTING, "GSI2SK": shard_id}


CHECKPOINTS_LISTING = "CHECKPOINTS"


# What the aggregator is given of the stream (the event source mapping's filter, and the
# local poller's): inserts and modifications of event items. Cells, checkpoints, budgets
# and TTL deletions of raw events (REMOVE) never reach it, so expiry never subtracts.
AGGREGATOR_FILTERS = (
    {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"SK": {"S": [EVENT_SK]}}}},
)

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


def budget_definition_key(budget_id: str) -> dict[str, str]:
    return key(BUDGETS_PARTITION, budget_id)


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
