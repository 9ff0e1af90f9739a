"""A fresh ledger per hypothesis example: a new table in the moto account of the `aws` fixture.

Function-scoped fixtures run once per test, not once per example, so the
property tests open one of these inside each example instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import Api

_numbers = itertools.count()


@contextmanager
def fresh_ledger() -> Iterator[Api]:
    """A new, empty table (from shared/table.py) and an admin API client on it; the table is dropped afterwards."""
    from aiusage.local.aws import ensure_table
    from shared import store
    from shared.config import settings
    from shared.keys import create_key

    previous = os.environ["TABLE_NAME"]
    name = f"aiusage-example-{next(_numbers)}"
    os.environ["TABLE_NAME"] = name
    settings.cache_clear()
    try:
        ensure_table(store.client(), name)
        yield Api(create_key("example admin", ["admin"])["key"])
    finally:
        store.client().delete_table(TableName=name)
        os.environ["TABLE_NAME"] = previous
        settings.cache_clear()
