"""The embedded AWS of the local stack: a moto server in this process, the table and the topic.

The table is created from `shared/table.py`, the same schema the CDK stack
deploys. Fake credentials and region are set in this process's environment so
every boto3 client the handlers build talks to the embedded server. CloudWatch
is the same moto server: budgets get their alarms there, as they do in AWS.

`local_aws()` is the in-process variant without a server (moto's `mock_aws`):
the one setup of the tests' fixtures and the benchmarks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from shared import table

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class EmbeddedAws:
    """moto's threaded server on a free loopback port."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        from aiusage.local import moto_dynamodb

        moto_dynamodb.install()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per AWS call
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()


# What must not leak into an in-process moto account from the caller's environment.
OUTSIDE_ENDPOINTS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "DYNAMODB_ENDPOINT", "AWS_PROFILE",
                     "ALERTS_TOPIC_ARN")


class EnvPatch(Protocol):
    """What `local_aws` needs to change the environment (pytest's MonkeyPatch has it)."""

    def setenv(self, name: str, value: str) -> None: ...

    def delenv(self, name: str, raising: bool = ...) -> None: ...


@contextlib.contextmanager
def local_aws(env: Mapping[str, str], *, topic: str | None = None, stream: bool = True,
              patch: EnvPatch | None = None) -> Iterator[None]:
    """A fresh in-process moto account (`mock_aws`, with `moto_dynamodb` installed) holding the table.

    `env` must name TABLE_NAME (and the fake credentials and region); it replaces any endpoint
    or profile of the caller's environment. `topic`: also an SNS topic of that name, as
    ALERTS_TOPIC_ARN. `stream=False`: the table without its stream (bulk loads, where moto
    would keep a stream record of every item). The environment is restored afterwards, or,
    given a `patch` (a test's monkeypatch), changed through it so that it undoes the change.
    """
    from moto import mock_aws

    from aiusage.local import moto_dynamodb
    from shared import store
    from shared.config import settings

    moto_dynamodb.install()
    saved = dict(os.environ) if patch is None else None
    setenv = os.environ.__setitem__ if patch is None else patch.setenv
    for name in OUTSIDE_ENDPOINTS:
        if patch is None:
            os.environ.pop(name, None)
        else:
            patch.delenv(name, raising=False)
    for name, value in env.items():
        setenv(name, value)
    try:
        with mock_aws():
            if topic is not None:
                import boto3

                setenv("ALERTS_TOPIC_ARN", ensure_topic(boto3.client("sns"), topic))
            settings.cache_clear()
            store.reset()
            name = os.environ["TABLE_NAME"]
            if stream:
                ensure_table(store.client(), name)
            else:
                schema = table.table_schema(name)
                schema.pop("StreamSpecification")
                store.client().create_table(**schema)
            yield
    finally:
        if saved is not None:
            os.environ.clear()
            os.environ.update(saved)
        settings.cache_clear()
        store.reset()


def use_local_aws(endpoint: str, dynamodb_endpoint: str | None = None) -> None:
    """Point this process's boto3 clients at the local endpoints, with fake credentials."""
    os.environ.update(FAKE_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint or endpoint
    # The budgets' alarms (shared/budget_alarms.py) go to the embedded CloudWatch, unless the caller
    # points them elsewhere on purpose (another moto, as the end-to-end tests do).
    os.environ.setdefault("AWS_ENDPOINT_URL_CLOUDWATCH", endpoint)
    os.environ.pop("DYNAMODB_ENDPOINT", None)


def ensure_table(client: Any, table_name: str) -> bool:
    """Create the table from `shared/table.py` unless it exists (turning its stream on); True when created."""
    try:
        existing = client.describe_table(TableName=table_name)["Table"]
    except client.exceptions.ResourceNotFoundException:
        existing = None
    if existing is not None:
        if not (existing.get("StreamSpecification") or {}).get("StreamEnabled"):
            client.update_table(
                TableName=table_name, StreamSpecification=table.table_schema(table_name)["StreamSpecification"]
            )
        return False
    client.create_table(**table.table_schema(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.TTL_ATTRIBUTE}
    )
    return True


def ensure_topic(sns: Any, name: str) -> str:
    return sns.create_topic(Name=name)["TopicArn"]
