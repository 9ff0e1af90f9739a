"""Exceptions the SDK raises on purpose (everything else it swallows and logs)."""

from __future__ import annotations

from typing import Any


class UsageMissingError(RuntimeError):
    """A provider call succeeded but its response carried no usage data.

    Raised only by trackers built with ``strict=True``, after the provider call
    returned; ``response`` holds what the provider returned so the caller can
    still use it.
    """

    def __init__(self, service: str, model: str, response: Any = None) -> None:
        super().__init__(f"{service} response for model {model!r} carried no usage data")
        self.service = service
        self.model = model
        self.response = response
