"""Per-role components made from a backend, as OmniQ's documented API shows::

    backend = SQLiteBackend(database_path="omniq.db")
    task_queue = TaskQueue.from_backend(backend, queues=["high", "medium", "low"])
    result_store = ResultStore.from_backend(backend)
    event_store = EventStore.from_backend(backend)
    oq = OmniQ(task_queue=task_queue, result_store=result_store, event_store=event_store)

They are thin: each holds a storage (and the backend that made it, if any) and the few settings
that belong to the role. The apps accept them, bare storages and backends alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from attrs import field, frozen

from omniq import names
from omniq.models.task import DEFAULT_QUEUE
from omniq.storage import EventStorage, ResultStorage, ScheduleStorage, TaskQueueStorage

if TYPE_CHECKING:
    from omniq.backend.base import Backend

__all__ = ["EventStore", "ResultStore", "ScheduleStore", "TaskQueue"]


def _queues(value: Sequence[str]) -> tuple[str, ...]:
    return names.validate_queue_names([value] if isinstance(value, str) else value)


@frozen
class TaskQueue:
    """A task queue storage and the named queues a worker of the app serves, in priority order
    (every ready task of the first before any of the second)."""

    storage: TaskQueueStorage
    queues: tuple[str, ...] = field(default=(DEFAULT_QUEUE,), converter=_queues)
    backend: Backend | None = field(default=None, kw_only=True)

    @classmethod
    def from_backend(cls, backend: Backend, queues: Sequence[str] | None = None) -> TaskQueue:
        return cls(backend.task_queue(), queues or (DEFAULT_QUEUE,), backend=backend)


@frozen
class ResultStore:
    """A result storage."""

    storage: ResultStorage
    backend: Backend | None = field(default=None, kw_only=True)

    @classmethod
    def from_backend(cls, backend: Backend) -> ResultStore:
        return cls(backend.result_storage(), backend=backend)


@frozen
class EventStore:
    """An event storage."""

    storage: EventStorage
    backend: Backend | None = field(default=None, kw_only=True)

    @classmethod
    def from_backend(cls, backend: Backend) -> EventStore:
        return cls(backend.event_storage(), backend=backend)


@frozen
class ScheduleStore:
    """A schedule storage."""

    storage: ScheduleStorage
    backend: Backend | None = field(default=None, kw_only=True)

    @classmethod
    def from_backend(cls, backend: Backend) -> ScheduleStore:
        return cls(backend.schedule_storage(), backend=backend)
