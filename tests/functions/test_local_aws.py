"""`local_aws()`: the one in-process moto setup of the fixtures and the benchmarks."""

import os

import pytest

from aiusage.local.aws import local_aws
from tests.conftest import TEST_ENV


def test_a_fresh_account_with_the_table_and_topic_and_the_environment_restored(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # must not leak into the account
    monkeypatch.delenv("ALERTS_TOPIC_ARN", raising=False)
    before = dict(os.environ)
    from shared import store

    with local_aws({**TEST_ENV, "TABLE_NAME": "local-aws-test"}, topic="local-aws-topic"):
        assert "AWS_ENDPOINT_URL" not in os.environ
        assert os.environ["ALERTS_TOPIC_ARN"].endswith(":local-aws-topic")
        described = store.client().describe_table(TableName="local-aws-test")["Table"]
        assert described["StreamSpecification"]["StreamEnabled"] is True
        assert store.put({"PK": "p", "SK": "s", "n": 1}, if_absent=True) is True
        assert store.put({"PK": "p", "SK": "s", "n": 2}, if_absent=True) is False
    assert dict(os.environ) == before
    with local_aws({**TEST_ENV, "TABLE_NAME": "local-aws-test"}, stream=False):
        described = store.client().describe_table(TableName="local-aws-test")["Table"]
        assert "StreamSpecification" not in described or not described["StreamSpecification"]["StreamEnabled"]
        assert store.get({"PK": "p", "SK": "s"}) is None  # a fresh account each time


def test_through_a_monkeypatch_the_patch_undoes_the_environment():
    outside = {name: os.environ.get(name) for name in ("TABLE_NAME", "AWS_PROFILE")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_PROFILE", "someone")
        with local_aws(TEST_ENV, patch=patch):
            assert "AWS_PROFILE" not in os.environ and os.environ["TABLE_NAME"] == TEST_ENV["TABLE_NAME"]
        assert os.environ["TABLE_NAME"] == TEST_ENV["TABLE_NAME"]  # the patch, not local_aws, undoes it
    assert {name: os.environ.get(name) for name in outside} == outside
