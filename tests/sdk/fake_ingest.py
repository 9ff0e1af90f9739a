"""A fake aiusage ingest endpoint (``POST /ai_usage``) on 127.0.0.1.

It records every request (path, headers, JSON body), answers like the real
server (200 with per-event created/duplicate results, dedup by event_id) and
can be scripted: answer the next requests with given statuses, hold requests
until released, or refuse connections until ``start()`` (the socket is bound
but not listening, so clients get ECONNREFUSED on a port that is already known).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "aiu_test_0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    answered: int | None = None


class FakeIngest:
    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"ingest": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.server_bind()  # port known now; connections refused until start()
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[Received] = []
        self.script: deque[tuple[int, Any, dict[str, str]]] = deque()
        self.release = threading.Event()
        self.release.set()
        self._seen: set[str] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------

    def start(self) -> FakeIngest:
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def answer_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.script.append((status, body, headers or {}))

    def wait_for(self, predicate: Callable[[FakeIngest], bool], timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    # -- what arrived ----------------------------------------------------------

    @property
    def bodies(self) -> list[Any]:
        with self._cond:
            return [r.body for r in self.requests]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Events of every request, including requests answered with an error."""
        return [event for body in self.bodies for event in body["events"]]

    @property
    def accepted_events(self) -> list[dict[str, Any]]:
        """Events of the requests answered 200, in arrival order."""
        with self._cond:
            return [e for r in self.requests if r.answered == 200 for e in r.body["events"]]

    # -- server side -----------------------------------------------------------

    def _answer(self, request: Received) -> tuple[int, Any, dict[str, str]]:
        # The outcome is decided (and events stored) on arrival; a held request
        # is one whose answer is slow, like a server that stored and then stalled.
        with self._cond:
            status, body, headers = self.script.popleft() if self.script else (200, None, {})
            if status == 200 and body is None:
                body = self._results(request.body["events"])
            request.answered = status
            self.requests.append(request)
            self._cond.notify_all()
        self.release.wait(10)
        return status, body, headers

    def _results(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        results, duplicates = [], 0
        for event in events:
            duplicate = event["event_id"] in self._seen
            self._seen.add(event["event_id"])
            duplicates += duplicate
            status = "duplicate" if duplicate else "created"
            results.append(
                {"event_id": event["event_id"], "status": status, "cost_usd": 0.001, "cost_source": "computed"}
            )
        return {"accepted": len(events) - duplicates, "duplicates": duplicates, "results": results}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is part of the tests, not an error


class _Handler(BaseHTTPRequestHandler):
    ingest: FakeIngest

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.ingest._answer(Received(self.path, headers, json.loads(raw)))
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


def validation_error(*locs: list[Any]) -> dict[str, Any]:
    """A SPEC 3 validation error body naming the given locations."""
    return {
        "error": {
            "code": "validation_error",
            "message": "request validation failed",
            "details": [{"loc": loc, "msg": "bad value"} for loc in locs],
        }
    }


def split_dynamic(event: dict[str, Any], *, latency: bool = True) -> dict[str, Any]:
    """Check and remove the fields that differ per run (id, time, latency)."""
    event = dict(event)
    event_id = event.pop("event_id")
    assert event_id.startswith("sdk:") and uuid.UUID(event_id[4:]).version == 4, event_id
    stamp = datetime.fromisoformat(event.pop("timestamp"))
    assert stamp.utcoffset() == timedelta(0), stamp
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1), stamp
    if latency:
        value = event.pop("latency_ms")
        assert isinstance(value, int) and 0 <= value < 60_000, value
    else:
        assert "latency_ms" not in event
    return event
