"""The stack configuration: cdk.json context and `-c key=value` strings, parsed once into StackConfig."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.config import StackConfig

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]


class _Node:
    """What StackConfig.from_context reads from a construct node."""

    def __init__(self, context: dict):
        self.context = context

    def get_all_context(self) -> dict:
        return self.context

    def try_get_context(self, key: str):
        return self.context.get(key)


def test_defaults_match_cdk_json_and_spec():
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    config = StackConfig.from_context(_Node(context))
    assert config == StackConfig()
    assert config.github_oidc_audience == "aiusage"
    assert config.raw_retention_days == 400
    assert config.stack_name == "aiusage-dev"


def test_command_line_strings_are_parsed():
    config = StackConfig.from_context(_Node({
        "stage": "prod",
        "alarm_emails": "a@example.com, b@example.org",
        "github_oidc_allowlist": "octo-org,octo-org/repo",
        "budgets_to_alarm": '[{"budget_id": "b1", "thresholds": [1.0, 0.5]}]',
        "daily_cost_alarm_usd": "12.5",
        "raw_retention_days": "90",
        "webhook_secret_name": "",
        "@aws-cdk/core:checkSecretUsage": True,
        "aws:cdk:enable-path-metadata": True,
    }))
    assert config.alarm_emails == ["a@example.com", "b@example.org"]
    assert config.github_oidc_allowlist == ["octo-org", "octo-org/repo"]
    assert config.budgets_to_alarm[0].budget_id == "b1"
    assert config.budgets_to_alarm[0].thresholds == [0.5, 1.0]
    assert config.daily_cost_alarm_usd == 12.5 and config.raw_retention_days == 90
    assert config.webhook_secret_name is None
    assert config.stack_name == "aiusage-prod"


@pytest.mark.parametrize("context, message", [
    ({"alarm_emails": "not-an-email"}, "not an email"),
    ({"budgets_to_alarm": '[{"budget_id": "b", "thresholds": [0]}]'}, "thresholds"),
    ({"budgets_to_alarm": '[{"budget_id": "b", "thresholds": [0.5, 0.5]}]'}, "unique"),
    ({"log_retention_days": 31}, "retention"),
    ({"stage": "Prod!"}, "stage"),
    ({"bundling": "docker"}, "bundling"),
    ({"alarm_email": "a@example.com"}, "unknown context keys"),
])
def test_bad_settings_are_refused(context, message):
    with pytest.raises((ValidationError, ValueError), match=message):
        StackConfig.from_context(_Node(context))
