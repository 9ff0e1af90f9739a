"""Writing event items: one attempt each, on the client without retries of its own.

Ingest (`shared/ingest.py`) and repricing (`shared/repricing.py`) retry an
attempt themselves, stamping the event anew each time, so every stored
`received_at`/`written_at` is at most one attempt (`write_bound_seconds`)
before the write landed (`store.event_client`); `is_transient` says which
failures are worth another attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared import store, table


def put_event(item: dict[str, Any]) -> dict[str, Any] | None:
    """Store a new event item; None when stored, else the item already stored under its id.

    One attempt through `store.event_client()`: the caller retries (with a fresh stamp) on
    the transient errors `is_transient` names.
    """
    c = store.event_client()
    try:
        c.put_item(
            TableName=store.table_name(),
            Item=store.to_dynamo(item),
            ConditionExpression="attribute_not_exists(PK)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except c.exceptions.ConditionalCheckFailedException as exc:
        old = exc.response.get("Item")
        return store.from_dynamo(old) if old else store.get(table.key(item["PK"], item["SK"]))
    return None


def is_transient(exc: Exception) -> bool:
    """Worth another attempt: throttling, a 5xx, or a connection that failed or timed out."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError):
        return True
    error = getattr(exc, "response", {}) or {}
    code = error.get("Error", {}).get("Code", "")
    status = error.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status >= 500 or code in ("ProvisionedThroughputExceededException", "ThrottlingException",
                                     "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable")


def update_event(key: dict[str, str], set_values: dict[str, Any], *, remove: Sequence[str] = (),
                 if_equal: tuple[str, Any]) -> bool:
    """One attempt at a conditional update of an event item (as `put_event`, the caller retries)."""
    c = store.event_client()
    try:
        c.update_item(**store.update_kwargs(key, set_values, remove, if_equal))
    except c.exceptions.ConditionalCheckFailedException:
        return False
    return True
