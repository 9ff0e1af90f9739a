"""cdk-nag (AwsSolutions + Serverless), cfn-lint, and a synth that needs no network, Docker or AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra import nag

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]


def test_cdk_nag_reports_no_unacknowledged_error(synth):
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    report = nag.read_report(synth.assembly_dir)
    assert report.errors == (), report.errors
    # the packs themselves, run again over the synthesized tree: every finding is acknowledged
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        result = pack.validate_scope(synth.app)
        errors = [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in result.violations
                  if v.severity == "error"]
        assert errors == [], f"{pack.name}: {errors}"


def test_every_acknowledgement_has_a_reason(synth):
    acknowledged = nag.acknowledgements(synth.template)
    assert acknowledged, "the audit trail (Metadata.cdk_nag) is written into the template"
    for ack in acknowledged:
        assert len(ack.reason) >= 40, f"{ack.logical_id} {ack.rule}: {ack.reason!r}"
    rules = {a.rule for a in acknowledged}
    print(f"\ncdk-nag acknowledgements: {len(acknowledged)} on resources, rules: {sorted(rules)}")
    # nothing is acknowledged wholesale: no bare IAM5 and no acknowledgement on the stack itself
    assert "AwsSolutions-IAM5" not in rules
    assert all(not a.rule.startswith("AwsSolutions-IAM5[Action::") for a in acknowledged)


def test_unacknowledged_nag_error_fails_the_synth(tmp_path):
    """The same checks, on an app with a queue that allows plain HTTP: synthesis must refuse."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs

    app = App(outdir=str(tmp_path))
    stack = Stack(app, "nag-probe")
    sqs.CfnQueue(stack, "PlainQueue")
    nag.add_checks(app)
    with pytest.raises(Exception, match="Validation failed|ValidationFailed"):
        app.synth()
    report = nag.read_report(tmp_path)
    assert "AwsSolutions-SQS4" in {f.rule for f in report.errors}


def test_cfn_lint_passes(synth):
    from cfnlint.api import ManualArgs, lint

    matches = lint(synth.template_path.read_text(), config=ManualArgs(regions=["us-east-1", "eu-central-1"]))
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.severity.lower() == "error"]
    print(f"\ncfn-lint: {len(errors)} errors, {len(matches) - len(errors)} warnings/informational")
    assert errors == []


def test_synth_needs_no_network_docker_or_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "CDK_", "DOCKER_")) and k.lower() not in ("http_proxy", "https_proxy",
                                                                                   "all_proxy", "no_proxy")}
    dead = "http://127.0.0.1:9"
    env.update({
        "DOCKER_HOST": "unix:///nonexistent",
        "http_proxy": dead, "https_proxy": dead, "HTTP_PROXY": dead, "HTTPS_PROXY": dead,
        "ALL_PROXY": dead, "all_proxy": dead,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-creds"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PIP_NO_INDEX": "1",  # any pip call would fail: stub bundling must not need one
    })
    outdir = tmp_path / "cdk.out"
    started = time.monotonic()
    # The same command as `make synth` (with stub bundling), from another working directory.
    result = subprocess.run([sys.executable, str(ROOT / "infra" / "app.py"), "-c", "bundling=stub",
                             "--outdir", str(outdir)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"\noffline synth in a subprocess: {seconds:.1f} s\n{result.stdout}")
    assert "0 unacknowledged errors" in result.stdout
    template = json.loads((outdir / "aiusage-dev.template.json").read_text())
    # the cdk.json defaults: no emails, no budgets, no webhook secret, stage dev
    types = [r["Type"] for r in template["Resources"].values()]
    assert "AWS::SNS::Subscription" in types
    assert not any(r["Type"] == "AWS::SNS::Subscription" and r["Properties"]["Protocol"] == "email"
                   for r in template["Resources"].values())
    assert "secretsmanager" not in json.dumps(template)
    # Budgets alarm without any budget in the context: the stack's "a budget passed its limit" alarm, and
    # the admin function may create each budget's own alarms at run time.
    budget_alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
                     and "BudgetUtilization" in json.dumps(r["Properties"])]
    assert [a["AlarmName"] for a in budget_alarms] == ["aiusage-dev-budget-exceeded"]
    assert '":alarm:aiusage-dev/budget/*"' in json.dumps(template)
    # environment-agnostic: no account or region baked in
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert manifest["artifacts"]["aiusage-dev"]["environment"] == "aws://unknown-account/unknown-region"
