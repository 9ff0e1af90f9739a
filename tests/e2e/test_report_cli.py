"""`aiusage report` and `aiusage report run` against `aiusage serve --demo`, as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from aiusage.report import money
from tests.e2e.conftest import ADMIN_KEY

CLI = [sys.executable, "-m", "aiusage.cli"]


def run(*args: str, url: str, key: str = ADMIN_KEY) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIUSAGE_API_URL": url, "AIUSAGE_API_KEY": key, "COLUMNS": "140", "NO_COLOR": "1"}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def usage(server, **params: str) -> dict:
    today = datetime.now(UTC).date()
    query = {"start_date": (today - timedelta(days=29)).isoformat(), "end_date": today.isoformat(),
             "aggregation": "day,service,model", **params}
    status, body, _ = server.request("GET", "/ai_usage?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert status == 200, body
    return body


def test_report_table_shows_summary_services_models_and_the_daily_trend(demo_server):
    result = run("report", url=demo_server.url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    expected = usage(demo_server)
    assert money(expected["summary"]["total_cost_usd"]) in out
    for title in ("aiusage report", "Total cost", "Cost by service", "Cost by model (top 10)", "Daily trend"):
        assert title in out
    for service, entry in expected["aggregations"]["by_service"].items():
        assert service in out and money(entry["cost_usd"]) in out
    today = datetime.now(UTC).date()
    assert all((today - timedelta(days=n)).isoformat() in out for n in range(30))
    assert "█" in out


def test_report_markdown_json_csv_and_service_filter(demo_server):
    expected = usage(demo_server)
    md = run("report", "--format", "markdown", url=demo_server.url)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# aiusage report\n")
    assert f"| Total cost | {money(expected['summary']['total_cost_usd'])} |" in md.stdout
    trend = md.stdout.split("## Daily trend")[1]
    assert trend.count("\n| 20") == 30

    as_json = run("report", "--format", "json", "--days", "7", url=demo_server.url)
    assert as_json.returncode == 0, as_json.stderr
    answer = json.loads(as_json.stdout)
    assert len(answer["aggregations"]["by_day"]) <= 7
    assert set(answer["aggregations"]) == {"by_day", "by_service", "by_model"}

    csv_text = run("report", "--format", "csv", url=demo_server.url)
    assert csv_text.returncode == 0, csv_text.stderr
    assert csv_text.stdout.splitlines()[0].startswith("day,service,model,cost_usd,")

    only = run("report", "--service", "openai", "--format", "markdown", url=demo_server.url)
    services = only.stdout.split("## Cost by service")[1].split("##")[0]
    assert "| openai |" in services and "| anthropic |" not in services
    assert f"| Total cost | {money(usage(demo_server, service='openai')['summary']['total_cost_usd'])} |" in only.stdout


def test_report_run_generates_yesterdays_report_and_prints_its_markdown(demo_server):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    result = run("report", "run", "--kind", "daily", "--period", yesterday, url=demo_server.url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"# aiusage daily report: {yesterday}\n")
    day = usage(demo_server, start_date=yesterday, end_date=yesterday)["summary"]["total_cost_usd"]
    assert f"| Total cost | {money(day)} |" in out
    for section in ("## Cost by service", "## Top 10 users", "## Budgets", "## Anomalies", "Month-end forecast"):
        assert section in out
    status, stored, _ = demo_server.request("GET", f"/reports/daily/{yesterday}")
    assert status == 200 and stored["totals"]["total_cost_usd"] == day


def test_report_run_with_a_bad_period_says_which_field(demo_server):
    result = run("report", "run", "--kind", "weekly", "--period", "2026-11-21", url=demo_server.url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "400 validation_error" in result.stderr and "body.period" in result.stderr


def test_unreachable_api_and_wrong_key_give_a_clear_message(demo_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = run("report", url=free)
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert f"cannot reach {free}" in down.stderr and "aiusage serve" in down.stderr
    wrong = run("report", url=demo_server.url, key="aiu_wrongwrongwrongwrongwrongwrongwrong")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "API key was not accepted (401)" in wrong.stderr
    also_run = run("report", "run", "--kind", "daily", url=free)
    assert also_run.returncode == 1 and "cannot reach" in also_run.stderr and "Traceback" not in also_run.stderr
