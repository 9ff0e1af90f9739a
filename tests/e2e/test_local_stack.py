"""`aiusage serve` as a user runs it: the listening line, the demo month, curl-like use, the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.e2e.conftest import ADMIN_KEY, start_server

CLI = [sys.executable, "-m", "aiusage.cli"]


def test_serve_prints_key_curl_lines_and_listening(demo_server):
    text = "".join(demo_server.output)
    assert f"admin key: {ADMIN_KEY}" in text
    assert text.count("curl ") == 3
    lines = text.strip().splitlines()
    listening = lines.index(f"listening on {demo_server.url}")
    # The banner ends with it; after it come only the access-log lines of requests (other tests' included).
    assert all(re.match(r"^\d\d:\d\d:\d\d [A-Z]+ /\S* \d{3} \d+ ms$", line) for line in lines[listening + 1:]), \
        lines[listening + 1:][:5]
    assert demo_server.url.startswith("http://127.0.0.1:")


def test_health_needs_no_key_and_usage_needs_one(demo_server):
    assert demo_server.request("GET", "/health", key=None)[:2] == (200, {"status": "ok"})
    status, body, _ = demo_server.request("GET", "/ai_usage", key=None)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert demo_server.request("GET", "/ai_usage", key="aiu_wrongwrongwrongwrongwrongwrongwrong")[0] == 401


def test_demo_month_is_there_across_services_and_days(demo_server):
    status, body, _ = demo_server.request("GET", "/ai_usage?aggregation=day,service,user&group_by=day,service")
    assert status == 200
    summary = body["summary"]
    assert summary["events"] > 1000
    assert summary["total_cost_usd"] > 5
    assert summary["unpriced_events"] >= 1  # the model nobody prices yet is flagged, not silently $0
    assert {"openai", "anthropic", "google", "bedrock", "google_places"} <= set(body["aggregations"]["by_service"])
    assert len(body["aggregations"]["by_day"]) == 30
    day_sum = sum(Decimal(str(v["cost_usd"])) for v in body["aggregations"]["by_day"].values())
    assert abs(day_sum - Decimal(str(summary["total_cost_usd"]))) <= Decimal("0.000001") * 30
    assert body["stats"]["items_read"] < 2500


def test_post_then_read_back_exactly_over_http(demo_server):
    day = (datetime.now(UTC) - timedelta(days=400)).date()  # outside the demo month: a clean slate
    day2 = day + timedelta(days=1)
    events = [{"event_id": f"e2e-{i}", "timestamp": f"{day}T10:00:0{i}Z", "service": "openai", "model": "gpt-4o",
               "input_tokens": 1000, "output_tokens": 100, "project": "e2e"} for i in range(4)]
    status, body, _ = demo_server.request("POST", "/ai_usage", {"events": events})
    assert status == 200 and body["accepted"] == 4
    status, body, _ = demo_server.request("POST", "/ai_usage", {"events": events})
    assert body["duplicates"] == 4
    demo_server.wait_aggregated()  # totals follow the event stream (stats.aggregated_through)
    status, body, _ = demo_server.request("GET", f"/ai_usage?start_date={day}&end_date={day2}&aggregation=day")
    assert body["summary"]["total_cost_usd"] == 0.014  # 4 x (1000 x 2.5 + 100 x 10) / 1e6
    assert body["summary"]["events"] == 4
    status, text, headers = demo_server.request("GET", f"/ai_usage?start_date={day}&end_date={day2}&format=csv")
    assert headers["content-type"].startswith("text/csv")
    assert list(csv.DictReader(io.StringIO(text)))[0]["cost_usd"] == "0.014"


def test_cli_record_posts_one_event(demo_server):
    env = {**os.environ, "AIUSAGE_API_URL": demo_server.url, "AIUSAGE_API_KEY": ADMIN_KEY}
    result = subprocess.run([*CLI, "record", "--service", "google_places", "--operation", "text_search",
                             "--requests", "2", "--event-id", "cli-1", "--format", "json"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"] == [
        {"event_id": "cli-1", "status": "created", "cost_usd": 0.064, "cost_source": "computed"}]
    again = subprocess.run([*CLI, "record", "--service", "google_places", "--operation", "text_search",
                            "--requests", "2", "--event-id", "cli-1"], env={**env, "COLUMNS": "100"},
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("\n")[2].split() == ["cli-1", "duplicate", "$0.06", "computed"]  # a table for people
    bad = subprocess.run([*CLI, "record", "--service", "openai", "--api-key", "aiu_nope"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "401" in bad.stderr and "Traceback" not in bad.stderr


def test_external_dynamodb_keys_cli_and_restart_keep_the_data(moto_endpoint):
    env = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1"}
    server = start_server("--dynamodb-endpoint", moto_endpoint, "--table", "e2e-ext", env=env)
    try:
        created = subprocess.run([*CLI, "keys", "create", "--name", "writer", "--scope", "usage:write",
                                  "--dynamodb-endpoint", moto_endpoint, "--table", "e2e-ext", "--format", "json"],
                                 env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)["key"]
        event = {"event_id": "persist-1", "timestamp": "2026-11-20T10:00:00Z", "service": "openai", "model": "gpt-4o",
                 "input_tokens": 1000, "output_tokens": 0}
        assert server.request("POST", "/ai_usage", event, key=key)[1]["accepted"] == 1
        assert server.request("GET", "/ai_usage", key=key)[0] == 403  # write-only key
    finally:
        server.stop()
    again = start_server("--dynamodb-endpoint", moto_endpoint, "--table", "e2e-ext", env=env)
    try:
        again.wait_aggregated(since=server.last_write)
        status, body, _ = again.request("GET", "/ai_usage?start_date=2026-11-20&end_date=2026-11-20")
        assert body["summary"]["events"] == 1 and body["summary"]["total_cost_usd"] == 0.0025
        assert again.request("POST", "/ai_usage", event, key=key)[1]["duplicates"] == 1
    finally:
        again.stop()


def test_without_admin_key_env_one_is_generated_and_printed():
    server = start_server(env={"AIUSAGE_ADMIN_KEY": None})
    try:
        line = next(x for x in server.output if x.startswith("admin key: "))
        key = line.split()[-1]
        assert key.startswith("aiu_") and key != ADMIN_KEY and len(key) >= 36
        assert server.request("GET", "/keys", key=key)[0] == 200
    finally:
        server.stop()


def test_cli_budgets_list_and_check_against_the_demo(demo_server):
    env = {**os.environ, "AIUSAGE_API_URL": demo_server.url, "AIUSAGE_API_KEY": ADMIN_KEY, "COLUMNS": "200"}
    listed = subprocess.run([*CLI, "budgets", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "anthropic-monthly" in listed.stdout and "openai-daily" in listed.stdout
    check = subprocess.run([*CLI, "budgets", "check", "--service", "openai", "--cost", "1000", "--format", "json"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 3, check.stdout + check.stderr  # the daily OpenAI budget blocks it
    assert json.loads(check.stdout)["action"] == "block"
    status, body, _ = demo_server.request("GET", "/alerts?type=budget_threshold")
    assert status == 200 and len(body["alerts"]) >= 1
    status, body, _ = demo_server.request("GET", "/alerts?type=cloudwatch_alarm")
    assert [(a["name"], a["state"]) for a in body["alerts"]] == [("aiusage-dev-daily-cost", "ALARM")]


def test_http_edges_over_the_wire(demo_server):
    """405 with Allow, 415, HEAD and a trailing slash, as a browser or curl sees them."""
    import http.client
    import json
    from urllib.parse import urlsplit

    host = urlsplit(demo_server.url)
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def send(method, path, body=None, headers=None):
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    status, headers, body = send("DELETE", "/ai_usage", headers=auth)
    assert (status, headers["allow"]) == (405, "GET, POST")
    assert json.loads(body)["error"]["code"] == "method_not_allowed"
    status, _, body = send("POST", "/ai_usage", body=b"service=openai", headers={**auth, "Content-Type": "text/plain"})
    assert status == 415 and json.loads(body)["error"]["code"] == "unsupported_media_type"
    status, headers, body = send("GET", "/dashboard/")
    assert (status, headers["location"], body) == (308, "/dashboard", b"")
    status, headers, body = send("HEAD", "/dashboard")
    assert (status, body) == (200, b"") and headers["content-type"].startswith("text/html")
    status, _, body = send("GET", "/ai_usage")  # no Authorization header at all: the API's own 401
    assert status == 401 and json.loads(body) == {"error": {
        "code": "unauthorized", "message": "missing or malformed Authorization: Bearer header", "details": []}}


def test_budget_alarms_come_and_go_with_budgets_in_the_local_cloudwatch(moto_endpoint):
    """`aiusage serve` keeps each budget's CloudWatch alarms as the stack does (here in a moto we can read)."""
    import boto3

    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_endpoint, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")

    def alarms() -> dict[str, dict]:
        found = cloudwatch.describe_alarms(AlarmNamePrefix="aiusage-dev/budget/")["MetricAlarms"]
        return {a["AlarmName"]: a for a in found}

    server = start_server("--table", "alarms-e2e", env={"AWS_ENDPOINT_URL_CLOUDWATCH": moto_endpoint})
    try:
        status, budget, _ = server.request("PUT", "/budgets/e2e-monthly", {
            "name": "E2E monthly", "period": "monthly", "limit_usd": 40, "thresholds": [0.5, 1.0]})
        assert status == 201, budget
        found = alarms()
        assert sorted(found) == ["aiusage-dev/budget/e2e-monthly/100pct", "aiusage-dev/budget/e2e-monthly/50pct"]
        half = found["aiusage-dev/budget/e2e-monthly/50pct"]
        assert (half["MetricName"], half["Dimensions"], half["Threshold"]) == (
            "BudgetUtilization", [{"Name": "BudgetId", "Value": "e2e-monthly"}], 50.0)
        assert half["AlarmActions"] and half["AlarmActions"][0].endswith(":aiusage-alarms-e2e-alerts")

        assert server.request("PUT", "/budgets/e2e-monthly", {
            "name": "E2E monthly", "period": "monthly", "limit_usd": 40, "thresholds": [0.9]})[0] == 200
        assert sorted(alarms()) == ["aiusage-dev/budget/e2e-monthly/90pct"]
        assert server.request("DELETE", "/budgets/e2e-monthly")[0] == 204
        assert alarms() == {}
    finally:
        server.stop()


def test_each_request_is_logged_in_one_line_without_its_key():
    server = start_server()
    try:
        assert server.request("GET", "/ai_usage?aggregation=day,service")[0] == 200
        assert server.request("GET", "/budgets/none-such")[0] == 404
        deadline = time.monotonic() + 10
        pattern = re.compile(r"^\d\d:\d\d:\d\d (GET) (/\S+) (\d{3}) (\d+) ms$")
        while time.monotonic() < deadline:
            logged = [m.groups()[:3] for m in map(pattern.match, (x.rstrip("\n") for x in server.output)) if m]
            if ("GET", "/budgets/none-such", "404") in logged:
                break
            time.sleep(0.1)
        assert ("GET", "/ai_usage?aggregation=day,service", "200") in logged, server.output
        assert ("GET", "/budgets/none-such", "404") in logged, server.output
        assert not any(ADMIN_KEY in x for x in server.output if pattern.match(x.rstrip("\n")))
        assert not any('" 200 -' in x for x in server.output)  # no werkzeug default lines
    finally:
        server.stop()


def test_the_table_survives_a_restart_with_data_dir_and_counts_nothing_twice(tmp_path):
    args = ("--data-dir", str(tmp_path))
    event = {"event_id": "kept-1", "timestamp": "2026-11-20T10:00:00Z", "service": "openai", "model": "gpt-4o",
             "input_tokens": 1000, "output_tokens": 0}
    first = start_server(*args)
    try:
        assert first.request("POST", "/ai_usage", event)[1]["accepted"] == 1
        first.wait_aggregated()
        before = first.request("GET", "/ai_usage?start_date=2026-11-20&end_date=2026-11-20")[1]["summary"]
        assert before["events"] == 1 and before["total_cost_usd"] == 0.0025
    finally:
        first.stop()
    assert any(x.startswith("saved ") for x in first.output), first.output

    again = start_server(*args)
    try:
        assert any(x.startswith("loaded ") for x in again.output), again.output
        # The loaded event is in the totals once: loading fed nothing to the aggregator.
        again.last_write = first.last_write
        again.wait_aggregated()
        time.sleep(1.5)  # a few poller rounds: a replayed stream would have added it again by now
        after = again.request("GET", "/ai_usage?start_date=2026-11-20&end_date=2026-11-20")[1]["summary"]
        assert after == before
        assert again.request("POST", "/ai_usage", event)[1]["duplicates"] == 1
        second = {**event, "event_id": "kept-2"}
        assert again.request("POST", "/ai_usage", second)[1]["accepted"] == 1
        again.wait_aggregated()
        total = again.request("GET", "/ai_usage?start_date=2026-11-20&end_date=2026-11-20")[1]["summary"]
        assert total["events"] == 2 and total["total_cost_usd"] == 0.005
    finally:
        again.stop()

    fresh = start_server(*args, "--fresh")
    try:
        assert not any(x.startswith("loaded ") for x in fresh.output)
        assert fresh.request("GET", "/ai_usage?start_date=2026-11-20&end_date=2026-11-20")[1]["summary"]["events"] == 0
    finally:
        fresh.stop()
