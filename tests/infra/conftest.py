"""Infra tests: the stack is synthesized ONCE per session, in-process (no CDK CLI), with stub bundling.

The session context turns every optional feature on (alarm emails, budgets to
alarm on, a webhook secret, an OIDC allowlist), so one template shows them all;
the offline-synth test runs the app again in a subprocess with the plain
`cdk.json` defaults.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Before aws_cdk is imported (the jsii runtime starts with the first import).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[2]
TEST_CONTEXT: dict[str, Any] = {
    "stage": "test",
    "bundling": "stub",
    # As `-c` would pass them: strings, parsed by infra/config.py.
    "alarm_emails": "ops@example.com,finance@example.com",
    "budgets_to_alarm": json.dumps([
        {"budget_id": "anthropic-monthly", "thresholds": [0.5, 0.8, 1.0]},
        {"budget_id": "global", "thresholds": [0.9]},
    ]),
    "daily_cost_alarm_usd": "250",
    "github_oidc_allowlist": "octo-org,other-org/one-repo",
    "webhook_secret_name": "aiusage/test/slack-webhook",
}


@dataclass
class Synth:
    app: Any
    stack: Any
    config: Any
    assembly_dir: Path
    template_path: Path
    template: dict[str, Any]
    seconds: float

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    def logical_id(self, construct: Any) -> str:
        """The logical id of an L2 construct's CloudFormation resource."""
        node = getattr(construct, "node", None)
        cfn = node.default_child if node is not None and node.default_child is not None else construct
        return self.stack.get_logical_id(cfn)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from infra.app import build_app, cdk_json_context
    from infra.config import StackConfig

    outdir = tmp_path_factory.mktemp("cdk.out")
    started = time.monotonic()
    app, stack = build_app({**cdk_json_context(), **TEST_CONTEXT}, str(outdir))
    assembly = app.synth()
    seconds = time.monotonic() - started
    print(f"\nin-process synth of {stack.stack_name} (stub bundling): {seconds:.1f} s")
    template_path = Path(assembly.directory) / stack.template_file
    return Synth(app, stack, StackConfig.from_context(app.node), Path(assembly.directory), template_path,
                 json.loads(template_path.read_text()), seconds)


@pytest.fixture(scope="session")
def template(synth: Synth):
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)
