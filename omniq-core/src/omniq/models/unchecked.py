"""Records built from values that were already checked, without attrs' validators and converters.

The hot paths build a task per enqueue and per claim, and two or more events per task run; the
validators (names by regular expression, times converted to UTC, enums looked up) cost more
than everything else those paths do. These constructors set the fields directly. The caller
vouches that every value is one the model's validators accept as it is: a task the runtime has
just validated, a task a storage reads back from what it wrote, an event made of those.
``omniq-core/tests/models/test_unchecked.py`` checks that they make records equal to the attrs
constructors' and that they set every field of the models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from omniq._time import utcnow
from omniq.ids import new_id
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import ClaimedTask, Lease, Task

__all__ = ["unchecked_claim", "unchecked_event", "unchecked_task"]

_new = object.__new__
_set = object.__setattr__


def unchecked_task(
    *,
    func: str,
    payload: bytes,
    serializer: str,
    id: str,
    queue: str,
    priority: int,
    enqueued_at: datetime,
    eta: datetime,
    max_retries: int,
    retry_backoff: float,
    timeout: float | None,
    result_ttl: float | None,
    headers: dict[str, str],
) -> Task:
    """A :class:`Task` of valid values (aware UTC datetimes, validated names)."""
    task = _new(Task)
    _set(task, "func", func)
    _set(task, "payload", payload)
    _set(task, "serializer", serializer)
    _set(task, "id", id)
    _set(task, "queue", queue)
    _set(task, "priority", priority)
    _set(task, "enqueued_at", enqueued_at)
    _set(task, "eta", eta)
    _set(task, "max_retries", max_retries)
    _set(task, "retry_backoff", retry_backoff)
    _set(task, "timeout", timeout)
    _set(task, "result_ttl", result_ttl)
    _set(task, "headers", headers)
    return task


def unchecked_event(
    event_type: EventType,
    task_id: str,
    *,
    queue: str | None,
    timestamp: datetime | None = None,
    id: str | None = None,
    worker_id: str | None = None,
    attempt: int | None = None,
    details: dict[str, Any] | None = None,
) -> TaskEvent:
    """A :class:`TaskEvent`; ``timestamp`` and ``id`` default to now and a new sortable id."""
    event = _new(TaskEvent)
    _set(event, "event_type", event_type)
    _set(event, "task_id", task_id)
    _set(event, "timestamp", utcnow() if timestamp is None else timestamp)
    _set(event, "id", new_id() if id is None else id)
    _set(event, "queue", queue)
    _set(event, "worker_id", worker_id)
    _set(event, "attempt", attempt)
    _set(event, "details", {} if details is None else details)
    return event


def unchecked_claim(
    task: Task, *, token: str, expires_at: datetime, attempt: int, worker_id: str
) -> ClaimedTask:
    """A :class:`ClaimedTask` holding ``task`` under a new lease (``expires_at`` aware UTC)."""
    lease = _new(Lease)
    _set(lease, "task_id", task.id)
    _set(lease, "token", token)
    _set(lease, "expires_at", expires_at)
    _set(lease, "attempt", attempt)
    _set(lease, "worker_id", worker_id)
    _set(lease, "cancel_requested", False)
    claimed = _new(ClaimedTask)
    _set(claimed, "task", task)
    _set(claimed, "lease", lease)
    return claimed
