"""Reading a request's query and form values, with errors that name the value and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from omniq import names
from omniq._time import as_utc
from omniq.dashboard.data import EVENT_STATES, PER_PAGE, QUEUE_STATES, TaskFilter
from omniq.errors import InvalidValueError

__all__ = ["task_filter", "when"]

STATES = (*QUEUE_STATES, *EVENT_STATES)


def when(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time (UTC unless it says otherwise), or ``None`` when empty."""
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise InvalidValueError(name, value, "an ISO 8601 time, e.g. 2026-12-01T09:30") from None


def _int(name: str, value: str | None, default: int, *, minimum: int, maximum: int) -> int:
    if not value:
        return default
    allowed = f"a whole number from {minimum} to {maximum}"
    try:
        number = int(value)
    except ValueError:
        raise InvalidValueError(name, value, allowed) from None
    if not minimum <= number <= maximum:
        raise InvalidValueError(name, number, allowed)
    return number


def task_filter(query: Mapping[str, str]) -> TaskFilter:
    """The tasks listing's filters from a query string."""
    queue = query.get("queue") or None
    if queue is not None:
        names.validate_queue_name(queue)
    state = query.get("state") or "pending"
    if state not in STATES:
        raise InvalidValueError("state", state, f"one of {', '.join(STATES)}")
    func = (query.get("func") or "").strip() or None
    if func is not None and len(func) > 300:
        raise InvalidValueError("func", func, "a module:qualname of at most 300 characters")
    return TaskFilter(
        queue=queue,
        state=state,
        func=func,
        since=when("since", query.get("since")),
        until=when("until", query.get("until")),
        page=_int("page", query.get("page"), 1, minimum=1, maximum=10_000),
        per_page=_int("per_page", query.get("per_page"), PER_PAGE, minimum=1, maximum=500),
    )
