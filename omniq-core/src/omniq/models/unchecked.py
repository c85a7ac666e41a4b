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

from collections.abc import Callable
from datetime import datetime
from typing import Any

from omniq._time import utcnow
from omniq.ids import new_id
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import ClaimedTask, Lease, Task

__all__ = ["unchecked_claim", "unchecked_event", "unchecked_task"]

_new = object.__new__

Setter = Callable[[Any, Any], None]


def _slot_setters(cls: type, *names: str) -> tuple[Setter, ...]:
    """The setters of ``cls``'s slots ``names``: the models are frozen, slotted attrs classes,
    and calling a slot's descriptor costs a third less than ``object.__setattr__``."""
    return tuple(cls.__dict__[name].__set__ for name in names)


(
    _task_func,
    _task_payload,
    _task_serializer,
    _task_id,
    _task_queue,
    _task_priority,
    _task_enqueued_at,
    _task_eta,
    _task_max_retries,
    _task_retry_backoff,
    _task_timeout,
    _task_result_ttl,
    _task_headers,
) = _slot_setters(
    Task,
    "func",
    "payload",
    "serializer",
    "id",
    "queue",
    "priority",
    "enqueued_at",
    "eta",
    "max_retries",
    "retry_backoff",
    "timeout",
    "result_ttl",
    "headers",
)
(
    _event_type,
    _event_task_id,
    _event_timestamp,
    _event_id,
    _event_queue,
    _event_worker_id,
    _event_attempt,
    _event_details,
) = _slot_setters(
    TaskEvent,
    "event_type",
    "task_id",
    "timestamp",
    "id",
    "queue",
    "worker_id",
    "attempt",
    "details",
)
(
    _lease_task_id,
    _lease_token,
    _lease_expires_at,
    _lease_attempt,
    _lease_worker_id,
    _lease_cancel_requested,
    _lease_delivery,
) = _slot_setters(
    Lease, "task_id", "token", "expires_at", "attempt", "worker_id", "cancel_requested", "delivery"
)
_claimed_task, _claimed_lease = _slot_setters(ClaimedTask, "task", "lease")


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
    _task_func(task, func)
    _task_payload(task, payload)
    _task_serializer(task, serializer)
    _task_id(task, id)
    _task_queue(task, queue)
    _task_priority(task, priority)
    _task_enqueued_at(task, enqueued_at)
    _task_eta(task, eta)
    _task_max_retries(task, max_retries)
    _task_retry_backoff(task, retry_backoff)
    _task_timeout(task, timeout)
    _task_result_ttl(task, result_ttl)
    _task_headers(task, headers)
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
    _event_type(event, event_type)
    _event_task_id(event, task_id)
    _event_timestamp(event, utcnow() if timestamp is None else timestamp)
    _event_id(event, new_id() if id is None else id)
    _event_queue(event, queue)
    _event_worker_id(event, worker_id)
    _event_attempt(event, attempt)
    _event_details(event, {} if details is None else details)
    return event


def unchecked_claim(
    task: Task,
    *,
    token: str,
    expires_at: datetime,
    attempt: int,
    worker_id: str,
    delivery: int = 0,
) -> ClaimedTask:
    """A :class:`ClaimedTask` holding ``task`` under a new lease (``expires_at`` aware UTC)."""
    lease = _new(Lease)
    _lease_task_id(lease, task.id)
    _lease_token(lease, token)
    _lease_expires_at(lease, expires_at)
    _lease_attempt(lease, attempt)
    _lease_worker_id(lease, worker_id)
    _lease_cancel_requested(lease, False)
    _lease_delivery(lease, delivery)
    claimed = _new(ClaimedTask)
    _claimed_task(claimed, task)
    _claimed_lease(claimed, lease)
    return claimed
