"""A realistic demo month of usage for `aiusage serve --demo`.

Deterministic (seeded) so every run shows the same month, ending now: chat,
reasoning and embedding calls across OpenAI, Anthropic, Google and Bedrock,
Google Places requests, nightly batch jobs, Claude Code PR reviews from GitHub
Actions, and a model nobody has a price for yet (shown as unpriced).
Events carry stable ids (`demo:<n>`), so seeding twice records nothing twice.
Three budgets (one over its limit, one blocking), the alerts they raise, a
CloudWatch alarm notification and the latest daily, weekly and monthly
reports complete what the README shows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]
PROJECTS = ["search", "support-bot", "analytics", "docs-assistant"]
REPOSITORIES = ["acme/web", "acme/api", "acme/infra"]

# (service, model, operation, weight, input range, output range, cache share)
CALLS = [
    ("openai", "gpt-4o", "completion", 10, (800, 6000), (100, 900), 0.3),
    ("openai", "gpt-4o-mini", "completion", 18, (300, 3000), (50, 600), 0.2),
    ("openai", "o3", "completion", 3, (1000, 8000), (500, 4000), 0.0),
    ("openai", "text-embedding-3-small", "embedding", 8, (200, 8000), (0, 0), 0.0),
    ("anthropic", "claude-sonnet-4-5", "completion", 12, (2000, 30000), (200, 2000), 0.6),
    ("anthropic", "claude-haiku-4-5", "completion", 10, (500, 5000), (50, 800), 0.4),
    ("google", "gemini-2.5-pro", "completion", 5, (1000, 12000), (200, 1500), 0.2),
    ("google", "gemini-2.5-flash", "completion", 8, (300, 4000), (50, 700), 0.1),
    ("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "completion", 4, (1000, 9000), (100, 1200), 0.0),
    ("google_places", "", "place_details", 6, None, None, 0.0),
    ("google_places", "", "text_search", 4, None, None, 0.0),
]


def demo_events(now: datetime | None = None, days: int = 30, seed: int = 2026) -> Iterator[dict[str, Any]]:
    """The demo month as `POST /ai_usage` events, oldest first."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    weights = [c[3] for c in CALLS]
    n = 0
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    for day_index in range(days):
        day = start + timedelta(days=day_index)
        weekday = day.weekday() < 5
        per_day = rng.randint(45, 70) if weekday else rng.randint(12, 25)
        for _ in range(per_day):
            ts = day + timedelta(seconds=rng.randint(7 * 3600, 20 * 3600))
            if ts > now:
                continue
            service, model, operation, _, input_range, output_range, cache_share = rng.choices(CALLS, weights)[0]
            n += 1
            event: dict[str, Any] = {
                "event_id": f"demo:{n}",
                "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "service": service,
                "operation": operation,
                "user_id": rng.choice(USERS),
                "project": rng.choice(PROJECTS),
                "latency_ms": rng.randint(120, 9000),
            }
            if input_range is None:
                event["requests"] = rng.randint(1, 5)
            else:
                event["model"] = model
                input_tokens = rng.randint(*input_range)
                event["input_tokens"] = input_tokens
                event["output_tokens"] = rng.randint(*output_range)
                if cache_share and rng.random() < 0.7:
                    event["cache_read_tokens"] = int(input_tokens * cache_share)
                if model == "o3":
                    event["reasoning_tokens"] = event["output_tokens"] // 2
            if rng.random() < 0.02:
                event["status"], event["error"] = "error", "rate_limited"
            yield event
        # The nightly embedding job runs through the OpenAI batch tier.
        night = day + timedelta(hours=2)
        if night <= now:
            for part in range(3):
                n += 1
                yield {
                    "event_id": f"demo:{n}",
                    "timestamp": (night + timedelta(minutes=part)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "service": "openai",
                    "model": "text-embedding-3-small",
                    "operation": "embedding",
                    "input_tokens": rng.randint(200_000, 900_000),
                    "output_tokens": 0,
                    "service_tier": "batch",
                    "job_id": f"nightly-embeddings-{day:%Y%m%d}",
                    "batch_id": f"batch_{day:%Y%m%d}_{part}",
                    "project": "search",
                }
        # Claude Code reviews pull requests on weekdays; Claude Code reports its own cost.
        if weekday:
            for _ in range(rng.randint(1, 3)):
                ts = day + timedelta(seconds=rng.randint(9 * 3600, 18 * 3600))
                if ts > now:
                    continue
                n += 1
                repo = rng.choice(REPOSITORIES)
                sonnet_in, sonnet_cache, sonnet_out = (
                    rng.randint(10, 90),
                    rng.randint(60_000, 400_000),
                    rng.randint(800, 6000),
                )
                haiku_in, haiku_out = rng.randint(500, 4000), rng.randint(100, 900)
                sonnet_cost = (sonnet_in * 3 + sonnet_cache * 0.3 + sonnet_out * 15) / 1_000_000
                haiku_cost = (haiku_in * 1 + haiku_out * 5) / 1_000_000
                yield {
                    "event_id": f"demo:{n}",
                    "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "service": "anthropic",
                    "github": {
                        "repository": repo,
                        "pr_number": rng.randint(100, 400),
                        "run_id": str(rng.randint(10**9, 10**10)),
                        "run_attempt": 1,
                        "workflow": "Claude Code Review",
                        "job": "review",
                        "actor": rng.choice(USERS),
                        "event_name": "pull_request",
                    },
                    "claude_code_result": {
                        "type": "result",
                        "subtype": "success",
                        "is_error": False,
                        "num_turns": rng.randint(3, 20),
                        "duration_ms": rng.randint(20_000, 300_000),
                        "session_id": f"demo-session-{n}",
                        "total_cost_usd": round(sonnet_cost + haiku_cost, 6),
                        "modelUsage": {
                            "claude-sonnet-4-5": {
                                "inputTokens": sonnet_in,
                                "outputTokens": sonnet_out,
                                "cacheReadInputTokens": sonnet_cache,
                                "cacheCreationInputTokens": 0,
                                "costUSD": round(sonnet_cost, 6),
                            },
                            "claude-haiku-4-5": {
                                "inputTokens": haiku_in,
                                "outputTokens": haiku_out,
                                "cacheReadInputTokens": 0,
                                "cacheCreationInputTokens": 0,
                                "costUSD": round(haiku_cost, 6),
                            },
                        },
                    },
                }
        if day_index % 10 == 4:
            n += 1
            yield {"event_id": f"demo:{n}", "timestamp": (day + timedelta(hours=11)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "service": "acme-llm", "model": "acme-large-2", "input_tokens": 4000, "output_tokens": 600,
                   "user_id": "carol", "project": "analytics"}


DEMO_BUDGETS = {
    "anthropic-monthly": {"name": "Anthropic monthly", "scope": {"service": "anthropic"}, "period": "monthly",
                          "timezone": "Europe/Berlin", "limit_usd": 20, "thresholds": [0.5, 0.8, 1.0],
                          "forecast_alert": True},
    "search-team": {"name": "Search team", "scope": {"project": "search"}, "period": "monthly", "limit_usd": 8,
                    "thresholds": [0.5, 0.8, 1.0]},
    "openai-daily": {"name": "OpenAI daily", "scope": {"service": "openai"}, "period": "daily", "limit_usd": 0.25,
                     "thresholds": [0.8, 1.0], "action_on_limit": "block"},
}


Progress = Callable[[str, int, int], None]  # (what, done, total)
CHUNK = 250  # events per record_usage call: the progress moves every second or so


def seed(now: datetime | None = None, progress: Progress | None = None) -> dict[str, int]:
    """Record the demo budgets, an alarm notification and the month through the same code paths as the API.

    Returns what it stored ("events", "budgets"); the stream aggregates the events afterwards, and
    `seed_reports` then stores the reports the schedule would have written over the month.
    """
    import json
    from decimal import Decimal

    from shared import budgets
    from shared.ingest import record_usage

    for budget_id, body in DEMO_BUDGETS.items():
        budgets.put_budget(budget_id, json.loads(json.dumps(body), parse_float=Decimal), "demo")
    seed_alarm_notification(now)
    events = list(demo_events(now))
    created = 0
    for start in range(0, len(events), CHUNK):
        # Round-trip through JSON with Decimal floats, exactly as the API parses a body.
        body = json.loads(json.dumps({"events": events[start:start + CHUNK]}), parse_float=Decimal)
        created += record_usage(body)["accepted"]
        if progress:
            progress("recording events", min(start + CHUNK, len(events)), len(events))
    return {"events": created, "budgets": len(DEMO_BUDGETS)}


def report_periods(now: datetime | None = None) -> list[tuple[str, str]]:
    """The latest report of each kind the schedule has written by `now`: yesterday, the last ISO week,
    the last month (each costs seconds to build locally, so the demo stores one of each)."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    yesterday = today - timedelta(days=1)
    year, week, _ = (today - timedelta(days=7)).isocalendar()
    last_month = today.replace(day=1) - timedelta(days=1)
    return [("daily", yesterday.isoformat()), ("weekly", f"{year}-W{week:02d}"), ("monthly", f"{last_month:%Y-%m}")]


def seed_reports(now: datetime | None = None, progress: Progress | None = None) -> int:
    """Store the reports of `report_periods`, each made by the report function as its schedule makes it."""
    from functions.reports.handler import lambda_handler as report

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "reports", 512, "demo"
        invoked_function_arn = "arn:aws:lambda:local:000000000000:function:reports"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 900_000

    periods = report_periods(now)
    for n, (kind, period) in enumerate(periods, 1):
        report({"kind": kind, "period": period}, Context())
        if progress:
            progress("writing reports", n, len(periods))
    return len(periods)


def seed_alarm_notification(now: datetime | None = None) -> None:
    """One CloudWatch alarm notification, delivered to the notifier as SNS would deliver it.

    The embedded CloudWatch (moto) holds the budgets' alarms but never evaluates an alarm;
    this shows what `GET /alerts?type=cloudwatch_alarm` holds once the stack's daily cost
    alarm fires.
    """
    import json

    from functions.notifier.handler import lambda_handler as notifier

    now = (now or datetime.now(UTC)) - timedelta(hours=3)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    message = {
        "AlarmName": "aiusage-dev-daily-cost",
        "AlarmDescription": "Daily AI spend above 5 USD",
        "AWSAccountId": "000000000000",
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [5.74] was greater than the "
        "threshold (5.0).",
        "StateChangeTime": stamp,
        "Region": "local",
        "AlarmArn": "arn:aws:cloudwatch:local:000000000000:alarm:aiusage-dev-daily-cost",
        "Trigger": {
            "MetricName": "CostUSD",
            "Namespace": "AIUsage",
            "Statistic": "SUM",
            "Dimensions": [],
            "Period": 86400,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 5.0,
        },
    }
    record = {
        "EventSource": "aws:sns",
        "Sns": {
            "Type": "Notification",
            "MessageId": f"demo-alarm-{now:%Y%m%d}",
            "TopicArn": "arn:aws:sns:local:000000000000:alerts",
            "Subject": 'ALARM: "aiusage-dev-daily-cost"',
            "Message": json.dumps(message),
            "Timestamp": now.isoformat(),
        },
    }

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "notifier", 256, "demo"
        invoked_function_arn = "arn:aws:lambda:local:000000000000:function:notifier"

    notifier({"Records": [record]}, Context())
