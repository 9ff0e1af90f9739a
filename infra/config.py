"""The stack's configuration: `cdk.json` context plus `-c key=value` overrides, parsed once.

Every setting is a top-level context key named like the field below. Values from
`cdk.json` arrive as JSON; values from `-c` arrive as strings, so list fields
also accept a comma list (`-c alarm_emails=a@x.com,b@y.com`) or a JSON string
(`-c budgets_to_alarm='[{"budget_id": "anthropic", "thresholds": [0.8, 1.0]}]'`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class BudgetAlarm(BaseModel):
    """One budget to alarm on: a CloudWatch alarm per threshold on its `BudgetUtilization` metric."""

    model_config = ConfigDict(extra="forbid")

    budget_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    thresholds: list[float] = Field(default_factory=lambda: [0.8, 1.0], min_length=1)

    @field_validator("thresholds")
    @classmethod
    def _positive_unique(cls, value: list[float]) -> list[float]:
        if any(t <= 0 or t > 10 for t in value):
            raise ValueError("thresholds are fractions of the limit, in (0, 10]")
        if len(set(value)) != len(value):
            raise ValueError("thresholds must be unique")
        return sorted(value)


class StackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str = Field("dev", pattern=r"^[a-z][a-z0-9-]{0,19}$")
    alarm_emails: list[str] = Field(default_factory=list)
    budgets_to_alarm: list[BudgetAlarm] = Field(default_factory=list)
    daily_cost_alarm_usd: float | None = Field(100.0, gt=0)
    github_oidc_audience: str = Field("aiusage", min_length=1)
    # Owners ("octo-org") or repositories ("octo-org/octo-repo") allowed to post usage with OIDC.
    github_oidc_allowlist: list[str] = Field(default_factory=list)
    raw_retention_days: int = Field(400, ge=1)
    # Secrets Manager secret (name or full ARN) holding the Slack-compatible webhook URL.
    webhook_secret_name: str | None = None
    log_retention_days: int = 30
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_throttle_rate: float = Field(50.0, gt=0)
    api_throttle_burst: int = Field(100, gt=0)
    # "real": pip-install the runtime dependencies into the asset; "stub": sources only (tests).
    bundling: Literal["real", "stub"] = "real"

    @field_validator("alarm_emails", "github_oidc_allowlist", "budgets_to_alarm", mode="before")
    @classmethod
    def _list_from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [v.strip() for v in text.split(",") if v.strip()]
        return value

    @field_validator("alarm_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _EMAIL.match(v)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return value

    @field_validator("webhook_secret_name", "daily_cost_alarm_usd", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", "none", "null") else value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs retention must be one of {LOG_RETENTION_DAYS}")
        return value

    @classmethod
    def from_context(cls, node: Any) -> StackConfig:
        """Read every field from the construct tree's context (cdk.json and -c overrides)."""
        # A typo (`-c alarm_email=...`) must not be ignored silently. Keys of CDK itself and of
        # feature flags contain ':' or '@' (aws:cdk:..., @aws-cdk/...), ours are snake_case.
        unknown = sorted(k for k in node.get_all_context() if re.fullmatch(r"[a-z][a-z0-9_]*", k)
                         and k not in cls.model_fields)
        if unknown:
            raise ValueError(f"unknown context keys {unknown}; the settings are {sorted(cls.model_fields)}")
        values = {}
        for name in cls.model_fields:
            value = node.try_get_context(name)
            if value is not None:
                values[name] = value
        return cls.model_validate(values)

    @property
    def stack_name(self) -> str:
        return f"aiusage-{self.stage}"
