"""The aiusage CDK app.

Run by the CDK CLI (`cdk.json`: the CLI passes context and the output directory
in the environment) or directly, offline, with no CLI, Docker or AWS
credentials:

    .venv/bin/python infra/app.py [--outdir cdk.out] [-c key=value ...]

Run directly, it reads the context of `cdk.json` itself and applies the `-c`
overrides, like the CLI would. The stack is environment-agnostic (no account or
region, no lookups), so synthesis never calls AWS. cdk-nag's AwsSolutions and
Serverless packs validate the app; synthesis fails on any unacknowledged error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as `python infra/app.py`, Python puts infra/ first on sys.path, where infra/constructs
# would shadow the `constructs` library: import from the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "infra"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# jsii warns loudly that Node 20 is past its end of life; the app works with it (Node 22+ is better).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App  # noqa: E402

from infra import bundling, nag  # noqa: E402
from infra.config import StackConfig  # noqa: E402
from infra.stack import AIUsageStack  # noqa: E402

BUNDLING_ENV = "AIUSAGE_BUNDLING"  # "stub" skips the pip step (tests), overriding the context


def cdk_json_context() -> dict[str, Any]:
    path = ROOT / "cdk.json"
    return json.loads(path.read_text()).get("context", {}) if path.exists() else {}


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[App, AIUsageStack]:
    """The app with its one stack. `context` adds to (and overrides) the context the app already has."""
    app = App(context=context or None, outdir=outdir)
    config = StackConfig.from_context(app.node)
    mode = os.environ.get(BUNDLING_ENV) or config.bundling
    asset = bundling.build_asset(mode)
    from functions.api.access import ROUTES

    stack = AIUsageStack(app, config.stack_name, config=config, asset=asset, routes=ROUTES)
    nag.add_checks(app)
    return app, stack


def _parse_context(pairs: list[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"-c expects key=value, got {pair!r}")
        context[key] = value
    return context


def main(argv: list[str] | None = None) -> None:
    if os.environ.get("CDK_OUTDIR"):  # run by the CDK CLI: it supplies context and outdir
        app, _ = build_app()
        app.synth()
        return
    parser = argparse.ArgumentParser(description="Synthesize the aiusage stack offline (no CDK CLI needed).")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("-o", "--outdir", default=str(ROOT / "cdk.out"))
    args = parser.parse_args(argv)
    context = {**cdk_json_context(), **_parse_context(args.context)}
    app, stack = build_app(context, args.outdir)
    assembly = app.synth()
    report = nag.read_report(assembly.directory)
    template = Path(assembly.directory) / stack.template_file
    print(f"synthesized {stack.stack_name}: {template}")
    acknowledged = nag.acknowledgements(json.loads(template.read_text()))
    print(f"cdk-nag: {len(report.errors)} unacknowledged errors, {len(report.warnings)} warnings, "
          f"{len({a.rule for a in acknowledged})} rules acknowledged with reasons "
          f"({len(acknowledged)} resource acknowledgements)")
    if report.errors:
        raise SystemExit("cdk-nag errors: " + "; ".join(f"{f.rule} {f.paths}" for f in report.errors))


if __name__ == "__main__":
    main()
