"""Scheduled reports: EventBridge runs this daily, weekly and monthly (SPEC 7).

Input `{"kind": "daily"}` (or weekly, monthly) reports the period that ended
last before the invocation: yesterday, the previous ISO week, the previous
month. An explicit `"period"` reports that one instead, and an optional
`"time"` (RFC 3339, e.g. an input transformer's `<time>`) replaces the clock.
A plain EventBridge "Scheduled Event" (a rule without the constant input)
works too: its kind is the one its rule's name holds (`...DailyReport...`)
and its `time` is the scheduled time. Anything else is an error naming
`event.kind` (or `event.time`).

EventBridge delivers at least once and retries failures, so generating and
publishing run under Powertools idempotency keyed on (kind, period), with its
records in the same table (PK `IDEMPOTENCY#reports`, SK `report#<hash>`,
expiring through the table's TTL attribute): a retry of a completed run
returns the first run's answer and neither regenerates nor republishes. A run
that failed leaves no record, so its retry starts over.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger

from shared import reports, store, table
from shared.config import settings
from shared.errors import ValidationFailed
from shared.models import format_ts, parse_timestamp
from shared.money import usd

logger = Logger(service="aiusage")
IDEMPOTENCY_PARTITION = f"{table.IDEMPOTENCY_PARTITION_PREFIX}reports"
IDEMPOTENCY_KEY_PREFIX = "report"
SCHEDULED_EVENT = "Scheduled Event"
# Long enough to cover EventBridge's retries (the rules give up after 2 hours).
IDEMPOTENCY_EXPIRY_SECONDS = 24 * 3600


def generate_and_publish(job: dict[str, str]) -> dict[str, Any]:
    """Generate and store the report of `job` (kind, period), then publish its summary."""
    period = reports.parse_period(job["kind"], job["period"])
    report = reports.generate(period, datetime.now(UTC))
    published = reports.publish_summary(report)
    logger.info("report generated", extra={"kind": period.kind, "period": period.key, "published": published})
    return {"kind": period.kind, "period": period.key, "generated_at": format_ts(report.generated_at),
            "total_cost_usd": usd(report.totals.cost_usd), "published": published}


@lru_cache(maxsize=1)
def _idempotent(client: Any, table_name: str) -> tuple[Callable[..., dict[str, Any]], Any]:
    """`generate_and_publish` made idempotent, with its config; built at first use (cold start)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(
        table_name=table_name, key_attr=table.TABLE_KEYS[0], sort_key_attr=table.TABLE_KEYS[1],
        static_pk_value=IDEMPOTENCY_PARTITION, expiry_attr=table.TTL_ATTRIBUTE, boto3_client=client)
    config = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS)
    once = idempotent_function(generate_and_publish, data_keyword_argument="job", persistence_store=persistence,
                               config=config, key_prefix=IDEMPOTENCY_KEY_PREFIX)
    return once, config


def kind_of(event: dict[str, Any]) -> Any:
    """The report kind: the event's `kind`, or the kind named by a scheduled event's rule."""
    if "kind" in event or event.get("detail-type") != SCHEDULED_EVENT:
        return event.get("kind")
    rules = " ".join(r.rsplit("/", 1)[-1] for r in event.get("resources") or [] if isinstance(r, str))
    named = [kind for kind in reports.KINDS if kind in rules.lower()]
    if len(named) != 1:
        raise ValidationFailed.at(
            ["event", "kind"],
            'missing: give {"kind": "daily"|"weekly"|"monthly"} as the '
            f"rule's input, or name the kind in the rule (rules: {rules or 'none'})",
        )
    return named[0]


def _time(event: dict[str, Any]) -> datetime:
    if not event.get("time"):
        return datetime.now(UTC)
    try:
        return parse_timestamp(event["time"])
    except ValueError as exc:
        raise ValidationFailed.at(["event", "time"], str(exc)) from None


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = _time(event)
    period = reports.requested_period(kind_of(event), event.get("period"), now, where="event")
    once, config = _idempotent(store.client(), settings().table_name)
    config.register_lambda_context(context)
    return once(job={"kind": period.kind, "period": period.key})
