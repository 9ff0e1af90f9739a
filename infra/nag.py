"""cdk-nag: the AwsSolutions and Serverless packs on the app, acknowledgements with reasons, and the report.

cdk-nag 3 runs as a CDK policy-validation plugin (`Validations.of(app).add_plugins`)
instead of an Aspect, and findings are acknowledged with
`Validations.of(construct).acknowledge(Acknowledgment(id, reason))` (v2's
`NagSuppressions` is gone). An acknowledgement covers the construct and all its
children, like v2's `apply_to_children=True`. Synthesis raises on any
unacknowledged *error*; warnings are reported in `validation-report.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct

REPORT_FILE = "validation-report.json"
NAG_PLUGINS = ("AwsSolutions", "Serverless")


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(
        # Writes each acknowledgement into the template (Metadata.cdk_nag) as an audit trail.
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(app),
    )


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `scope` and everything under it, with the reason why."""
    if len(reason.strip()) < 20:
        raise ValueError(f"{rule_id}: a suppression needs a real reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


@dataclass(frozen=True)
class Finding:
    plugin: str
    rule: str
    severity: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class NagReport:
    """What the validation plugins reported and nobody acknowledged."""

    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity in ("error", "fatal") and _is_nag(f))

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning" and _is_nag(f))


def _is_nag(finding: Finding) -> bool:
    return finding.plugin in NAG_PLUGINS


def read_report(assembly_dir: str | Path) -> NagReport:
    """The validation report CDK wrote next to the templates (cdk-nag leaves acknowledged findings out)."""
    data: dict[str, Any] = json.loads((Path(assembly_dir) / REPORT_FILE).read_text())
    findings = []
    for plugin in data.get("pluginReports", []):
        name = plugin.get("pluginName") or plugin.get("summary", {}).get("pluginName", "")
        for v in plugin.get("violations", []):
            resources = v.get("violatingConstructs") or v.get("violatingResources") or []
            paths = tuple(r.get("constructPath") or r.get("resourceLogicalId") or "?" for r in resources)
            findings.append(Finding(name, v.get("ruleName", "?"), v.get("severity", "?"), paths))
    return NagReport(tuple(findings))


@dataclass(frozen=True)
class Acknowledgement:
    logical_id: str
    rule: str
    reason: str


def acknowledgements(template: dict[str, Any]) -> list[Acknowledgement]:
    """Every acknowledged finding, as written into the template's `Metadata.cdk_nag` (the audit trail)."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            found.append(Acknowledgement(logical_id, rule["id"], rule.get("reason", "")))
    return found
