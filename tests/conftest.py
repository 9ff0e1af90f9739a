"""Shared test fixtures: an in-process moto DynamoDB with the table from shared/table.py,
and an API client that runs requests through the same gateway emulation as `aiusage serve`
(payload 2.0 events, the authorizer, then the API handler)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "TABLE_NAME": "aiusage-test",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "AIUsage",
    "POWERTOOLS_SERVICE_NAME": "aiusage",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    # The write path's timing bounds, at the scale of one process (shared/config.py).
    "WRITE_BOUND_SECONDS": "0.2",
    "STREAM_LATENCY_SECONDS": "0.1",
    "BUDGET_FENCE_SECONDS": "0.05",
}


TEST_TOPIC = "aiusage-test-alerts"


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh moto account with the aiusage table (built from shared/table.py) and an alerts topic."""
    from aiusage.local.aws import local_aws

    with local_aws(TEST_ENV, topic=TEST_TOPIC, patch=monkeypatch):
        yield


class Api:
    """Talks to the API like an HTTP client, through the local gateway and the real handlers."""

    def __init__(self, key: str):
        from aiusage.local.gateway import Gateway
        from functions.api.handler import lambda_handler as api
        from functions.authorizer.handler import lambda_handler as authorizer

        self.key = key
        self.gateway = Gateway(api, authorizer)

    def call(self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
             key: str | None = "default", raw: bytes | None = None, headers: dict[str, str] | None = None,
             drain: bool = True) -> Answer:
        """One request. First, like a user waiting on `stats.aggregated_through`, it lets the aggregator
        fold in everything recorded so far (`drain=False` reads the totals as they are)."""
        if drain:
            from tests.support.aggregation import drain as drain_stream

            drain_stream()
        h = {"host": "localhost", **(headers or {})}
        token = self.key if key == "default" else key
        if token is not None:
            h["authorization"] = f"Bearer {token}"
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
            h.setdefault("content-type", "application/json")
        result = self.gateway.invoke(method, path, urlencode(query or {}), h, raw or b"")
        return Answer(result)

    def get(self, path: str, drain: bool = True, **query: Any) -> Answer:
        return self.call("GET", path, query=query, drain=drain)

    def post(self, path: str, body: Any, **kwargs: Any) -> Answer:
        return self.call("POST", path, body=body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> Answer:
        return self.call("PUT", path, body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        return self.call("DELETE", path, **kwargs)


class Answer:
    def __init__(self, result: dict[str, Any]):
        self.status = result["statusCode"]
        self.headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        self.text = result.get("body") or ""

    def json(self) -> Any:
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"<Answer {self.status} {self.text[:300]}>"


@pytest.fixture
def admin_key(aws: None) -> str:
    from shared.keys import create_key

    return create_key("test admin", ["admin"])["key"]


@pytest.fixture
def api(admin_key: str) -> Api:
    return Api(admin_key)


@pytest.fixture
def key_with():
    """Create a key with the given scopes: key_with("usage:read")."""
    from shared.keys import create_key

    return lambda *scopes: create_key("test " + " ".join(scopes), list(scopes))["key"]
