"""The previous write path, measured on the same mix: run as a script from its own commit's tree.

    python benchmarks/previous.py <tree of PREVIOUS_COMMIT> <requests.json> <out.json>

Imports only that tree's code (its ingest: one transaction per request with the budget-set version check,
the event puts and every cell and budget ADD) plus `dynamodb_model.py` of this one, by path, and writes the
model's summary of every request it sent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

BUDGETS = {
    "everything": {"name": "Everything", "period": "monthly", "limit_usd": 1_000_000},
    "anthropic": {"name": "Anthropic", "scope": {"service": "anthropic"}, "period": "monthly", "limit_usd": 500_000},
}


def main(tree: str, requests_path: str, out_path: str) -> None:
    spec = importlib.util.spec_from_file_location("dynamodb_model", Path(__file__).with_name("dynamodb_model.py"))
    model = importlib.util.module_from_spec(spec)
    sys.modules["dynamodb_model"] = model  # dataclasses look their module up
    spec.loader.exec_module(model)
    sys.path.insert(0, tree)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "TABLE_NAME": "previous",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "ALERTS_TOPIC_ARN"):
        os.environ.pop(name, None)
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from aiusage.local import moto_dynamodb
    from aiusage.local.aws import ensure_table
    from shared import budgets, ingest, store, table
    from shared.config import settings

    assert str(Path(ingest.__file__)).startswith(tree), ingest.__file__
    moto_dynamodb.install()
    bodies = [json.loads(json.dumps(b), parse_float=Decimal) for b in json.loads(Path(requests_path).read_text())]
    with mock_aws():
        settings.cache_clear()
        store.reset()
        ensure_table(store.client(), "previous")
        for budget_id, body in BUDGETS.items():
            budgets.put_budget(budget_id, json.loads(json.dumps(body), parse_float=Decimal), "bench")
        log = model.WriteLog()
        log.attach(store.client())
        events = 0
        for body in bodies:
            events += ingest.record_usage(body)["accepted"]
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

        def item_after(table_name, key):
            t = backend.get_table(table_name)
            item = t.get_item(*backend.get_keys_value(t, key))
            return item.to_json()["Attributes"] if item is not None else None

        charge = model.charge(log.requests, {g.name: g.partition_key for g in table.GSIS}, item_after)
        summary = charge.summary(events)
    Path(out_path).write_text(json.dumps({"events": events, "requests": len(bodies), "total": summary}, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:4])
