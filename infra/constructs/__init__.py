"""One construct per concern of the aiusage stack (table, functions, HTTP API, schedules, alerts, dashboard)."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

from infra.config import LOG_RETENTION_DAYS

# CDK's RetentionDays members, in the order of CloudWatch's allowed periods (INFINITE last).
_RETENTION = dict(zip(LOG_RETENTION_DAYS, list(logs.RetentionDays)[:len(LOG_RETENTION_DAYS)], strict=True))


def log_retention(days: int) -> logs.RetentionDays:
    return _RETENTION[days]
