"""boto3 bedrock-runtime, wrapped, against a fake Bedrock endpoint (JSON and
AWS event-stream binary encoding): what reaches the ingest."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.sdk.fake_ingest import split_dynamic
from tests.sdk.fake_providers import BEDROCK_CONVERSE

MODEL_ID = "anthropic.claude-sonnet-4-5-20250929-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Review this"}]}]
EXPECTED = {
    "service": "bedrock",
    "model": MODEL_ID,  # Converse responses name no model: the request's modelId is used
    "operation": "completion",
    "usage": BEDROCK_CONVERSE["usage"],
    "status": "ok",
}


@pytest.fixture
def client(aws_env, providers, tracker):
    raw = boto3.client(
        "bedrock-runtime", endpoint_url=providers.url, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    return tracker.wrap(raw)


def recorded(tracker, ingest):
    assert tracker.flush(5)
    return [split_dynamic(e) for e in ingest.events]


def test_converse_records_the_usage_dict(client, providers, ingest, tracker):
    with tracker.context(project="reviews", tags={"env": "ci"}):
        response = client.converse(modelId=MODEL_ID, messages=MESSAGES)

    assert response["output"]["message"]["content"] == [{"text": "Done."}]
    assert providers.requests[-1].path == f"/model/{MODEL_ID}/converse"
    assert recorded(tracker, ingest) == [{**EXPECTED, "project": "reviews", "tags": {"env": "ci"}}]


def test_converse_stream_records_the_metadata_events_usage(client, ingest, tracker):
    response = client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)
    events = list(response["stream"])

    assert [next(iter(e)) for e in events] == [
        "messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata",
    ]
    assert events[-1]["metadata"]["usage"] == BEDROCK_CONVERSE["usage"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert recorded(tracker, ingest) == [EXPECTED]


def test_client_error_is_recorded_and_reraised(client, ingest, tracker):
    with pytest.raises(ClientError) as raised:
        client.converse(modelId="bad-model", messages=MESSAGES)

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    [event] = recorded(tracker, ingest)
    assert event.pop("error").startswith("ValidationException: An error occurred (ValidationException)")
    assert event == {"service": "bedrock", "model": "bad-model", "operation": "completion",
                     "status": "error", "input_tokens": 0, "output_tokens": 0}


def test_other_boto3_clients_are_refused(aws_env, tracker):
    s3 = boto3.client("s3", region_name="us-east-1")
    with pytest.raises(TypeError, match="cannot wrap"):
        tracker.wrap(s3)
