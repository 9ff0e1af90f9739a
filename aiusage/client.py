"""A small HTTP client of the aiusage API for the CLI (stdlib only)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ApiError(Exception):
    """The API answered with an error, or could not be reached (status 0)."""

    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or []


class ApiClient:
    def __init__(self, api_url: str | None = None, api_key: str | None = None, timeout: float = 30.0):
        self.api_url = (api_url or os.environ.get("AIUSAGE_API_URL") or "http://127.0.0.1:3000").rstrip("/")
        self.api_key = api_key or os.environ.get("AIUSAGE_API_KEY") or ""
        self.timeout = timeout

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                raw: bool = False) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        url = f"{self.api_url}{path}" + (f"?{query}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                error = json.loads(payload)["error"]
                raise ApiError(
                    exc.code, error.get("code", "error"), error.get("message", ""), error.get("details")
                ) from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(exc.code, "http_error", payload.decode("utf-8", "replace")[:300] or exc.reason) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(0, "unreachable", f"cannot reach {self.api_url}: {reason}") from None
        if raw:
            return payload.decode("utf-8")
        return json.loads(payload) if payload else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body)
