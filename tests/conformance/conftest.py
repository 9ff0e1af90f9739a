"""One ledger for the whole conformance module: the cases are recorded once, then checked one by one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import TEST_ENV, TEST_TOPIC, Api


@pytest.fixture(scope="module")
def module_api() -> Iterator[Api]:
    """A fresh moto account with the aiusage table, and an admin client, for one test module."""
    from aiusage.local.aws import local_aws
    from shared.keys import create_key

    with pytest.MonkeyPatch.context() as patch, local_aws(TEST_ENV, topic=TEST_TOPIC, patch=patch):
        yield Api(create_key("conformance admin", ["admin"])["key"])
