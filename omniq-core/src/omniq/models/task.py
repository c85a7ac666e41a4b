"""Task records as the task queue stores them.

The queue never sees Python objects: a :class:`Task` carries the function's import path and its
arguments already serialized (``payload``) with the named serializer. The runtime builds tasks
and decodes payloads; storages only move records.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from attrs import Factory, field, frozen

from omniq import _validate as check
from omniq import names
from omniq._time import as_utc, utcnow
from omniq.ids import new_id

__all__ = [
    "CORRUPT_RECORD",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_QUEUE",
    "CancelOutcome",
    "ClaimedTask",
    "Lease",
    "QueueStats",
    "RecoveredTask",
    "Task",
    "TaskInfo",
    "TaskState",
    "backoff_delay",
    "expired_reason",
]

DEFAULT_QUEUE = "default"

DEFAULT_MAX_DELIVERIES = 20
"""Deliveries after which a task whose lease keeps running out is dead-lettered (a poison pill:
it crashes or hangs every worker that runs it). Large enough that a few crashed workers never
cost a task; ``recover_expired`` and the worker setting of the same name take it."""


def _queue(_: object, __: object, value: str) -> None:
    names.validate_queue_name(value)


def _task_id(_: object, __: object, value: str) -> None:
    names.validate_task_id(value)


def _priority(_: object, __: object, value: int) -> None:
    names.validate_priority(value)


_retries = check.count_field(maximum=check.MAX_RETRIES)
_backoff = check.seconds_field()
_timeout = check.seconds_field(none="no time limit")
_result_ttl = check.seconds_field(none="the app's default")


class TaskState(enum.StrEnum):
    """Where a task stands in the queue."""

    PENDING = "pending"
    """Waiting to be claimed; ready once ``eta`` has passed (before that it is *delayed*)."""
    ACTIVE = "active"
    """Claimed by a worker under a lease."""
    DEAD = "dead"
    """Dead-lettered: out of attempts, refused, or failed for good. Kept until purged or
    requeued."""


@frozen(kw_only=True)
class Task:
    """One unit of work in a queue."""

    func: str
    """Import path of the function, ``"package.module:qualname"``."""
    payload: bytes = b""
    """``args`` and ``kwargs``, serialized with :attr:`serializer`."""
    serializer: str = "json"
    id: str = field(factory=new_id, validator=_task_id)
    queue: str = field(default=DEFAULT_QUEUE, validator=_queue)
    priority: int = field(default=0, validator=_priority)
    """Higher runs first; tasks of equal priority run in ``eta`` order, then by id."""
    enqueued_at: datetime = field(factory=utcnow, converter=as_utc)
    eta: datetime = field(
        default=Factory(lambda self: self.enqueued_at, takes_self=True), converter=as_utc
    )
    """Not claimable before this time; defaults to ``enqueued_at``."""
    max_retries: int = field(default=0, validator=_retries)
    """Further attempts after the first fails: a task runs at most ``max_retries + 1`` times."""
    retry_backoff: float = field(default=1.0, validator=_backoff)
    """Base delay in seconds of the exponential backoff between attempts."""
    timeout: float | None = field(default=None, validator=_timeout)
    result_ttl: float | None = field(default=None, validator=_result_ttl)
    headers: dict[str, str] = field(factory=dict)
    """Free-form metadata: schedule name, trace context, ..."""

    @property
    def max_attempts(self) -> int:
        """How many times the task may run in all."""
        return self.max_retries + 1


@frozen(kw_only=True)
class Lease:
    """Proof that a worker holds a task.

    ``token`` is a fencing token, new for every claim: ``ack``, ``nack``, ``extend`` and
    ``dead_letter`` must present it, and fail once the task has been re-claimed by another worker.
    ``delivery`` orders the claims of one task: results carry it, so a result store can refuse a
    stale worker's write (see :class:`~omniq.storage.ResultStorage`).
    """

    task_id: str
    token: str
    expires_at: datetime = field(converter=as_utc)
    attempt: int
    """The attempt counted against ``max_retries``: 1 for the first run. A claim increments it;
    a release at shutdown and a recovered expiry give it back (neither is the task's failure)."""
    worker_id: str = ""
    cancel_requested: bool = False
    """Set on leases returned by ``extend`` once someone asked to cancel the running task."""
    delivery: int = 0
    """How many times the task has been claimed, this claim included: 1 for the first, never
    reset (not by ``requeue_dead`` either), so it only grows. 0 means the backend does not
    count deliveries (it then cannot pass the fencing conformance tests)."""


@frozen(kw_only=True)
class ClaimedTask:
    """A task and the lease under which a worker holds it."""

    task: Task
    lease: Lease


@frozen(kw_only=True)
class TaskInfo:
    """What the queue knows about a task now."""

    task: Task
    state: TaskState
    attempt: int
    """The current attempt counted against ``max_retries``; 0 if it never ran."""
    lease_expires_at: datetime | None = None
    worker_id: str | None = None
    last_error: str | None = None
    cancel_requested: bool = False
    deliveries: int = 0
    """Claims so far (each crash's re-delivery included); see :attr:`Lease.delivery`."""


@frozen(kw_only=True)
class QueueStats:
    """Counts of one named queue."""

    queue: str
    ready: int = 0
    delayed: int = 0
    active: int = 0
    dead: int = 0

    @property
    def pending(self) -> int:
        return self.ready + self.delayed


class CancelOutcome(enum.StrEnum):
    """What :meth:`TaskQueueStorage.cancel` did."""

    CANCELLED = "cancelled"
    """The task was pending and is gone from the queue."""
    REQUESTED = "requested"
    """The task is running; its worker learns of the request at its next lease extension."""
    NOT_FOUND = "not_found"
    """No such task in the queue (unknown, finished or dead)."""


@frozen(kw_only=True)
class RecoveredTask:
    """A task whose lease expired and that :meth:`recover_expired` put back (or dead-lettered)."""

    task_id: str
    queue: str
    attempt: int
    dead: bool
    """True when the task had been delivered ``max_deliveries`` times and went to the dead
    letters (a poison pill), instead of back to pending."""
    delivery: int = 0
    """The delivery whose lease expired."""


CORRUPT_RECORD = "corrupt record"
"""The dead-letter reason of a stored task that could not be decoded: a backend moves it aside
(kept for inspection) instead of failing the claims of every other task."""


def expired_reason(deliveries: int, dead: bool) -> str:
    """The ``last_error`` :meth:`~omniq.storage.TaskQueueStorage.recover_expired` records."""
    if dead:
        return (
            f"its lease ran out on each of its {deliveries} deliveries (max_deliveries): its "
            "workers crashed or hung every time it ran"
        )
    return "its lease ran out (the worker died or hung); delivered again"


def backoff_delay(task: Task, attempt: int, *, jitter: float = 0.0) -> timedelta:
    """Exponential backoff before attempt ``attempt + 1``: ``retry_backoff * 2**(attempt-1)``,
    plus ``jitter`` (a fraction in [0, 1) the caller draws), capped at one hour."""
    base = task.retry_backoff * (2 ** max(attempt - 1, 0))
    return timedelta(seconds=min(base * (1.0 + jitter), 3600.0))
