"""Budgets: periods, spend, status, check decisions and alert crossings (SPEC 6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared import store, table
from shared.models import UsageEvent
from shared.rollups import CellDelta


@dataclass
class Budget:
    budget_id: str
    definition: dict[str, Any]


def load_for_recording() -> tuple[int, list[Budget]]:
    """The budget set version and every budget, read consistently in one Query."""
    version = 0
    active: list[Budget] = []
    for item in store.query_all(table.BUDGETS_PARTITION, consistent=True):
        if item["SK"] == table.BUDGET_VERSION_SK:
            version = int(item["version"])
    return version, active


def spend_deltas(event: UsageEvent, active: Sequence[Budget]) -> dict[tuple[str, str], CellDelta]:
    return {}


def after_recording(created: Sequence[UsageEvent]) -> None:
    return None


def estimate_impact(scope: dict[str, Any], total: Any, now: Any) -> list[dict[str, Any]]:
    return []


def all_statuses(now: Any = None) -> list[dict[str, Any]]:
    """Every budget with its current status (for reports and the dashboard)."""
    return []
