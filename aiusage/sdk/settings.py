"""Tracker settings: constructor arguments merged with the environment, once.

Every argument the caller leaves unset is read from the environment when the
tracker is built (never at import time), so tests and applications can set
variables before constructing a tracker without patching module globals.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SPOOL = Path("~/.aiusage/spool.jsonl")
# The server accepts at most 1000 events per request (SPEC 4).
MAX_BATCH_SIZE = 1000
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class TrackerSettings:
    enabled: bool
    api_url: str | None
    api_key: str | None
    file_path: Path | None
    spool_path: Path
    user_id: str | None
    batch_size: int
    flush_interval: float
    max_retries: int
    strict: bool
    timeout: float
    max_queue: int
    backoff_base: float
    backoff_max: float
    exit_timeout: float

    @property
    def http_enabled(self) -> bool:
        return self.enabled and bool(self.api_url)

    @classmethod
    def resolve(
        cls,
        *,
        api_url: str | None,
        api_key: str | None,
        enabled: bool | None,
        file_path: str | os.PathLike[str] | None,
        spool_path: str | os.PathLike[str] | None,
        user_id: str | None,
        batch_size: int,
        flush_interval: float,
        max_retries: int,
        strict: bool,
        timeout: float,
        max_queue: int,
        backoff_base: float,
        backoff_max: float,
        exit_timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> TrackerSettings:
        env = os.environ if env is None else env
        if enabled is None:
            enabled = env.get("TRACK_AI_USAGE", "").strip().lower() not in _FALSE_WORDS
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}")
        if max_retries < 0 or max_queue < 1 or timeout <= 0 or flush_interval < 0:
            raise ValueError("max_retries >= 0, max_queue >= 1, timeout > 0 and flush_interval >= 0 are required")
        file_value = file_path if file_path is not None else env.get("TRACK_TO_FILE") or None
        spool_value = spool_path if spool_path is not None else env.get("AIUSAGE_SPOOL") or DEFAULT_SPOOL
        url = api_url if api_url is not None else env.get("AIUSAGE_API_URL") or None
        return cls(
            enabled=bool(enabled),
            api_url=url.rstrip("/") if url else None,
            api_key=api_key if api_key is not None else env.get("AIUSAGE_API_KEY") or None,
            file_path=Path(file_value).expanduser() if file_value else None,
            spool_path=Path(spool_value).expanduser(),
            user_id=user_id if user_id is not None else env.get("USER_ID") or None,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_retries=max_retries,
            strict=strict,
            timeout=timeout,
            max_queue=max_queue,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            exit_timeout=exit_timeout,
        )
