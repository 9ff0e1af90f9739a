"""The `aiusage` command line: serve, record, report, keys, prices (typer + rich)."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from aiusage.client import ApiClient, ApiError

app = typer.Typer(help="aiusage: an AI usage and cost ledger.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys, straight in the table (with your AWS credentials).", no_args_is_help=True)
prices_app = typer.Typer(help="Effective prices and overrides.", no_args_is_help=True)
budgets_app = typer.Typer(help="Budgets: list, set, status, check.", no_args_is_help=True)
report_app = typer.Typer(
    help="The terminal report of recent usage; `report run` generates a stored daily/weekly/monthly report.",
    invoke_without_command=True)
app.add_typer(keys_app, name="keys")
app.add_typer(prices_app, name="prices")
app.add_typer(report_app, name="report")
app.add_typer(budgets_app, name="budgets")
console = Console()
err = Console(stderr=True)

ApiUrl = Annotated[Optional[str], typer.Option("--api-url", envvar="AIUSAGE_API_URL", help="API base URL.")]
ApiKey = Annotated[Optional[str], typer.Option("--api-key", envvar="AIUSAGE_API_KEY", help="API key.")]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _api_call(fn: Any) -> Any:
    try:
        return fn()
    except ApiError as exc:
        if exc.status == 0:
            _fail(f"{exc.message}. Is the API running (aiusage serve) and is --api-url right?")
        if exc.status == 401:
            _fail("the API key was not accepted (401). Check --api-key / AIUSAGE_API_KEY.")
        if exc.status == 403:
            _fail(f"the API key lacks the scope for this ({exc.message}).")
        details = "".join(f"\n  {'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in exc.details)
        _fail(f"{exc.status} {exc.code}: {exc.message}{details}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 3000,
    demo: Annotated[bool, typer.Option("--demo", help="Seed a realistic demo month of usage.")] = False,
    dynamodb_endpoint: Annotated[Optional[str], typer.Option(help="Use this DynamoDB-compatible server instead of the embedded one.")] = None,
    table: Annotated[str, typer.Option(help="Table name.")] = "aiusage",
) -> None:
    """Run the local stack: embedded DynamoDB, the API on HTTP, the same handlers as AWS."""
    from aiusage.local.serve import ServeOptions
    from aiusage.local.serve import serve as run

    run(ServeOptions(host=host, port=port, demo=demo, dynamodb_endpoint=dynamodb_endpoint, table=table))


@app.command()
def record(
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="JSON event (or {\"events\": [...]}); '-' for stdin.")] = None,
    service: Annotated[Optional[str], typer.Option()] = None,
    model: Annotated[Optional[str], typer.Option()] = None,
    operation: Annotated[Optional[str], typer.Option()] = None,
    input_tokens: Annotated[Optional[int], typer.Option()] = None,
    output_tokens: Annotated[Optional[int], typer.Option()] = None,
    cache_read_tokens: Annotated[Optional[int], typer.Option()] = None,
    cache_write_tokens: Annotated[Optional[int], typer.Option()] = None,
    requests: Annotated[Optional[int], typer.Option()] = None,
    cost_usd: Annotated[Optional[str], typer.Option(help="Reported cost (authoritative).")] = None,
    event_id: Annotated[Optional[str], typer.Option()] = None,
    user_id: Annotated[Optional[str], typer.Option(envvar="USER_ID")] = None,
    project: Annotated[Optional[str], typer.Option()] = None,
    job_id: Annotated[Optional[str], typer.Option()] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="key=value, repeatable.")] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Record one event from flags, or events from a JSON file / stdin."""
    if file is not None:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        try:
            body = json.loads(text)
        except ValueError as exc:
            _fail(f"{file}: not JSON ({exc})")
    else:
        if not service:
            _fail("give --service (and --model, token counts...) or --file")
        body = {k: v for k, v in {
            "service": service, "model": model, "operation": operation, "input_tokens": input_tokens,
            "output_tokens": output_tokens, "cache_read_tokens": cache_read_tokens,
            "cache_write_tokens": cache_write_tokens, "requests": requests, "event_id": event_id,
            "user_id": user_id, "project": project, "job_id": job_id,
        }.items() if v is not None}
        if cost_usd is not None:
            body["cost_usd"] = float(cost_usd)
        if tag:
            body["tags"] = dict(t.split("=", 1) for t in tag)
    client = ApiClient(api_url, api_key)
    answer = _api_call(lambda: client.post("/ai_usage", body))
    for r in answer["results"]:
        cost = "-" if r["cost_usd"] is None else f"${r['cost_usd']:.6f}"
        console.print(f"{r['event_id']}: [bold]{r['status']}[/bold] {cost} ({r['cost_source']})")


class ReportFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


class ReportKind(str, Enum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class StoredReportFormat(str, Enum):
    markdown = "markdown"
    json = "json"


@report_app.callback()
def report(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, max=400, help="How many days, ending today (UTC).")] = 30,
    service: Annotated[Optional[str], typer.Option(help="Only this service (comma = any of).")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="table, markdown, json or csv.")] = ReportFormat.table,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Cost of the last days: summary, cost by service, by model (top 10), daily trend with bars."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"api_url": api_url, "api_key": api_key}  # `report --api-url U run ...` works too
        return
    from datetime import UTC, datetime

    from aiusage.report import render_markdown, render_rich, usage_params

    client = ApiClient(api_url, api_key)
    params = usage_params(days, service, datetime.now(UTC).date())
    if fmt is ReportFormat.csv:
        text = _api_call(lambda: client.request("GET", "/ai_usage", raw=True, params={
            **params, "format": "csv", "group_by": "day,service,model"}))
        sys.stdout.write(text)
        return
    answer = _api_call(lambda: client.get("/ai_usage", **params))
    if fmt is ReportFormat.json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    elif fmt is ReportFormat.markdown:
        sys.stdout.write(render_markdown(answer))
    else:
        render_rich(answer, console)


@report_app.command("run")
def report_run(
    ctx: typer.Context,
    kind: Annotated[ReportKind, typer.Option(help="daily, weekly or monthly.")] = ReportKind.daily,
    period: Annotated[Optional[str], typer.Option(
        help="2026-11-21, 2026-W47 or 2026-11; default the last complete period.")] = None,
    fmt: Annotated[StoredReportFormat, typer.Option("--format", help="markdown or json.")] = StoredReportFormat.markdown,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Generate (or regenerate) a stored report now and print it (admin key)."""
    from urllib.parse import quote

    parent = ctx.obj or {}
    client = ApiClient(api_url or parent.get("api_url"), api_key or parent.get("api_key"))
    body = {"kind": kind.value, **({"period": period} if period else {})}
    generated = _api_call(lambda: client.post("/reports", body))
    if fmt is StoredReportFormat.json:
        sys.stdout.write(json.dumps(generated, indent=2) + "\n")
        return
    path = f"/reports/{quote(generated['kind'], safe='')}/{quote(generated['period'], safe='')}"
    sys.stdout.write(_api_call(lambda: client.request("GET", path, params={"format": "markdown"}, raw=True)))


def _table_env(table: str | None, region: str | None, dynamodb_endpoint: str | None) -> None:
    if table:
        os.environ["TABLE_NAME"] = table
    if region:
        os.environ["AWS_REGION"] = region
    if dynamodb_endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    from shared import store
    from shared.config import settings

    settings.cache_clear()
    store.reset()


TableOpt = Annotated[Optional[str], typer.Option("--table", envvar="TABLE_NAME", help="Table name (stack output TableName).")]
RegionOpt = Annotated[Optional[str], typer.Option("--region", envvar="AWS_REGION")]
EndpointOpt = Annotated[Optional[str], typer.Option("--dynamodb-endpoint", help="DynamoDB-compatible endpoint.")]


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scope: Annotated[list[str], typer.Option("--scope", help="usage:write, usage:read or admin; repeatable.")],
    table: TableOpt = None,
    region: RegionOpt = None,
    dynamodb_endpoint: EndpointOpt = None,
) -> None:
    """Create an API key directly in the table; prints it once."""
    from shared.keys import SCOPES, create_key

    bad = [s for s in scope if s not in SCOPES]
    if bad:
        _fail(f"unknown scope {', '.join(bad)}; use {', '.join(SCOPES)}")
    _table_env(table, region, dynamodb_endpoint)
    try:
        created = create_key(name, scope)
    except Exception as exc:  # boto3: no credentials, no table...
        _fail(f"could not write the key to the table: {exc}")
    console.print_json(data=created)
    err.print("[yellow]Store the key now: it is not shown again.[/yellow]")


@keys_app.command("list")
def keys_list(table: TableOpt = None, region: RegionOpt = None, dynamodb_endpoint: EndpointOpt = None) -> None:
    """List keys (never the keys themselves)."""
    from shared.keys import list_keys

    _table_env(table, region, dynamodb_endpoint)
    out = Table("key_id", "name", "scopes", "created_at", "last_used_at", "revoked_at")
    for k in list_keys():
        out.add_row(k["key_id"], k["name"], " ".join(k["scopes"]), k["created_at"], k.get("last_used_at") or "",
                    k.get("revoked_at") or "")
    console.print(out)


@keys_app.command("revoke")
def keys_revoke(key_id: str, table: TableOpt = None, region: RegionOpt = None, dynamodb_endpoint: EndpointOpt = None) -> None:
    """Revoke a key by id."""
    from shared.errors import NotFound
    from shared.keys import revoke_key

    _table_env(table, region, dynamodb_endpoint)
    try:
        console.print_json(data=revoke_key(key_id))
    except NotFound as exc:
        _fail(str(exc))


@prices_app.command("show")
def prices_show(
    service: Annotated[Optional[str], typer.Option()] = None,
    model: Annotated[Optional[str], typer.Option()] = None,
    operation: Annotated[Optional[str], typer.Option()] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Show the effective price of a model (or the override and per-request lists)."""
    client = ApiClient(api_url, api_key)
    console.print_json(data=_api_call(lambda: client.get("/prices", service=service, model=model, operation=operation)))


@prices_app.command("set")
def prices_set(
    service: str,
    model_or_operation: str,
    input_per_mtok: Annotated[Optional[float], typer.Option()] = None,
    output_per_mtok: Annotated[Optional[float], typer.Option()] = None,
    cache_read_per_mtok: Annotated[Optional[float], typer.Option()] = None,
    cache_write_per_mtok: Annotated[Optional[float], typer.Option()] = None,
    per_request: Annotated[Optional[float], typer.Option()] = None,
    credits_per_request: Annotated[Optional[float], typer.Option()] = None,
    valid_from: Annotated[Optional[str], typer.Option(help="RFC 3339 or YYYY-MM-DD.")] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Set a price override (admin)."""
    from urllib.parse import quote

    body = {k: v for k, v in dict(
        input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok, cache_read_per_mtok=cache_read_per_mtok,
        cache_write_per_mtok=cache_write_per_mtok, per_request=per_request, credits_per_request=credits_per_request,
        valid_from=valid_from).items() if v is not None}
    client = ApiClient(api_url, api_key)
    path = f"/prices/{quote(service, safe='')}/{quote(model_or_operation, safe='')}"
    console.print_json(data=_api_call(lambda: client.request("PUT", path, body=body)))


STATE_STYLE = {"ok": "green", "warning": "yellow", "critical": "red", "exceeded": "bold red"}


@budgets_app.command("list")
def budgets_list(api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """Every budget with its state this period."""
    client = ApiClient(api_url, api_key)
    found = _api_call(lambda: client.get("/budgets"))["budgets"]
    out = Table("budget", "scope", "period", "spent", "limit", "used", "state", "forecast")
    for b in found:
        s = b["status"]
        limit = s["limit_usd"] if s["limit_usd"] is not None else (s["limit_tokens"] or s["limit_credits"])
        out.add_row(b["budget_id"], json.dumps(b["scope"]) if b["scope"] else "(all)", b["period"],
                    f"${s['spent_usd']:,.2f}", f"{limit:,}", f"{s['utilization'] * 100:.1f}%",
                    f"[{STATE_STYLE[s['state']]}]{s['state']}[/]",
                    f"${s['forecast_usd']:,.2f}" if s["forecast_usd"] is not None else "-")
    console.print(out)


@budgets_app.command("status")
def budgets_status(budget_id: str, api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """One budget's definition and status."""
    client = ApiClient(api_url, api_key)
    console.print_json(data=_api_call(lambda: client.get(f"/budgets/{budget_id}")))


@budgets_app.command("set")
def budgets_set(
    budget_id: str,
    period: Annotated[str, typer.Option(help="daily, weekly, monthly, quarterly, yearly or total.")],
    limit_usd: Annotated[Optional[float], typer.Option()] = None,
    limit_tokens: Annotated[Optional[int], typer.Option()] = None,
    limit_credits: Annotated[Optional[float], typer.Option()] = None,
    name: Annotated[Optional[str], typer.Option()] = None,
    service: Annotated[Optional[str], typer.Option(help="Scope: service.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Scope: model.")] = None,
    user_id: Annotated[Optional[str], typer.Option(help="Scope: user.")] = None,
    project: Annotated[Optional[str], typer.Option(help="Scope: project.")] = None,
    repository: Annotated[Optional[str], typer.Option(help="Scope: repository.")] = None,
    timezone: Annotated[str, typer.Option()] = "UTC",
    anchor_day: Annotated[int, typer.Option()] = 1,
    threshold: Annotated[Optional[list[float]], typer.Option(help="Alert threshold (fraction), repeatable.")] = None,
    forecast_alert: Annotated[bool, typer.Option("--forecast-alert")] = False,
    action: Annotated[str, typer.Option(help="warn, block, degrade or queue.")] = "warn",
    fallback_model: Annotated[Optional[str], typer.Option()] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Create or replace a budget (admin)."""
    scope = {k: v for k, v in dict(service=service, model=model, user_id=user_id, project=project,
                                    repository=repository).items() if v is not None}
    body: dict[str, Any] = {"scope": scope, "period": period, "timezone": timezone, "anchor_day": anchor_day,
                            "limit_usd": limit_usd, "limit_tokens": limit_tokens, "limit_credits": limit_credits,
                            "forecast_alert": forecast_alert, "action_on_limit": action, "fallback_model": fallback_model}
    if name:
        body["name"] = name
    if threshold:
        body["thresholds"] = threshold
    client = ApiClient(api_url, api_key)
    console.print_json(data=_api_call(lambda: client.request("PUT", f"/budgets/{budget_id}", body=body)))


@budgets_app.command("check")
def budgets_check(
    service: Annotated[Optional[str], typer.Option()] = None,
    model: Annotated[Optional[str], typer.Option()] = None,
    user_id: Annotated[Optional[str], typer.Option()] = None,
    project: Annotated[Optional[str], typer.Option()] = None,
    cost: Annotated[Optional[float], typer.Option("--cost", help="Estimated cost in USD.")] = None,
    input_tokens: Annotated[Optional[int], typer.Option()] = None,
    output_tokens: Annotated[Optional[int], typer.Option()] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """May this be spent? Exits 0 when allowed, 3 when a budget blocks or queues it."""
    body = {k: v for k, v in dict(service=service, model=model, user_id=user_id, project=project,
                                   estimated_cost_usd=cost, input_tokens=input_tokens,
                                   output_tokens=output_tokens).items() if v is not None}
    client = ApiClient(api_url, api_key)
    decision = _api_call(lambda: client.post("/budgets/check", body))
    console.print_json(data=decision)
    if not decision["allowed"]:
        raise typer.Exit(3)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
