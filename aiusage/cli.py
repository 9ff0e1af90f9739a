"""The `aiusage` command line: serve, record, keys, prices (typer + rich)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from aiusage.client import ApiClient, ApiError

app = typer.Typer(help="aiusage: an AI usage and cost ledger.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys, straight in the table (with your AWS credentials).", no_args_is_help=True)
prices_app = typer.Typer(help="Effective prices and overrides.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(prices_app, name="prices")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
