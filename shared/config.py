"""Runtime configuration, parsed once from the environment into a pydantic model.

`settings()` is read at first use (cold start), never at import; tests and the
local server change the environment and call `settings.cache_clear()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    table_name: str = "aiusage"
    region: str = "us-east-1"
    dynamodb_endpoint: str | None = None
    alerts_topic_arn: str | None = None
    raw_retention_days: int = Field(400, ge=1)
    github_oidc_audience: str = "aiusage"
    # Owners ("octo-org") or repositories ("octo-org/octo-repo") allowed to post with OIDC.
    github_oidc_allowlist: list[str] = Field(default_factory=list)
    github_jwks_url: str = "https://token.actions.githubusercontent.com/.well-known/jwks"
    # A JWKS document inline (tests, air-gapped deployments) instead of fetching the URL.
    github_jwks: str | None = None
    webhook_secret_arn: str | None = None
    # Seconds a budget backfill waits, beyond the write bound, for the service GSI to
    # catch up (DynamoDB GSIs are eventually consistent; moto is not, so the default is 0).
    backfill_settle_seconds: float = Field(0.0, ge=0, le=10)
    # The write path's timing bounds (SPEC 13, shared/aggregation.py). An event is in
    # DynamoDB at most `write_bound_seconds` after ingest stamps its `received_at` (ingest
    # re-stamps before every attempt, and each attempt's client timeouts are shorter).
    write_bound_seconds: float = Field(5.0, gt=0, le=60)
    # The stream delivers a stored event to the aggregator within this many seconds
    # (batching window plus polling); beyond it, a quiet shard counts as caught up.
    stream_latency_seconds: float = Field(10.0, ge=0, le=300)
    # A new budget generation counts, through the aggregator, events stamped from this
    # many seconds after its definition is written (longer than that write takes).
    budget_fence_seconds: float = Field(1.0, gt=0, le=60)
    stage: str = "dev"
    # Names of the budgets' CloudWatch alarms start with this (shared/budget_alarms.py); the admin
    # role may touch only those. Default: aiusage-<stage>/budget/, like the stack's own alarm names.
    budget_alarm_prefix: str = ""

    def model_post_init(self, context: object) -> None:
        if not self.budget_alarm_prefix:
            self.budget_alarm_prefix = f"aiusage-{self.stage}/budget/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(name.upper())
            if raw is None:
                continue
            values[name] = [v.strip() for v in raw.split(",") if v.strip()] if name == "github_oidc_allowlist" else raw
        if "region" not in values:
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if region:
                values["region"] = region
        if "dynamodb_endpoint" not in values and env.get("AWS_ENDPOINT_URL_DYNAMODB"):
            values["dynamodb_endpoint"] = env["AWS_ENDPOINT_URL_DYNAMODB"]
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()
