"""One ledger for the whole conformance module: the cases are recorded once, then checked one by one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import TEST_ENV, Api


@pytest.fixture(scope="module")
def module_api() -> Iterator[Api]:
    """A fresh moto account with the aiusage table, and an admin client, for one test module."""
    from moto import mock_aws

    from aiusage.local import moto_dynamodb
    from aiusage.local.aws import ensure_table, ensure_topic
    from shared import store
    from shared.config import settings
    from shared.keys import create_key

    moto_dynamodb.install()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "DYNAMODB_ENDPOINT", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        for name, value in TEST_ENV.items():
            patch.setenv(name, value)
        with mock_aws():
            import boto3

            patch.setenv("ALERTS_TOPIC_ARN", ensure_topic(boto3.client("sns"), "aiusage-test-alerts"))
            settings.cache_clear()
            store.reset()
            ensure_table(store.client(), os.environ["TABLE_NAME"])
            yield Api(create_key("conformance admin", ["admin"])["key"])
        settings.cache_clear()
        store.reset()
