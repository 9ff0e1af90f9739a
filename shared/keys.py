"""API keys: creation, listing, revocation and authentication (SPEC 2).

A key is `aiu_` + 43 url-safe random characters, shown once. The table keeps
only its SHA-256; the key id is derived from that hash so authentication is one
consistent GetItem, and the full hash is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import store, table
from shared.errors import Conflict, NotFound
from shared.models import format_ts

SCOPES = ("usage:write", "usage:read", "admin")
KEY_PREFIX = "aiu_"
LAST_USED_GRANULARITY = timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    """Who is calling, with what scopes."""

    principal: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of_hash(key_hash: str) -> str:
    return "k_" + key_hash[:20]


def create_key(name: str, scopes: list[str], *, key: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Store a new key (or the given bootstrap `key`) and return it, the only time it is shown."""
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    key_hash = hash_key(key)
    key_id = key_id_of_hash(key_hash)
    created_at = format_ts(now or datetime.now(UTC))
    ordered = [s for s in SCOPES if s in set(scopes)]
    store.put({
        **table.api_key_key(key_id),
        **table.api_key_listing(created_at, key_id),
        "type": "api_key",
        "key_id": key_id,
        "key_hash": key_hash,
        "name": name,
        "scopes": ordered,
        "created_at": created_at,
    })
    return {"key_id": key_id, "key": key, "name": name, "scopes": ordered, "created_at": created_at}


def ensure_key(key: str, name: str, scopes: list[str]) -> str:
    """Make `key` valid (the `AIUSAGE_ADMIN_KEY` bootstrap), keeping it if it already exists."""
    key_id = key_id_of_hash(hash_key(key))
    existing = store.get(table.api_key_key(key_id))
    if existing is None or existing.get("revoked_at"):
        create_key(name, scopes, key=key)
    return key_id


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item.get(k) for k in ("key_id", "name", "scopes", "created_at", "last_used_at", "revoked_at")}


def list_keys() -> list[dict[str, Any]]:
    items = store.query_all(table.API_KEYS_LISTING, index=table.GSI_LISTINGS, forward=False)
    return [_public(i) for i in items]


def revoke_key(key_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Revoke once: `revoked_at` records the first revocation; revoking again is a 409 that keeps it."""
    item = store.update(table.api_key_key(key_id), {"revoked_at": format_ts(now or datetime.now(UTC))},
                        require_exists=True, require_unset=("revoked_at",))
    if item is None:
        existing = store.get(table.api_key_key(key_id))
        if existing is None:
            raise NotFound(f"no key {key_id}")
        raise Conflict(f"key {key_id} was already revoked at {existing['revoked_at']}",
                       [{"loc": ["path", "key_id"], "msg": f"already revoked at {existing['revoked_at']}"}])
    return _public(item)


def authenticate_key(key: str, now: datetime | None = None) -> Principal | None:
    """The principal of a valid, unrevoked key; None otherwise."""
    key_hash = hash_key(key)
    key_id = key_id_of_hash(key_hash)
    item = store.get(table.api_key_key(key_id))
    if item is None or item.get("revoked_at") or not hmac.compare_digest(item["key_hash"], key_hash):
        return None
    now = now or datetime.now(UTC)
    last_used = item.get("last_used_at")
    if last_used is None or last_used < format_ts(now - LAST_USED_GRANULARITY):
        store.update(table.api_key_key(key_id), {"last_used_at": format_ts(now)})
    return Principal(f"key:{key_id}", frozenset(item["scopes"]))
