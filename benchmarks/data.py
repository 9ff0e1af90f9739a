"""Deterministic, realistic usage for the benchmarks: many services, models, users and projects.

Events are generated in time order (as clients send them), spread evenly over
a number of days; batches are consecutive events, the way the SDK flushes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# The environment of a benchmark's in-process moto table (`aiusage.local.aws.local_aws`).
BENCH_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
             "AWS_REGION": "us-east-1", "TABLE_NAME": "bench", "POWERTOOLS_METRICS_DISABLED": "true"}

MODELS = [
    ("openai", "gpt-4o", "completion"), ("openai", "gpt-4o-mini", "completion"), ("openai", "o3", "completion"),
    ("openai", "text-embedding-3-small", "embedding"), ("anthropic", "claude-sonnet-4-5", "completion"),
    ("anthropic", "claude-haiku-4-5", "completion"), ("anthropic", "claude-sonnet-4-5", "code_review"),
    ("google", "gemini-2.5-pro", "completion"), ("google", "gemini-2.5-flash", "completion"),
    ("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "completion"),
    ("google_places", "", "place_details"), ("google_places", "", "text_search"),
]
USERS = [f"user-{i:02d}" for i in range(25)]
PROJECTS = ["search", "support-bot", "analytics", "docs-assistant", "billing", "onboarding"]
REPOSITORIES = ["acme/web", "acme/api", "acme/infra", "acme/ml"]


def events(count: int, days: int, end: datetime, seed: int = 12) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    start = end - timedelta(days=days)
    step = (end - start) / count
    for n in range(count):
        ts = start + step * n
        service, model, operation = rng.choice(MODELS)
        event: dict[str, Any] = {
            "event_id": f"bench-{seed}-{n}",
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "service": service,
            "operation": operation,
            "user_id": rng.choice(USERS),
            "project": rng.choice(PROJECTS),
        }
        if model:
            event["model"] = model
            event["input_tokens"] = rng.randint(200, 20_000)
            event["output_tokens"] = rng.randint(10, 2_000)
        else:
            event["requests"] = rng.randint(1, 3)
        if operation == "code_review":
            event["github"] = {"repository": rng.choice(REPOSITORIES), "pr_number": rng.randint(1, 500)}
        if rng.random() < 0.05:
            event["job_id"] = f"job-{ts:%Y%m%d}"
        yield event


def default_end() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
