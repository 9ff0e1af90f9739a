"""The `aiusage` command line: serve, record, report, keys, prices, budgets (typer + rich).

For people, every command prints tables (money in cents, ids in full); for scripts, `--format json`
prints the API's answer as it came, exact amounts included. Everything but `serve` and
`keys --direct` goes through the HTTP API (`--api-url`/`--api-key` or `AIUSAGE_API_URL`/
`AIUSAGE_API_KEY`), so the CLI of `pip install aiusage` needs no server package and no AWS
credentials.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from aiusage.client import ApiClient, ApiError

app = typer.Typer(help="aiusage: an AI usage and cost ledger.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys: through the API with an admin key, or --direct to the table (bootstrap).",
                       no_args_is_help=True)
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

ApiUrl = Annotated[str | None, typer.Option("--api-url", envvar="AIUSAGE_API_URL", help="API base URL.")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="AIUSAGE_API_KEY", help="API key.")]


class Format(str, Enum):
    table = "table"
    json = "json"


FormatOpt = Annotated[
    Format, typer.Option("--format", help="table (for people) or json (the API's answer, for scripts).")
]


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _show(fmt: Format, data: Any, *tables: Any) -> None:
    """The API's answer as JSON, or the tables made of it."""
    if fmt is Format.json:
        _json(data)
        return
    for n, table in enumerate(tables):
        if n:
            console.print()
        console.print(table)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")
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
        details = "".join(f"\n  {'.'.join(map(str, d['loc'])) + ': ' if d.get('loc') else ''}{d.get('msg')}"
                          for d in exc.details)
        _fail(f"{exc.status} {exc.code}: {exc.message}{details}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 3000,
    demo: Annotated[bool, typer.Option("--demo", help="Seed a realistic demo month of usage.")] = False,
    dynamodb_endpoint: Annotated[
        str | None, typer.Option(help="Use this DynamoDB-compatible server instead of the embedded one.")
    ] = None,
    table: Annotated[str, typer.Option(help="Table name.")] = "aiusage",
    workers: Annotated[
        int, typer.Option(min=1, max=32, help="Processes serving the API at once, as Lambda instances do.")
    ] = 1,
    contention: Annotated[
        str | None,
        typer.Option(
            help="Make the embedded DynamoDB behave like real DynamoDB under load: conflicting transactions are "
            "cancelled and hot keys throttled, e.g. 'hold_ms=20,key_wcu=100'."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No line per request (method, path, status, milliseconds).")
    ] = False,
    data_dir: Annotated[
        str | None,
        typer.Option(help="Keep the embedded table here: saved on stop, loaded on start (--demo then seeds nothing)."),
    ] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="With --data-dir: forget what was kept, start clean.")] = False,
) -> None:
    """Run the local stack: embedded DynamoDB, the API on HTTP, the same handlers as AWS."""
    try:
        from aiusage.local.serve import ServeOptions
        from aiusage.local.serve import serve as run
    except ImportError as exc:  # the SDK wheel: no aiusage.local, no server dependencies
        _fail(f"the local stack is not installed ({exc.name or exc}). It is part of the aiusage repository, "
              "not of the SDK package: in a clone, `make run` (or pip install -e '.[server]').")

    run(ServeOptions(host=host, port=port, demo=demo, dynamodb_endpoint=dynamodb_endpoint, table=table,
                     workers=workers, contention=contention, quiet=quiet,
                     data_dir=data_dir, fresh=fresh))


@app.command()
def record(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="JSON event (or {\"events\": [...]}); '-' for stdin.")
    ] = None,
    service: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    operation: Annotated[str | None, typer.Option()] = None,
    input_tokens: Annotated[int | None, typer.Option()] = None,
    output_tokens: Annotated[int | None, typer.Option()] = None,
    cache_read_tokens: Annotated[int | None, typer.Option()] = None,
    cache_write_tokens: Annotated[int | None, typer.Option()] = None,
    requests: Annotated[int | None, typer.Option()] = None,
    cost_usd: Annotated[str | None, typer.Option(help="Reported cost (authoritative).")] = None,
    event_id: Annotated[str | None, typer.Option()] = None,
    user_id: Annotated[str | None, typer.Option(envvar="USER_ID")] = None,
    project: Annotated[str | None, typer.Option()] = None,
    job_id: Annotated[str | None, typer.Option()] = None,
    tag: Annotated[list[str] | None, typer.Option(help="key=value, repeatable.")] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    fmt: FormatOpt = Format.table,
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
    from aiusage.tables import record_listing

    _show(fmt, answer, record_listing(answer["results"]))


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
    service: Annotated[str | None, typer.Option(help="Only this service (comma = any of).")] = None,
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
    period: Annotated[
        str | None, typer.Option(help="2026-11-21, 2026-W47 or 2026-11; default the last complete period.")
    ] = None,
    fmt: Annotated[
        StoredReportFormat, typer.Option("--format", help="markdown or json.")
    ] = StoredReportFormat.markdown,
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
    try:
        from shared import store
        from shared.config import settings
    except ImportError as exc:
        _fail(f"--direct writes to DynamoDB with the server's code, which is not installed ({exc.name or exc}): "
              "use it from a clone of the repository (pip install -e '.[server]'), or go through the API "
              "with an admin key (--api-url/--api-key).")
    settings.cache_clear()
    store.reset()


DirectOpt = Annotated[bool, typer.Option(
    "--direct", help="Straight to the DynamoDB table with your AWS credentials (the first admin key after "
                     "`cdk deploy`); implied by --table or --dynamodb-endpoint.")]
TableOpt = Annotated[str | None, typer.Option("--table", help="With --direct: the table (stack output TableName; "
                                                                 "default $TABLE_NAME).")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="With --direct: the AWS region (default $AWS_REGION).")]
EndpointOpt = Annotated[str | None, typer.Option("--dynamodb-endpoint",
                                                    help="With --direct: a DynamoDB-compatible endpoint.")]


def _direct(direct: bool, table: str | None, region: str | None, dynamodb_endpoint: str | None) -> bool:
    if direct or table or dynamodb_endpoint:
        _table_env(table, region, dynamodb_endpoint)
        return True
    return False


def _admin_client(api_url: str | None, api_key: str | None) -> ApiClient:
    client = ApiClient(api_url, api_key)
    if not client.api_key:
        _fail("give an admin key (--api-key or AIUSAGE_API_KEY; `aiusage serve` prints one), "
              "or use --direct --table NAME to write straight to the table with AWS credentials.")
    return client


def _admin_call(fn: Any) -> Any:
    try:
        return fn()
    except ApiError as exc:
        if exc.status == 403:
            _fail(f"managing keys needs a key with the admin scope ({exc.message}).")
        raise


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scope: Annotated[list[str], typer.Option("--scope", help="usage:write, usage:read or admin; repeatable.")],
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    direct: DirectOpt = False,
    table: TableOpt = None,
    region: RegionOpt = None,
    dynamodb_endpoint: EndpointOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Create an API key (POST /keys, admin); prints it once."""
    scopes = ("usage:write", "usage:read", "admin")
    bad = [s for s in scope if s not in scopes]
    if bad:
        _fail(f"unknown scope {', '.join(bad)}; use {', '.join(scopes)}")
    if _direct(direct, table, region, dynamodb_endpoint):
        from shared.keys import create_key

        try:
            created = create_key(name, scope)
        except Exception as exc:  # boto3: no credentials, no table...
            _fail(f"could not write the key to the table: {exc}")
    else:
        client = _admin_client(api_url, api_key)
        created = _api_call(lambda: _admin_call(lambda: client.post("/keys", {"name": name, "scopes": scope})))
    if fmt is Format.json:
        _json(created)
    else:
        from aiusage.tables import key_fields

        console.print(key_fields(created))
        sys.stdout.write(f"\n{created['key']}\n\n")  # on a line of its own, never wrapped: to copy
    err.print("[yellow]Store the key now: it is not shown again.[/yellow]")


@keys_app.command("list")
def keys_list(
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    direct: DirectOpt = False,
    table: TableOpt = None,
    region: RegionOpt = None,
    dynamodb_endpoint: EndpointOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List keys, newest first (never the keys themselves)."""
    if _direct(direct, table, region, dynamodb_endpoint):
        from shared.keys import list_keys

        try:
            answer = {"keys": list_keys()}
        except Exception as exc:  # boto3: no credentials, no table...
            _fail(f"could not read the keys from the table: {exc}")
    else:
        client = _admin_client(api_url, api_key)
        answer = _api_call(lambda: _admin_call(lambda: client.get("/keys")))
    from aiusage.tables import keys_listing

    _show(fmt, answer, keys_listing(answer["keys"]))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (k_...), from `aiusage keys list`.")],
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    direct: DirectOpt = False,
    table: TableOpt = None,
    region: RegionOpt = None,
    dynamodb_endpoint: EndpointOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Revoke a key by id: it stops working at once."""
    if _direct(direct, table, region, dynamodb_endpoint):
        from shared.errors import NotFound
        from shared.keys import revoke_key

        try:
            revoked = revoke_key(key_id)
        except NotFound as exc:
            _fail(str(exc))
        except Exception as exc:  # boto3: no credentials, no table...
            _fail(f"could not revoke the key in the table: {exc}")
    else:
        from urllib.parse import quote

        client = _admin_client(api_url, api_key)
        revoked = _api_call(lambda: _admin_call(lambda: client.request("DELETE", f"/keys/{quote(key_id, safe='')}")))
    from aiusage.tables import key_fields

    _show(fmt, revoked, key_fields(revoked))


@prices_app.command("show")
def prices_show(
    service: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    operation: Annotated[str | None, typer.Option()] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show the effective price of a model (or the override and per-request lists)."""
    from aiusage.tables import prices_renderables

    client = ApiClient(api_url, api_key)
    answer = _api_call(lambda: client.get("/prices", service=service, model=model, operation=operation))
    _show(fmt, answer, *prices_renderables(answer))


@prices_app.command("set")
def prices_set(
    service: str,
    model_or_operation: str,
    input_per_mtok: Annotated[float | None, typer.Option()] = None,
    output_per_mtok: Annotated[float | None, typer.Option()] = None,
    cache_read_per_mtok: Annotated[float | None, typer.Option()] = None,
    cache_write_per_mtok: Annotated[float | None, typer.Option()] = None,
    per_request: Annotated[float | None, typer.Option()] = None,
    credits_per_request: Annotated[float | None, typer.Option()] = None,
    valid_from: Annotated[str | None, typer.Option(help="RFC 3339 or YYYY-MM-DD.")] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Set a price override (admin)."""
    from urllib.parse import quote

    body = {k: v for k, v in dict(
        input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok, cache_read_per_mtok=cache_read_per_mtok,
        cache_write_per_mtok=cache_write_per_mtok, per_request=per_request, credits_per_request=credits_per_request,
        valid_from=valid_from).items() if v is not None}
    client = ApiClient(api_url, api_key)
    path = f"/prices/{quote(service, safe='')}/{quote(model_or_operation, safe='')}"
    stored = _api_call(lambda: client.request("PUT", path, body=body))
    from aiusage.tables import overrides_listing

    _show(fmt, stored, overrides_listing([stored], "Stored override"))



@budgets_app.command("list")
def budgets_list(api_url: ApiUrl = None, api_key: ApiKey = None, fmt: FormatOpt = Format.table) -> None:
    """Every budget with its state this period."""
    from aiusage.tables import budgets_listing

    client = ApiClient(api_url, api_key)
    answer = _api_call(lambda: client.get("/budgets"))
    _show(fmt, answer, budgets_listing(answer["budgets"]))


@budgets_app.command("status")
def budgets_status(budget_id: str, api_url: ApiUrl = None, api_key: ApiKey = None,
                   fmt: FormatOpt = Format.table) -> None:
    """One budget's definition and status."""
    from urllib.parse import quote

    from aiusage.tables import budget_fields

    client = ApiClient(api_url, api_key)
    answer = _api_call(lambda: client.get(f"/budgets/{quote(budget_id, safe='')}"))
    _show(fmt, answer, budget_fields(answer))


@budgets_app.command("set")
def budgets_set(
    budget_id: str,
    period: Annotated[str, typer.Option(help="daily, weekly, monthly, quarterly, yearly or total.")],
    limit_usd: Annotated[float | None, typer.Option()] = None,
    limit_tokens: Annotated[int | None, typer.Option()] = None,
    limit_credits: Annotated[float | None, typer.Option()] = None,
    name: Annotated[str | None, typer.Option()] = None,
    service: Annotated[str | None, typer.Option(help="Scope: service.")] = None,
    model: Annotated[str | None, typer.Option(help="Scope: model.")] = None,
    user_id: Annotated[str | None, typer.Option(help="Scope: user.")] = None,
    project: Annotated[str | None, typer.Option(help="Scope: project.")] = None,
    repository: Annotated[str | None, typer.Option(help="Scope: repository.")] = None,
    timezone: Annotated[str, typer.Option()] = "UTC",
    anchor_day: Annotated[int, typer.Option()] = 1,
    threshold: Annotated[list[float] | None, typer.Option(help="Alert threshold (fraction), repeatable.")] = None,
    forecast_alert: Annotated[bool, typer.Option("--forecast-alert")] = False,
    action: Annotated[str, typer.Option(help="warn, block, degrade or queue.")] = "warn",
    fallback_model: Annotated[str | None, typer.Option()] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Create or replace a budget (admin)."""
    scope = {k: v for k, v in dict(service=service, model=model, user_id=user_id, project=project,
                                    repository=repository).items() if v is not None}
    body: dict[str, Any] = {
        "scope": scope,
        "period": period,
        "timezone": timezone,
        "anchor_day": anchor_day,
        "limit_usd": limit_usd,
        "limit_tokens": limit_tokens,
        "limit_credits": limit_credits,
        "forecast_alert": forecast_alert,
        "action_on_limit": action,
        "fallback_model": fallback_model,
    }
    if name:
        body["name"] = name
    if threshold:
        body["thresholds"] = threshold
    from urllib.parse import quote

    from aiusage.tables import budget_fields

    client = ApiClient(api_url, api_key)
    stored = _api_call(lambda: client.request("PUT", f"/budgets/{quote(budget_id, safe='')}", body=body))
    _show(fmt, stored, budget_fields(stored))


@budgets_app.command("check")
def budgets_check(
    service: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    user_id: Annotated[str | None, typer.Option()] = None,
    project: Annotated[str | None, typer.Option()] = None,
    cost: Annotated[float | None, typer.Option("--cost", help="Estimated cost in USD.")] = None,
    input_tokens: Annotated[int | None, typer.Option()] = None,
    output_tokens: Annotated[int | None, typer.Option()] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """May this be spent? Exits 0 when allowed, 3 when a budget blocks or queues it."""
    body = {k: v for k, v in dict(service=service, model=model, user_id=user_id, project=project,
                                   estimated_cost_usd=cost, input_tokens=input_tokens,
                                   output_tokens=output_tokens).items() if v is not None}
    client = ApiClient(api_url, api_key)
    decision = _api_call(lambda: client.post("/budgets/check", body))
    from aiusage.tables import check_listing

    _show(fmt, decision, check_listing(decision))
    if not decision["allowed"]:
        raise typer.Exit(3)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
