"""Attribution context (job, batch, user, project, GitHub, tags) via contextvars.

The context is a chain of immutable frames held in one ``ContextVar``, shared
by every tracker in the process. ``contextvars`` gives the isolation the SDK
promises: a new thread starts with an empty context, and an asyncio task sees
a copy of the context it was created in, so concurrent work never sees each
other's fields.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

CONTEXT_FIELDS = frozenset({"job_id", "batch_id", "user_id", "project", "github", "tags"})

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Frame:
    fields: Mapping[str, Any]
    parent: _Frame | None


_EMPTY = _Frame(MappingProxyType({}), None)
_current: ContextVar[_Frame] = ContextVar("aiusage_usage_context", default=_EMPTY)


def current_context() -> dict[str, Any]:
    """The fields in effect here, as a fresh dict the caller may change."""
    fields = _current.get().fields
    return {key: dict(value) if isinstance(value, Mapping) else value for key, value in fields.items()}


def _merge(outer: Mapping[str, Any], inner: Mapping[str, Any]) -> Mapping[str, Any]:
    merged = dict(outer)
    for key, value in inner.items():
        if key == "tags":
            # Tags accumulate across nesting; every other field is replaced.
            merged["tags"] = {**outer.get("tags", {}), **value}
        else:
            merged[key] = value
    return MappingProxyType(merged)


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - CONTEXT_FIELDS
    if unknown:
        raise TypeError(f"unknown context field(s) {sorted(unknown)}; allowed: {sorted(CONTEXT_FIELDS)}")
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue  # None means "not given", so an inner scope cannot blank a field by accident
        if key == "tags":
            cleaned[key] = {str(k): str(v) for k, v in dict(value).items()}
        elif key == "github":
            cleaned[key] = dict(value)
        else:
            cleaned[key] = str(value)
    return cleaned


class UsageContext:
    """Scope that adds attribution fields to every event recorded inside it.

    Use as ``with tracker.context(job_id="j1"):`` or as a decorator on a sync or
    async function. Nested scopes override outer values, tags merge.
    """

    def __init__(self, **fields: Any) -> None:
        self._fields = _clean(fields)

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self._fields)

    def __enter__(self) -> UsageContext:
        outer = _current.get()
        _current.set(_Frame(_merge(outer.fields, self._fields), outer))
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Pop the frame of *this* thread/task rather than resetting a token:
        # the same UsageContext object may be entered concurrently elsewhere.
        frame = _current.get()
        _current.set(frame.parent or _EMPTY)

    def __call__(self, fn: F) -> F:
        fields = self._fields
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_scoped(*args: Any, **kwargs: Any) -> Any:
                with UsageContext(**fields):
                    return await fn(*args, **kwargs)

            return async_scoped  # type: ignore[return-value]

        @functools.wraps(fn)
        def scoped(*args: Any, **kwargs: Any) -> Any:
            with UsageContext(**fields):
                return fn(*args, **kwargs)

        return scoped  # type: ignore[return-value]
