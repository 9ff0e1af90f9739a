"""Getting events to ``POST {api_url}/ai_usage``: batching, retries, spooling.

One daemon thread per tracker owns the network. Callers only append to an
in-memory buffer (a full buffer spills to the spool on disk), so recording
never waits on the network. The thread sends ``{"events": [...]}`` batches,
retries connection errors, timeouts, 408, 429 and 5xx with exponential backoff
and jitter, isolates events the server rejects as invalid (400/413/422) and
writes them to the rejected file, and spools whatever it could not send.
At start it resends what earlier runs spooled (see ``spool.py``); in a
forked child it starts a fresh sender.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import Counter, deque
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from .settings import TrackerSettings
from .spool import Spool

log = logging.getLogger("aiusage.sdk")

USER_AGENT = "aiusage-python-sdk/0.1"
# SPEC 4: bodies over 1 MiB are refused; keep a margin for the envelope.
MAX_BODY_BYTES = 1_000_000
_INVALID = frozenset({400, 413, 422})
_RETRYABLE = frozenset({408, 429})
# How long close() waits for the sender to notice an abort before taking its
# batch over (it may be blocked in a request for up to ``timeout`` seconds).
_JOIN_GRACE = 0.2


@dataclass(frozen=True)
class _Reply:
    status: int | None  # None: no HTTP answer at all (refused, reset, timeout)
    body: Any
    retry_after: float | None
    problem: str


@dataclass(frozen=True)
class _Outcome:
    kind: str  # "ok" | "invalid" | "failed"
    reply: _Reply


class Delivery:
    """Background sender for one tracker (see the module docstring)."""

    def __init__(self, settings: TrackerSettings, spool: Spool) -> None:
        if not settings.api_url:
            raise ValueError("Delivery needs an api_url")
        self._url = settings.api_url + "/ai_usage"
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if settings.api_key:
            self._headers["Authorization"] = f"Bearer {settings.api_key}"
        else:
            log.warning("aiusage: AIUSAGE_API_KEY is not set; the server will refuse the events (they are spooled)")
        self._spool = spool
        self._batch_size = settings.batch_size
        self._flush_interval = settings.flush_interval
        self._max_retries = settings.max_retries
        self._timeout = settings.timeout
        self._max_queue = settings.max_queue
        self._backoff_base = settings.backoff_base
        self._backoff_max = settings.backoff_max

        self._cond = threading.Condition()
        self._buffer: deque[tuple[float, dict[str, Any]]] = deque()
        self._submitted = 0
        self._settled = 0
        self._flush_waiters = 0
        self._closing = False
        self._accepting = True
        self._abandoned = False
        self._inflight: list[dict[str, Any]] | None = None
        self._abort = threading.Event()
        self._startup_done = threading.Event()
        self._stats: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, name="aiusage-delivery", daemon=True)
        self._thread.start()
        _LIVE.add(self)

    def _after_fork(self) -> None:
        """In a forked child (gunicorn, multiprocessing): fresh locks and a new sender.

        The parent's thread does not exist here and its lock may have been held
        at the fork. Events queued before the fork stay the parent's to send;
        the spool was already claimed by the parent.
        """
        self._cond = threading.Condition()
        self._abort = threading.Event()
        self._startup_done = threading.Event()
        self._startup_done.set()
        self._buffer.clear()
        self._inflight = None
        self._abandoned = False
        self._submitted = self._settled = self._flush_waiters = 0
        self._stats = Counter()
        if self._accepting and not self._closing:
            self._thread = threading.Thread(target=self._serve, name="aiusage-delivery", daemon=True)
            self._thread.start()

    # ---- caller side -------------------------------------------------------

    def submit(self, event: dict[str, Any]) -> None:
        with self._cond:
            if self._accepting and len(self._buffer) < self._max_queue:
                self._buffer.append((time.monotonic(), event))
                self._submitted += 1
                if len(self._buffer) == 1 or len(self._buffer) >= self._batch_size:
                    self._cond.notify_all()
                return
            reason = "queue full" if self._accepting else "tracker closed"
        self._spool_events([event], reason)

    def stats(self) -> dict[str, int]:
        with self._cond:
            snapshot = dict(self._stats)
            snapshot["queued"] = len(self._buffer) + len(self._inflight or ())
        return snapshot

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event submitted so far was acknowledged, rejected or spooled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._startup_done.wait(timeout):
            return False
        with self._cond:
            target = self._submitted
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                while self._settled < target:
                    if not self._thread.is_alive():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float | None = None) -> bool:
        """Flush for up to ``timeout`` seconds, then spool everything left."""
        with self._cond:
            if not self._accepting:
                return True
        start = time.monotonic()
        flushed = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if flushed:
            # Only events recorded during close() are left; give them the rest of the time.
            remaining = None if timeout is None else max(_JOIN_GRACE, timeout - (time.monotonic() - start))
            self._thread.join(remaining)
        if self._thread.is_alive():
            self._abort.set()  # cut retries and backoff short: the rest goes to the spool
            self._thread.join(_JOIN_GRACE)
        with self._cond:
            self._accepting = False
            leftovers = [event for _, event in self._buffer]
            self._buffer.clear()
            if self._thread.is_alive():
                # The thread is stuck in a request; take its batch over. If the
                # request still succeeds the spool holds a duplicate, which the
                # server dedups by event_id on resend.
                self._abandoned = True
                leftovers.extend(self._inflight or ())
                self._inflight = None
            self._settled = self._submitted
            self._cond.notify_all()
        if leftovers:
            self._spool_events(leftovers, "tracker closed before they were sent")
        return flushed and not leftovers

    # ---- background thread -------------------------------------------------

    def _run(self) -> None:
        try:
            self._resend_spool()
        except Exception:  # never let a bad spool stop new events from flowing
            log.exception("aiusage: resending the spool failed")
        finally:
            self._startup_done.set()
        self._serve()

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                break
            try:
                failed = self._send_events(batch)
                if failed:
                    self._spool_events(failed, "could not be sent", worker=True)
            except Exception:
                log.exception("aiusage: unexpected error while sending; spooling the batch")
                self._spool_events(batch, "unexpected error", worker=True)
            finally:
                with self._cond:
                    if not self._abandoned:
                        self._settled += len(batch)
                        self._inflight = None
                    self._cond.notify_all()
        with self._cond:
            if self._abandoned:
                return
            leftovers = [event for _, event in self._buffer]
            self._buffer.clear()
            self._settled += len(leftovers)
            self._cond.notify_all()
        if leftovers:
            self._spool_events(leftovers, "tracker closing", worker=True)

    def _next_batch(self) -> list[dict[str, Any]] | None:
        with self._cond:
            while True:
                if self._abort.is_set():
                    return None
                if self._buffer:
                    wait = self._buffer[0][0] + self._flush_interval - time.monotonic()
                    due = self._flush_waiters or self._closing or len(self._buffer) >= self._batch_size
                    if due or wait <= 0:
                        count = min(self._batch_size, len(self._buffer))
                        batch = [self._buffer.popleft()[1] for _ in range(count)]
                        self._inflight = batch
                        return batch
                    self._cond.wait(wait)
                elif self._closing:
                    return None
                else:
                    self._cond.wait()

    def _resend_spool(self) -> None:
        for claim in self._spool.claim():
            unsent: list[dict[str, Any]] = []
            for start in range(0, len(claim.events), self._batch_size):
                chunk = claim.events[start : start + self._batch_size]
                if unsent or self._abort.is_set():
                    unsent.extend(chunk)  # the API just failed: do not retry chunk after chunk
                    continue
                unsent.extend(self._send_events(chunk))
            self._spool.release(claim, unsent)
            with self._cond:
                self._stats["resent_from_spool"] += len(claim.events) - len(unsent)
            if unsent:
                log.warning("aiusage: %d spooled event(s) still unsent, kept in %s", len(unsent), self._spool.path)

    def _send_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send events; returns those that must be spooled (not sent, not rejected)."""
        pending = [events]
        while pending:
            chunk = pending.pop(0)
            body = json.dumps({"events": chunk}, separators=(",", ":"), ensure_ascii=False, default=str).encode()
            if len(body) > MAX_BODY_BYTES and len(chunk) > 1:
                half = len(chunk) // 2
                pending[:0] = [chunk[:half], chunk[half:]]
                continue
            outcome = self._post_with_retries(body)
            if outcome.kind == "ok":
                self._count_results(chunk, outcome.reply.body)
            elif outcome.kind == "invalid":
                pending[:0] = self._isolate_invalid(chunk, outcome.reply)
            else:
                return chunk + [event for rest in pending for event in rest]
        return []

    def _isolate_invalid(self, chunk: list[dict[str, Any]], reply: _Reply) -> list[list[dict[str, Any]]]:
        """Reject the events a 4xx names; return what should be sent again.

        The server validates a request as a whole, so one bad event fails its
        batch. Its details name the offending index (``loc: ["events", i,
        ...]``); when they do not, halving the batch finds the bad events in
        log2(n) requests. Either way every step drops at least one event or
        halves the batch, so this always ends.
        """
        bad = set()
        error = _error_object(reply.body)
        for detail in error.get("details") or []:
            loc = detail.get("loc") if isinstance(detail, dict) else None
            if not isinstance(loc, list):
                continue
            # SPEC 3 spells it ["events", 3, "input_tokens"]; tolerate a prefix such as "body".
            for key, index in itertools.pairwise(loc):
                if key == "events" and isinstance(index, int) and 0 <= index < len(chunk):
                    bad.add(index)
                    break
        if not bad and len(chunk) > 1:
            half = len(chunk) // 2
            return [chunk[:half], chunk[half:]]
        rejected = [event for i, event in enumerate(chunk) if i in bad or not bad]
        self._spool.append_rejected(rejected, reply.status or 0, error or {"message": reply.problem})
        with self._cond:
            self._stats["rejected"] += len(rejected)
        log.warning(
            "aiusage: server rejected %d event(s) (HTTP %s: %s); written to %s",
            len(rejected), reply.status, error.get("message", reply.problem), self._spool.rejected_path,
        )
        rest = [event for i, event in enumerate(chunk) if bad and i not in bad]
        return [rest] if rest else []

    def _count_results(self, chunk: list[dict[str, Any]], body: Any) -> None:
        results = body.get("results") if isinstance(body, dict) else None
        statuses = Counter(r.get("status") for r in results or [] if isinstance(r, dict))
        with self._cond:
            self._stats["sent"] += len(chunk)
            self._stats["duplicates"] += statuses.get("duplicate", 0)
            self._stats["conflicts"] += statuses.get("conflict", 0)
        if statuses.get("conflict"):
            ids = [r.get("event_id") for r in results or [] if isinstance(r, dict) and r.get("status") == "conflict"]
            log.warning("aiusage: server kept different content for event id(s) %s (conflict)", ids)

    def _post_with_retries(self, body: bytes) -> _Outcome:
        attempt = 0
        while True:
            reply = self._post(body)
            with self._cond:
                self._stats["attempts"] += 1
            if reply.status is not None and 200 <= reply.status < 300:
                return _Outcome("ok", reply)
            if reply.status in _INVALID:
                return _Outcome("invalid", reply)
            with self._cond:
                self._stats["failed_attempts"] += 1
            retryable = reply.status is None or reply.status in _RETRYABLE or reply.status >= 500
            if not retryable:
                log.warning("aiusage: POST %s answered %s (%s); spooling", self._url, reply.status, reply.problem)
                return _Outcome("failed", reply)
            if attempt >= self._max_retries or self._abort.is_set():
                log.warning("aiusage: POST %s failed %d time(s), last: %s", self._url, attempt + 1, reply.problem)
                return _Outcome("failed", reply)
            if self._abort.wait(self._backoff(attempt, reply.retry_after)):
                return _Outcome("failed", reply)
            attempt += 1

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self._backoff_max)
        ceiling = min(self._backoff_max, self._backoff_base * (2**attempt))
        # "Equal jitter": at least half the exponential step, so retries from
        # many processes spread out without collapsing to zero delay.
        return random.uniform(ceiling / 2, ceiling)

    def _post(self, body: bytes) -> _Reply:
        request = urllib.request.Request(self._url, data=body, method="POST", headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return _Reply(response.status, _parse_json(response.read()), None, f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            payload = _parse_json(exc.read())
            message = _error_object(payload).get("message")
            return _Reply(exc.code, payload, _retry_after(exc.headers), f"HTTP {exc.code} {message or exc.reason}")
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return _Reply(None, None, None, f"{type(exc).__name__}: {reason}")

    def _spool_events(self, events: list[dict[str, Any]], reason: str, *, worker: bool = False) -> None:
        if worker:
            with self._cond:
                if self._abandoned:  # close() already spooled this thread's batch
                    return
        try:
            count = self._spool.append(events)
        except OSError:
            log.exception(
                "aiusage: could not write %d event(s) to the spool %s; they are lost", len(events), self._spool.path
            )
            return
        with self._cond:
            self._stats["spooled"] += count
        log.warning("aiusage: %d event(s) spooled to %s (%s)", count, self._spool.path, reason)


_LIVE: weakref.WeakSet[Delivery] = weakref.WeakSet()


def _restart_after_fork() -> None:
    for sender in list(_LIVE):
        sender._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_after_fork)


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _error_object(body: Any) -> dict[str, Any]:
    """The ``error`` object of a SPEC 3 error body, or ``{}``."""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
