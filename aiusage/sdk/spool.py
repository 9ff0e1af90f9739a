"""Local JSONL files: the file sink, the spool of unsent events, rejected events.

The spool is where events go when they cannot be sent (API down, process
exiting, queue full). On the next start a tracker *claims* the spool by
renaming it under a lock, resends the claimed events, and deletes the claimed
file only after every event in it was acknowledged by the server, rejected for
good, or appended back to the spool — so a crash at any point loses nothing
(the server dedups by ``event_id``, so resending twice is harmless).

Locking uses ``fcntl.flock`` where available: appends and claims take a short
exclusive lock on ``<spool>.lock``; a claimed file stays flocked by the process
working on it, so another process can tell a live claim from one orphaned by a
crash (the kernel drops the lock when its holder dies).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .events import to_json_line, utc_now

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, single-process use only.
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("aiusage.sdk")


@contextlib.contextmanager
def _flocked(fd: int) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def append_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Append records as JSON lines in one locked write; returns how many."""
    data = "".join(to_json_line(record) + "\n" for record in records)
    if not data:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        with _flocked(fd):
            payload = data.encode("utf-8")
            while payload:  # os.write may write less than asked on odd filesystems
                payload = payload[os.write(fd, payload) :]
    finally:
        os.close(fd)
    return data.count("\n")


def rejected_path_for(spool_path: Path) -> Path:
    if spool_path.suffix == ".jsonl":
        return spool_path.with_suffix(".rejected.jsonl")
    return spool_path.with_name(spool_path.name + ".rejected.jsonl")


@dataclass
class Claim:
    """Spooled events taken over by this process for resending."""

    path: Path
    events: list[dict[str, Any]]
    fd: int = field(repr=False)


class Spool:
    """The spool file, its ``.rejected.jsonl`` sibling, its lock and its claims."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected_path = rejected_path_for(path)
        self._lock_path = path.with_name(path.name + ".lock")
        self._claim_prefix = path.name + ".sending."

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with _flocked(fd):
                yield
        finally:
            os.close(fd)

    def append(self, events: Iterable[Mapping[str, Any]]) -> int:
        with self._locked():
            return append_jsonl(self.path, events)

    def append_rejected(self, events: Iterable[Mapping[str, Any]], status: int, error: Any) -> int:
        rejected_at = utc_now()
        records = [{"rejected_at": rejected_at, "status": status, "error": error, "event": e} for e in events]
        with self._locked():
            return append_jsonl(self.rejected_path, records)

    def _claimed_files(self) -> list[Path]:
        if not self.path.parent.is_dir():
            return []
        return sorted(p for p in self.path.parent.iterdir() if p.name.startswith(self._claim_prefix))

    def claim(self) -> list[Claim]:
        """Take the spool and any orphaned claims; each claim stays flocked."""
        claims: list[Claim] = []
        if not self.path.parent.is_dir():
            return claims
        with self._locked():
            for orphan in self._claimed_files():
                claim = self._try_own(orphan)
                if claim is not None:
                    claims.append(claim)
            if self.path.exists() and self.path.stat().st_size > 0:
                target = self.path.with_name(f"{self._claim_prefix}{os.getpid()}.{uuid.uuid4().hex}")
                os.rename(self.path, target)
                claim = self._try_own(target)
                if claim is not None:
                    claims.append(claim)
        return claims

    def _try_own(self, path: Path) -> Claim | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live tracker is resending it right now
                os.close(fd)
                return None
        with os.fdopen(os.dup(fd), "r", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        events, unreadable = [], []
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                unreadable.append(line)
                continue
            if isinstance(event, dict):
                events.append(event)
            else:
                unreadable.append(line)
        if unreadable:
            # A torn line (e.g. disk full mid-write) must not block the rest forever.
            log.warning("aiusage: %d unreadable spool line(s) moved to %s", len(unreadable), self.rejected_path)
            now = utc_now()
            records = [
                {"rejected_at": now, "status": 0, "error": "unreadable spool line", "line": u} for u in unreadable
            ]
            append_jsonl(self.rejected_path, records)
        return Claim(path=path, events=events, fd=fd)

    def release(self, claim: Claim, unsent: list[dict[str, Any]]) -> None:
        """Finish a claim: put back what was not sent, then delete the claim."""
        try:
            with self._locked():
                if unsent:
                    append_jsonl(self.path, unsent)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(claim.path)
        finally:
            os.close(claim.fd)
