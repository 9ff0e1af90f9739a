"""End-to-end fixtures: `aiusage serve` in a subprocess on a free port, used over HTTP."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

ADMIN_KEY = "aiu_e2e-admin-key-0123456789abcdefghijklmnop"


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)
    last_write: str = ""  # the newest `received_at` this server answered a POST /ai_usage with

    def request(self, method: str, path: str, body: Any = None, key: str | None = ADMIN_KEY,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                raw, status, hdrs = (
                    response.read(),
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                )
        except urllib.error.HTTPError as exc:
            raw, status, hdrs = exc.read(), exc.code, {k.lower(): v for k, v in exc.headers.items()}
        text = raw.decode()
        try:
            answer = json.loads(text)
        except ValueError:
            return status, text, hdrs
        if method == "POST" and path.split("?")[0] == "/ai_usage" and isinstance(answer, dict):
            self.last_write = max(self.last_write, answer.get("received_at") or "")
        return status, answer, hdrs

    def wait_aggregated(self, timeout: float = 30, since: str | None = None) -> None:
        """Return once every event written through this server (or up to `since`) counts in the totals.

        As a user would: poll `GET /ai_usage` until `stats.aggregated_through` passes the last write.
        """
        since = since or self.last_write
        deadline = time.monotonic() + timeout
        while True:
            status, answer, _ = self.request("GET", "/ai_usage?aggregation=day")
            assert status == 200, answer
            status, listing, _ = self.request("GET", "/budgets")
            assert status == 200, listing
            pending = [b["budget_id"] for b in listing["budgets"] if b["status"]["backfill"] != "done"]
            if answer["stats"]["aggregated_through"] >= since and not pending:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"totals not aggregated through {since} after {timeout} s: {answer['stats']}, "
                                     f"budgets still backfilling: {pending}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> Server:
    """Start `aiusage serve --port 0 ...` and wait for its `listening on` line."""
    full_env = {**os.environ, "AIUSAGE_ADMIN_KEY": ADMIN_KEY, "PYTHONUNBUFFERED": "1", **(env or {})}
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_CLOUDWATCH", "TABLE_NAME",
                 "ALERTS_TOPIC_ARN"):
        full_env.pop(name, None)
    if env:
        full_env.update(env)
    full_env = {k: v for k, v in full_env.items() if v is not None}
    process = subprocess.Popen([sys.executable, "-m", "aiusage.cli", "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env)
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        if line.startswith("listening on "):
            return Server(line.split()[-1], process, output)
    process.kill()
    raise AssertionError("aiusage serve did not start:\n" + "".join(output))


@pytest.fixture(scope="session")
def demo_server() -> Iterator[Server]:
    server = start_server("--demo")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A DynamoDB-compatible server outside `aiusage serve` (moto, in this test process)."""
    from aiusage.local.aws import EmbeddedAws

    aws = EmbeddedAws()
    url = aws.start()
    yield url
    aws.stop()
