"""One fake HTTP server on 127.0.0.1 that answers like OpenAI, Anthropic,
Gemini and Bedrock, so the real provider SDKs parse real-shaped responses.

Behaviour is chosen by the request, so the server stays stateless:
``no-usage`` answers without usage data, ``bad-model`` answers the
provider's own 400 error; OpenAI answers with the ``service_tier`` requested
(``default`` for none or ``auto``), as the API reports the tier that served
the call; Anthropic model ``batch-tier`` answers with ``usage.service_tier``
``batch``, as Message Batches results do. Usage payloads come from
``fixtures/usage-*.json``.
Every request is recorded (path, query, JSON body) for assertions.
"""

from __future__ import annotations

import copy
import json
import struct
import threading
import urllib.parse
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


OPENAI_CHAT = fixture("usage-openai-chat.json")
OPENAI_RESPONSES = fixture("usage-openai-responses.json")
OPENAI_EMBEDDINGS = fixture("usage-openai-embeddings.json")
ANTHROPIC_MESSAGE = fixture("usage-anthropic.json")
GEMINI = fixture("usage-gemini.json")
BEDROCK_CONVERSE = fixture("usage-bedrock-converse.json")
GEMINI_EMBED_USAGE = {"promptTokenCount": 9, "totalTokenCount": 9}


@dataclass
class ProviderRequest:
    path: str
    query: dict[str, list[str]]
    body: Any


class FakeProviders:
    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.requests: list[ProviderRequest] = []
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()


# ---- encoders ------------------------------------------------------------------


def sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    return "".join(out).encode()


def _eventstream_header(name: str, value: str) -> bytes:
    key, val = name.encode(), value.encode()
    return struct.pack("!B", len(key)) + key + b"\x07" + struct.pack("!H", len(val)) + val


def eventstream_message(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message (prelude, CRCs, string headers, JSON payload)."""
    headers = (
        _eventstream_header(":event-type", event_type)
        + _eventstream_header(":content-type", "application/json")
        + _eventstream_header(":message-type", "event")
    )
    body = json.dumps(payload).encode()
    prelude = struct.pack("!II", 12 + len(headers) + len(body) + 4, len(headers))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack("!I", zlib.crc32(message))


# ---- provider answers ------------------------------------------------------------


def openai_tier(body: dict[str, Any]) -> str:
    """The tier OpenAI reports having served: the one asked for, ``default`` for none or ``auto``."""
    requested = body.get("service_tier")
    return "default" if requested in (None, "auto") else requested


def openai_chat(body: dict[str, Any]) -> tuple[int, str, bytes]:
    if body["model"] == "bad-model":
        error = {"error": {"message": "The model `bad-model` does not exist", "type": "invalid_request_error",
                           "param": "model", "code": "model_not_found"}}
        return 404, "application/json", json.dumps(error).encode()
    if not body.get("stream"):
        response = copy.deepcopy(OPENAI_CHAT)
        response["service_tier"] = openai_tier(body)
        if body["model"] == "no-usage":
            response["model"] = "no-usage"
            del response["usage"]
        return 200, "application/json", json.dumps(response).encode()
    include_usage = (body.get("stream_options") or {}).get("include_usage")
    base = {"id": "chatcmpl-AbC123", "object": "chat.completion.chunk", "created": 1763716500,
            "model": OPENAI_CHAT["model"], "service_tier": openai_tier(body), "system_fingerprint": "fp_1"}
    chunks = []
    for piece, finish in (("Hel", None), ("lo!", "stop")):
        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}]}
        if include_usage:
            chunk["usage"] = None
        chunks.append((None, chunk))
    if include_usage:
        chunks.append((None, {**base, "choices": [], "usage": OPENAI_CHAT["usage"]}))
    chunks.append((None, "[DONE]"))
    return 200, "text/event-stream", sse(chunks)


def openai_responses(body: dict[str, Any]) -> tuple[int, str, bytes]:
    tier = {"service_tier": body["service_tier"]} if body.get("service_tier") else {}
    response = {**OPENAI_RESPONSES, **tier, "created_at": 1763716500, "output": [
        {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}]}
    if not body.get("stream"):
        return 200, "application/json", json.dumps(response).encode()
    in_progress = {**response, "status": "in_progress", "usage": None, "output": []}
    item = response["output"][0]
    part = item["content"][0]
    ids = {"item_id": item["id"], "output_index": 0}
    kinds = [
        ("response.created", {"response": in_progress}),
        ("response.output_item.added", {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}}),
        ("response.content_part.added", {**ids, "content_index": 0, "part": {**part, "text": ""}}),
        ("response.output_text.delta", {**ids, "content_index": 0, "delta": "Hi", "logprobs": []}),
        ("response.output_text.done", {**ids, "content_index": 0, "text": "Hi", "logprobs": []}),
        ("response.content_part.done", {**ids, "content_index": 0, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": response}),
    ]
    events = [(kind, {"type": kind, "sequence_number": n, **data}) for n, (kind, data) in enumerate(kinds)]
    return 200, "text/event-stream", sse(events)


def anthropic_messages(body: dict[str, Any]) -> tuple[int, str, bytes]:
    if body["model"] == "bad-model":
        error = {"type": "error", "error": {"type": "invalid_request_error", "message": "model: bad-model not found"}}
        return 400, "application/json", json.dumps(error).encode()
    answer = copy.deepcopy(ANTHROPIC_MESSAGE)
    if body["model"] == "batch-tier":
        answer["usage"]["service_tier"] = "batch"
    if not body.get("stream"):
        return 200, "application/json", json.dumps(answer).encode()
    usage = answer["usage"]
    start_usage = {k: v for k, v in usage.items() if k != "server_tool_use"} | {"output_tokens": 1}
    message = {**answer, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    delta_usage = {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "output_tokens": usage["output_tokens"],
        "server_tool_use": usage["server_tool_use"],
    }
    events = [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Do"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ne."}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": delta_usage,
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return 200, "text/event-stream", sse(events)


def _gemini_response(text: str, usage: dict[str, Any], finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": GEMINI["modelVersion"],
        "responseId": "r1",
    }


def gemini(model_and_method: str, query: dict[str, list[str]], body: Any) -> tuple[int, str, bytes]:
    model, _, method = model_and_method.partition(":")
    usage = GEMINI["usageMetadata"]
    if method == "generateContent":
        response = _gemini_response("Hello!", usage, True)
        if model == "no-usage":
            del response["usageMetadata"]
        return 200, "application/json", json.dumps(response).encode()
    if method == "streamGenerateContent":
        assert query.get("alt") == ["sse"], query
        partial = {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
        chunks = [(None, _gemini_response("Hel", partial, False)), (None, _gemini_response("lo!", usage, True))]
        return 200, "text/event-stream", sse(chunks)
    if method in ("batchEmbedContents", "embedContent"):
        count = len(body.get("requests", [body]))
        embeddings = [{"values": [0.0023, -0.0093]} for _ in range(count)]
        key = "embeddings" if method == "batchEmbedContents" else "embedding"
        response = {key: embeddings if key == "embeddings" else embeddings[0], "usageMetadata": GEMINI_EMBED_USAGE}
        return 200, "application/json", json.dumps(response).encode()
    return 404, "application/json", json.dumps({"error": {"code": 404, "message": method}}).encode()


def bedrock(model_id: str, action: str) -> tuple[int, str, bytes, dict[str, str]]:
    if model_id == "bad-model":
        error = {"message": "The provided model identifier is invalid."}
        return 400, "application/json", json.dumps(error).encode(), {"x-amzn-ErrorType": "ValidationException:http://internal"}
    if action == "converse":
        response = {**BEDROCK_CONVERSE, "output": {"message": {"role": "assistant", "content": [{"text": "Done."}]}}}
        return 200, "application/json", json.dumps(response).encode(), {}
    stream = b"".join([
        eventstream_message("messageStart", {"role": "assistant"}),
        eventstream_message("contentBlockDelta", {"delta": {"text": "Do"}, "contentBlockIndex": 0}),
        eventstream_message("contentBlockDelta", {"delta": {"text": "ne."}, "contentBlockIndex": 0}),
        eventstream_message("contentBlockStop", {"contentBlockIndex": 0}),
        eventstream_message("messageStop", {"stopReason": "end_turn"}),
        eventstream_message("metadata", {"usage": BEDROCK_CONVERSE["usage"], "metrics": {"latencyMs": 3421}}),
    ])
    return 200, "application/vnd.amazon.eventstream", stream, {}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProviders

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else None
        self.fake.requests.append(ProviderRequest(path, query, body))
        extra: dict[str, str] = {}
        if path == "/v1/chat/completions":
            status, ctype, payload = openai_chat(body)
        elif path == "/v1/responses":
            status, ctype, payload = openai_responses(body)
        elif path == "/v1/embeddings":
            status, ctype, payload = 200, "application/json", json.dumps(OPENAI_EMBEDDINGS).encode()
        elif path == "/v1/messages":
            status, ctype, payload = anthropic_messages(body)
        elif path.startswith("/v1beta/models/"):
            status, ctype, payload = gemini(path.removeprefix("/v1beta/models/"), query, body)
        elif path.startswith("/model/"):
            model_id, _, action = path.removeprefix("/model/").rpartition("/")
            status, ctype, payload, extra = bedrock(model_id, action)
        else:
            status, ctype, payload = 404, "application/json", b'{"error": "no route"}'
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
