"""The CLI against `aiusage serve --demo`, as people and scripts use it (issue 14):

- `aiusage keys create|list|revoke` go through the HTTP API with an admin key, so they work
  against the local stack without any AWS credentials (they used to fail with "Unable to locate
  credentials"); a key id read off the people's table is whole and can be revoked.
- Every command prints tables for people and, with `--format json`, the API's own answer.
- Tables show money in cents (`aiusage.money.money`) and never cut an id, even in a narrow terminal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from aiusage.money import money
from tests.e2e.conftest import ADMIN_KEY, Server

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "aiusage.cli"]
KEY_ID = re.compile(r"\bk_[0-9a-f]+")
DEMO_BUDGETS = ("anthropic-monthly", "search-team", "openai-daily")


def cli(server: Server, *args: str, key: str | None = ADMIN_KEY, columns: int = 100) -> subprocess.CompletedProcess:
    """Run the CLI with nothing from AWS in its environment: no credentials, no region, no table."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIUSAGE_")) and k != "TABLE_NAME"}
    env.update({"AIUSAGE_API_URL": server.url, "COLUMNS": str(columns), "NO_COLOR": "1"})
    if key:
        env["AIUSAGE_API_KEY"] = key
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def as_json(result: subprocess.CompletedProcess) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def api(server: Server, method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> Any:
    status, answer, _ = server.request(method, path, body, key=key)
    assert status < 300, answer
    return answer


def test_keys_are_created_listed_and_revoked_through_the_api_without_aws_credentials(demo_server: Server) -> None:
    # Given an admin key and no AWS credentials at all, when a key is created for people:
    created = cli(demo_server, "keys", "create", "--name", "ci reader for the nightly summaries", "--scope",
                  "usage:read")
    assert created.returncode == 0, created.stderr
    assert "credentials" not in created.stderr.lower()
    assert "not shown again" in created.stderr
    # then the key is on a line of its own (to copy), and it works.
    (key,) = [line for line in created.stdout.splitlines() if line.startswith("aiu_")]
    assert demo_server.request("GET", "/ai_usage", key=key)[0] == 200
    key_id = next(k["key_id"] for k in api(demo_server, "GET", "/keys")["keys"] if k["name"].startswith("ci reader"))
    assert key_id in created.stdout

    # The list for people, even 44 columns wide, shows every key id whole.
    every_id = {k["key_id"] for k in api(demo_server, "GET", "/keys")["keys"]}
    for columns in (120, 44):
        listed = cli(demo_server, "keys", "list", columns=columns)
        assert listed.returncode == 0, listed.stderr
        assert set(KEY_ID.findall(listed.stdout)) == every_id, listed.stdout
    unused = lambda keys: [{k: v for k, v in key.items() if k != "last_used_at"} for key in keys]  # noqa: E731
    assert unused(as_json(cli(demo_server, "keys", "list", "--format", "json"))["keys"]) == unused(
        api(demo_server, "GET", "/keys")["keys"])

    # An id copied from that list revokes the key: it stops working at once.
    narrow = cli(demo_server, "keys", "list", columns=44).stdout
    copied = next(match for match in KEY_ID.findall(narrow) if match == key_id)
    revoked = cli(demo_server, "keys", "revoke", copied)
    assert revoked.returncode == 0, revoked.stderr
    assert re.search(r"revoked\s+20\d\d-\d\d-\d\d \d\d:\d\d UTC", revoked.stdout), revoked.stdout
    assert demo_server.request("GET", "/ai_usage", key=key)[0] == 401
    assert any(k["key_id"] == key_id and k["revoked_at"] for k in api(demo_server, "GET", "/keys")["keys"])
    again = cli(demo_server, "keys", "revoke", "k_00000000000000000000")
    assert again.returncode == 1 and "404 not_found" in again.stderr and "Traceback" not in again.stderr


def test_keys_need_an_admin_key_and_say_so(demo_server: Server) -> None:
    reader = api(demo_server, "POST", "/keys", {"name": "reader", "scopes": ["usage:read"]})["key"]
    refused = cli(demo_server, "keys", "list", key=reader)
    assert refused.returncode == 1 and "admin scope" in refused.stderr and "Traceback" not in refused.stderr
    keyless = cli(demo_server, "keys", "create", "--name", "x", "--scope", "admin", key=None)
    assert keyless.returncode == 1 and "admin key" in keyless.stderr and "--direct" in keyless.stderr
    invalid = cli(demo_server, "keys", "create", "--name", "x" * 200, "--scope", "usage:read")
    assert invalid.returncode == 1 and "400 validation_error" in invalid.stderr and "name:" in invalid.stderr


def test_every_command_prints_the_apis_answer_with_format_json(demo_server: Server) -> None:
    assert as_json(cli(demo_server, "prices", "show", "--service", "openai", "--model", "gpt-4o", "--format",
                       "json")) == api(demo_server, "GET", "/prices?service=openai&model=gpt-4o")
    assert as_json(cli(demo_server, "prices", "show", "--format", "json")) == api(demo_server, "GET", "/prices")
    stored = as_json(cli(demo_server, "prices", "set", "cli-llm", "cli-model-1", "--input-per-mtok", "0.4",
                         "--output-per-mtok", "1.6", "--format", "json"))
    assert (stored["input_per_mtok"], stored["output_per_mtok"]) == (0.4, 1.6)

    listed = as_json(cli(demo_server, "budgets", "list", "--format", "json"))["budgets"]
    assert {b["budget_id"] for b in listed} == {b["budget_id"] for b in api(demo_server, "GET", "/budgets")["budgets"]}
    status = as_json(cli(demo_server, "budgets", "status", "anthropic-monthly", "--format", "json"))
    expected = api(demo_server, "GET", "/budgets/anthropic-monthly")
    assert {k: v for k, v in status.items() if k != "status"} == {k: v for k, v in expected.items() if k != "status"}
    assert status["status"]["spent_usd"] == expected["status"]["spent_usd"]

    check = cli(demo_server, "budgets", "check", "--service", "openai", "--cost", "1000", "--format", "json")
    assert check.returncode == 3  # scripts get the exit code and the answer
    assert json.loads(check.stdout)["action"] == "block"
    recorded = as_json(cli(demo_server, "record", "--service", "openai", "--model", "gpt-4o", "--input-tokens", "1000",
                           "--output-tokens", "100", "--event-id", "cli-json-1", "--format", "json"))
    assert recorded["results"][0]["cost_usd"] == 0.0035


def test_tables_show_cents_and_whole_ids_in_any_terminal(demo_server: Server) -> None:
    demo_server.wait_aggregated()
    budgets = {b["budget_id"]: b for b in api(demo_server, "GET", "/budgets")["budgets"]}
    for columns in (100, 80, 40):
        listed = cli(demo_server, "budgets", "list", columns=columns)
        assert listed.returncode == 0, listed.stderr
        assert "…" not in listed.stdout
        for budget_id, budget in budgets.items():
            assert re.search(rf"(^|\s){re.escape(budget_id)}(\s|$)", listed.stdout, re.MULTILINE), listed.stdout
            if budget["limit_usd"] is not None:
                assert money(budget["status"]["spent_usd"]) in listed.stdout
                assert money(budget["limit_usd"]) in listed.stdout
    header = cli(demo_server, "budgets", "list", columns=100).stdout.splitlines()[0].split()
    assert header == ["budget_id", "name", "spent", "limit", "used", "state"]  # a table where it fits
    narrow = cli(demo_server, "budgets", "list", columns=40).stdout
    assert re.search(r"^budget_id\s+anthropic-monthly\s*$", narrow, re.MULTILINE)  # else one block per budget

    status = cli(demo_server, "budgets", "status", "anthropic-monthly").stdout
    s = budgets["anthropic-monthly"]["status"]
    assert f"{money(s['spent_usd'])} of {money(s['limit_usd'])}" in status
    assert re.search(r"^state\s+" + s["state"], status, re.MULTILINE)
    for amount in re.findall(r"\$([\d,]+\.\d+)", status):  # from a cent up: cents, never the API's 6 places
        assert Decimal(amount.replace(",", "")) < Decimal("0.01") or len(amount.split(".")[1]) == 2, amount

    price = cli(demo_server, "prices", "show", "--service", "openai", "--model", "gpt-4o").stdout
    assert re.search(r"input /MTok\s+\$2\.50 *$", price, re.MULTILINE) and re.search(
        r"output /MTok\s+\$10\.00 *$", price, re.MULTILINE
    )
    lists = cli(demo_server, "prices", "show").stdout
    assert "place_autocomplete" in lists and "$0.00283" in lists  # prices are rates: shown exactly

    check = cli(demo_server, "budgets", "check", "--service", "openai", "--cost", "1000")
    assert check.returncode == 3
    assert check.stdout.startswith("NOT allowed: block")
    assert re.search(r"openai-daily\s+\$[\d,]+\.\d\d\s+[\d.]+%\s+\w+\s+block", check.stdout), check.stdout
