"""Lambda entry point of the aggregator: the table's stream, and a schedule every minute (SPEC 13).

Stream batches come from a DynamoDB Streams event source mapping filtered to
event items' INSERT and MODIFY records (`shared.table.AGGREGATOR_FILTERS`),
one shard per batch, in order. The mapping has a tumbling window: that is
what puts the batch's `shardId` in the event, and the shard's checkpoint is
what makes applying exactly once (`shared/aggregation.py`). The answer is a
partial batch response — on a failure Lambda retries from the first record
not applied — plus the tumbling window's (unused, empty) `state`.

Powertools' `BatchProcessor` is not used: it hands records to a handler one by
one, while the aggregator must see the whole batch to merge its deltas into a
few transactions; the response shape is the same.

Scheduled events (EventBridge) run `aggregation.tick`: due budget backfills
and every budget's `BudgetUtilization` metric.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from shared import aggregation

logger = Logger(service="aiusage")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" not in event:
        result = aggregation.tick()
        logger.info("tick", extra=result)
        return result
    shard_id = event.get("shardId")
    if not shard_id:
        raise ValueError("a stream batch without shardId: the event source mapping needs its tumbling window")
    batch = aggregation.apply_batch(shard_id, event["Records"])
    logger.info("batch", extra={"shard_id": shard_id, "records": len(event["Records"]), "transactions": batch.applied,
                                "skipped": batch.skipped, "failed_from": batch.failed_from})
    failures = [{"itemIdentifier": batch.failed_from}] if batch.failed_from else []
    return {"batchItemFailures": failures, "state": {}}
