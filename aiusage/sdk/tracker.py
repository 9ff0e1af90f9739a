"""``UsageTracker``: the SDK's front door.

It turns calls into events (explicit ``record``, wrapped provider clients,
decorators), stamps them with the current context, and hands them to the
sinks: the JSONL file of ``TRACK_TO_FILE`` (written at once) and the HTTP
API (sent in the background by ``delivery.Delivery``). A disabled tracker
(``TRACK_AI_USAGE=false``) touches nothing: no thread, no files, no patching.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import decorators, providers
from .context import UsageContext, current_context
from .delivery import Delivery
from .events import build_event, check_fields
from .settings import TrackerSettings
from .spool import Spool, append_jsonl

log = logging.getLogger("aiusage.sdk")

C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])


class UsageTracker:
    """Records AI usage events and delivers them without blocking the caller.

    Every argument left as ``None`` comes from the environment:
    ``AIUSAGE_API_URL``, ``AIUSAGE_API_KEY``, ``TRACK_AI_USAGE`` (``false``,
    ``0``, ``no`` or ``off`` disable tracking), ``TRACK_TO_FILE`` (JSONL file
    sink), ``AIUSAGE_SPOOL`` (spool file, default ``~/.aiusage/spool.jsonl``)
    and ``USER_ID`` (default ``user_id`` of every event).

    Make one tracker per process and share it: each one with an API URL runs
    its own sender thread.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        enabled: bool | None = None,
        file_path: str | os.PathLike[str] | None = None,
        spool_path: str | os.PathLike[str] | None = None,
        batch_size: int = 100,
        flush_interval: float = 2.0,
        max_retries: int = 3,
        strict: bool = False,
        timeout: float = 10.0,
        user_id: str | None = None,
        max_queue: int = 10_000,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        exit_timeout: float = 3.0,
    ) -> None:
        self.settings = TrackerSettings.resolve(
            api_url=api_url, api_key=api_key, enabled=enabled, file_path=file_path, spool_path=spool_path,
            user_id=user_id, batch_size=batch_size, flush_interval=flush_interval, max_retries=max_retries,
            strict=strict, timeout=timeout, max_queue=max_queue, backoff_base=backoff_base,
            backoff_max=backoff_max, exit_timeout=exit_timeout,
        )
        self.strict = strict
        self.spool: Spool | None = None
        self._delivery: Delivery | None = None
        if self.settings.http_enabled:
            self.spool = Spool(self.settings.spool_path)
            self._delivery = Delivery(self.settings, self.spool)
            # Runs before the interpreter kills daemon threads: what cannot be
            # sent within exit_timeout is spooled, so nothing is lost at exit.
            atexit.register(self._at_exit)
        elif self.settings.enabled and not self.settings.file_path:
            log.warning("aiusage: neither AIUSAGE_API_URL nor TRACK_TO_FILE is set; usage events are discarded")

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    # ---- recording -----------------------------------------------------------

    def record(self, **fields: Any) -> str | None:
        """Queue one event (SPEC 4.1 fields); returns its ``event_id``."""
        return self.record_event(fields)

    def record_event(self, event: Mapping[str, Any]) -> str | None:
        """Queue one event given as a mapping; returns its ``event_id``.

        Unknown field names raise ``TypeError`` at once (the server would
        reject the whole batch); nothing else here ever raises.
        """
        if not self.enabled:
            return None
        check_fields(event)
        return self._emit(dict(event), current_context())

    def _emit(self, fields: dict[str, Any], context: Mapping[str, Any]) -> str | None:
        """Build and deliver one event; logs instead of raising (wrappers call this)."""
        try:
            event = build_event(fields, context, self.settings.user_id)
        except Exception:
            log.exception("aiusage: could not build an event from %r", sorted(fields))
            return None
        if self.settings.file_path:
            try:
                append_jsonl(self.settings.file_path, [event])
            except OSError:
                log.exception("aiusage: could not append to %s", self.settings.file_path)
        if self._delivery is not None:
            try:
                self._delivery.submit(event)
            except Exception:
                log.exception("aiusage: could not queue event %s", event.get("event_id"))
        return event["event_id"]

    # ---- instrumentation -----------------------------------------------------

    def wrap(self, client: C) -> C:
        """Instrument a provider client in place and return it.

        Supported: ``openai.OpenAI``/``AsyncOpenAI`` (and Azure),
        ``anthropic.Anthropic``/``AsyncAnthropic``, ``google.genai.Client``
        (sync and ``.aio``), boto3 ``bedrock-runtime`` clients. A disabled
        tracker returns the client untouched.
        """
        if not self.enabled:
            return client
        if not providers.instrument(client, self):
            raise TypeError(f"aiusage cannot wrap {type(client).__module__}.{type(client).__qualname__}")
        return client

    def track(
        self, service: str | None = None, operation: str | None = None, model: str | None = None
    ) -> Callable[[F], F]:
        """Decorate a function that returns a provider response; usage comes from the response.

        ``service`` and ``operation`` are inferred from the response when not
        given; ``model`` is used when the response names none.
        """
        if not self.enabled:
            return lambda fn: fn
        return decorators.track(self, service, operation, model)

    def track_requests(
        self, service: str, operation: str, requests: int = 1, model: str | None = None
    ) -> Callable[[F], F]:
        """Decorate a call to an API priced per request (records ``requests``, no tokens)."""
        if not self.enabled:
            return lambda fn: fn
        return decorators.track_requests(self, service, operation, requests, model)

    def context(self, **fields: Any) -> UsageContext:
        """Attribution for events recorded inside: ``job_id``, ``batch_id``,
        ``user_id``, ``project``, ``github``, ``tags``. A context manager and a
        decorator; nests (inner values win, tags merge). Shared by all trackers.
        """
        return UsageContext(**fields)

    # ---- delivery ------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        """Counters: sent, duplicates, conflicts, rejected, spooled, attempts, failed_attempts, queued..."""
        return self._delivery.stats() if self._delivery is not None else {}

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True when all of it was acknowledged,
        rejected or spooled within ``timeout`` seconds (None: no limit)."""
        return self._delivery.flush(timeout) if self._delivery is not None else True

    def close(self, timeout: float | None = None) -> None:
        """Flush (up to ``timeout``), spool what is left, stop the sender thread."""
        if self._delivery is None:
            return
        atexit.unregister(self._at_exit)
        self._delivery.close(timeout)

    def _at_exit(self) -> None:
        try:
            self.close(self.settings.exit_timeout)
        except Exception:
            log.exception("aiusage: flushing at exit failed")

    def __enter__(self) -> UsageTracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
