"""Lifecycle events as event storage keeps them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from attrs import field, frozen

from omniq._time import as_utc, as_utc_or_none, utcnow
from omniq.ids import new_id

__all__ = ["EventQuery", "EventType", "TaskEvent"]


class EventType(enum.StrEnum):
    ENQUEUED = "enqueued"
    SCHEDULED = "scheduled"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    RETRYING = "retrying"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DEAD_LETTERED = "dead_lettered"
    # The worker registry (omniq.runtime.presence): events with no queue, keyed by worker.
    WORKER_STARTED = "worker_started"
    WORKER_HEARTBEAT = "worker_heartbeat"
    WORKER_STOPPED = "worker_stopped"


@frozen(kw_only=True)
class TaskEvent:
    """One change in a task's life."""

    event_type: EventType = field(converter=EventType)
    task_id: str
    timestamp: datetime = field(factory=utcnow, converter=as_utc)
    id: str = field(factory=new_id)
    """Sortable: events of one process sort in the order they were made."""
    queue: str | None = None
    worker_id: str | None = None
    attempt: int | None = None
    details: dict[str, Any] = field(factory=dict)
    """JSON-compatible values only: error text, retry time, reason, ..."""


def _event_types(value: Iterable[EventType | str] | None) -> frozenset[EventType] | None:
    return None if value is None else frozenset(EventType(t) for t in value)


@frozen(kw_only=True)
class EventQuery:
    """A filter over stored events; every given field must match. Results are ordered by
    ``(timestamp, id)`` ascending, and at most ``limit`` are returned."""

    task_id: str | None = None
    event_types: frozenset[EventType] | None = field(default=None, converter=_event_types)
    queue: str | None = None
    since: datetime | None = field(default=None, converter=as_utc_or_none)
    """Inclusive lower bound on ``timestamp``."""
    until: datetime | None = field(default=None, converter=as_utc_or_none)
    """Exclusive upper bound on ``timestamp``."""
    after_id: str | None = None
    """Only events whose id sorts after this one (for paging and following)."""
    limit: int = 1000

    def matches(self, event: TaskEvent) -> bool:
        """Whether ``event`` passes this filter (ignoring ``limit``)."""
        return (
            (self.task_id is None or event.task_id == self.task_id)
            and (self.event_types is None or event.event_type in self.event_types)
            and (self.queue is None or event.queue == self.queue)
            and (self.since is None or event.timestamp >= self.since)
            and (self.until is None or event.timestamp < self.until)
            and (self.after_id is None or event.id > self.after_id)
        )
