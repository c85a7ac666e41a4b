"""The task queue contract.

Guarantees every backend gives (the conformance suite proves them):

* **Ordering.** :meth:`claim` takes ready tasks (``eta <= now``) from the given queues in the
  order listed: every ready task of the first queue before any of the second. Within a queue,
  higher ``priority`` first, then earlier ``eta``, then smaller id (so FIFO for tasks enqueued
  one after another without a delay).
* **Leases and fencing.** Every claim makes a new lease token, increments ``attempt`` and
  increments the task's delivery count (:attr:`~omniq.models.Lease.delivery`, never reset).
  ``ack``, ``nack``, ``extend`` and ``dead_letter`` must present the token and do nothing (they
  return ``False``/``None``) once it no longer matches: after the lease expired and the task was
  recovered or claimed by another worker. A lease that expired but whose task nobody touched yet
  may still be acked.
* **A crash is not a failure.** :meth:`recover_expired` returns a task whose lease ran out to
  pending and gives its attempt back, whatever ``max_retries`` says: only an exception the task
  raised counts against ``max_retries``. A task is dead-lettered on expiry only once it was
  delivered ``max_deliveries`` times (a poison pill that kills every worker running it).
* **At-least-once.** A task leaves the queue only by ``ack``, ``cancel``, ``purge`` or as a dead
  letter. A worker that dies loses nothing: its tasks come back when their leases expire.
  Duplicates happen only for work that was in flight when a worker died or let its lease run out.
* **Fenced completion.** The runtime finishes a task in the order result, terminal events, queue
  change (ack, dead letter or retry), and each step is refused for a lease that is no longer
  current: results by their delivery (see :mod:`omniq.storage.results`), events by being written
  only for a stored result or an accepted queue change. A queue that can do all three in one
  atomic step implements :class:`AtomicCompletion`.
* **Idempotent enqueue.** Enqueuing an id that is still in the queue (pending, active or dead) is
  a no-op that reports ``False``.
* **Names.** Queue names and task ids reach a backend only after the core validated them
  (:mod:`omniq.names`: ASCII letters, digits, ``_`` and ``-``); a backend need not check or
  escape them, and the conformance suite sends only valid ones.

Details the suite checks (and first-party backends agree on):

* ``nack`` makes the task claimable from ``retry_at`` and orders it by ``retry_at`` among the
  ready tasks. ``TaskInfo.task`` stays the task as enqueued, except that ``Task.eta`` may report
  ``retry_at`` after a ``nack`` (SQLite stores the retry time as the eta; memory, file and
  :mod:`omniq.kit` keep the enqueued eta): do not rely on either.
* ``last_error`` is the ``error`` of the last ``nack``, the ``reason`` of ``dead_letter``, and
  :func:`~omniq.models.task.expired_reason` after :meth:`~TaskQueueStorage.recover_expired`.
* ``stats`` of a queue named in ``queues`` that holds nothing is a row of zeros; without
  ``queues``, only queues holding a task are listed.
* ``cancel`` of a dead task (or an acked or unknown one) is ``NOT_FOUND`` and changes nothing.
* ``list_tasks`` orders pending tasks as ``claim`` would (priority, then ready time, then id),
  active ones by ``enqueued_at`` then id, dead ones by when they died then id ("oldest first").
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from omniq.models.completion import Completion
from omniq.models.event import TaskEvent
from omniq.models.task import (
    DEFAULT_MAX_DELIVERIES,
    CancelOutcome,
    ClaimedTask,
    Lease,
    QueueStats,
    RecoveredTask,
    Task,
    TaskInfo,
    TaskState,
)
from omniq.storage.base import Storage
from omniq.storage.events import EventStorage
from omniq.storage.results import ResultStorage

__all__ = [
    "AtomicCompletion",
    "EventOutbox",
    "SyncTaskProducer",
    "TaskBrowsing",
    "TaskQueueStorage",
    "takes_single_enqueues",
]


class TaskQueueStorage(Storage):
    """Pending and active tasks, named queues, priorities, delays, leases and dead letters."""

    poll_interval: float = 0.05
    """How long the default :meth:`wait_for_work` sleeps; push-capable backends override it."""

    # -- producing ---------------------------------------------------------------------------

    @abstractmethod
    async def enqueue(self, task: Task) -> bool:
        """Store ``task`` as pending; ``False`` (and no change) if its id is already queued."""

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        """Store several tasks in as few round trips as the store allows; returns how many were new.

        The default calls :meth:`enqueue` per task; backends should override it.
        """
        count = 0
        for task in tasks:
            count += await self.enqueue(task)
        return count

    # -- consuming ---------------------------------------------------------------------------

    @abstractmethod
    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        """Atomically take up to ``limit`` ready tasks under new leases (see module docs for order).

        Concurrent claimers, in this process or others (``MULTI_PROCESS``), get disjoint tasks.
        Returns an empty list when nothing is ready; it never waits.
        """

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Return when a task in ``queues`` may be ready, or after ``timeout`` seconds.

        Spurious returns are allowed. The default sleeps ``min(timeout, poll_interval)``;
        backends that can be told of new work (``PUSH_WAKEUP``) wait for that instead, and must
        also wake when a delayed task becomes ready, return at once when a task is ready, and
        (with ``MULTI_PROCESS``) be woken by enqueues made in other processes.

        A worker calls it right after a :meth:`claim` that gave it fewer tasks than it asked
        for. A backend may prepare that wait in the claim, to save the wait's own check of the
        queues (omniq-redis registers the wake-up before its claim script runs, and the script
        reports the tasks left and the earliest delayed one); a wake-up that arrives between
        the claim and the wait must still end the wait.
        """
        await asyncio.sleep(min(timeout, self.poll_interval))

    @abstractmethod
    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        """Push each lease's expiry to now + ``lease_seconds``.

        Returns, in order, the renewed lease (same token; ``cancel_requested`` set if someone
        asked to cancel the task) or ``None`` where the lease was lost.
        """

    @abstractmethod
    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        """Remove finished tasks from the queue; ``False`` where the lease was lost."""

    @abstractmethod
    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        """Return a claimed task to pending, claimable again from ``retry_at``.

        ``count_attempt=False`` gives the attempt back (a graceful shutdown releasing a task it
        did not run). ``error`` becomes ``last_error``. ``False`` if the lease was lost. Whether
        ``Task.eta`` then reports ``retry_at`` is up to the backend (see the module docs).
        """

    @abstractmethod
    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        """Move a claimed task to the dead letters with ``reason``; ``False`` if the lease is
        lost."""

    @abstractmethod
    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        """Return up to ``limit`` tasks whose lease expired to pending (ready now), giving their
        attempt back; dead-letter instead those delivered ``max_deliveries`` times or more.
        Invalidates their old lease tokens; ``last_error`` becomes
        ``expired_reason(deliveries, dead)``."""

    # -- inspecting and managing -------------------------------------------------------------

    @abstractmethod
    async def get(self, task_id: str) -> TaskInfo | None:
        """What the queue knows of a task, or ``None`` if it is not in the queue (acked or
        unknown)."""

    @abstractmethod
    async def cancel(self, task_id: str) -> CancelOutcome:
        """Remove a pending task (``CANCELLED``), or flag an active one for cooperative
        cancellation (``REQUESTED``); ``NOT_FOUND`` for a dead, acked or unknown task, which
        is left as it is."""

    @abstractmethod
    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        """Counts per queue, for ``queues`` (a row of zeros for one that holds nothing) or for
        every queue that holds a task, sorted by name."""

    @abstractmethod
    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        """Up to ``limit`` tasks of ``queue`` in ``state``: pending ones in claim order (priority,
        ready time, id), active ones by ``enqueued_at`` then id, dead ones by when they died
        then id."""

    @abstractmethod
    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        """Delete the tasks of ``queue`` in ``states`` (never ``ACTIVE``); returns how many."""

    @abstractmethod
    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        """Move dead letters of ``queue`` (all, or those in ``task_ids``) back to pending, ready
        now, with their attempt count reset; returns how many."""


@runtime_checkable
class SyncTaskProducer(Protocol):
    """Optional synchronous enqueue, for the sync API's producers (capability ``SYNC_PRODUCER``).

    Must be safe to call from any thread, concurrently with the async methods running on the
    runtime's event loop.
    """

    def enqueue_sync(self, task: Task) -> bool: ...

    def enqueue_many_sync(self, tasks: Sequence[Task]) -> int: ...


@runtime_checkable
class EventOutbox(Protocol):
    """Optional: a task queue that stores a batch's ``enqueued`` events in the same transaction
    as its tasks, when the app's event storage lives in the same database (an outbox).

    At start-up the runtime asks :meth:`shares_events_with` about the app's event storage. If
    the answer is ``True``, ``enqueue_many`` goes through these methods instead of the runtime's
    background event writer: a batch's tasks and their ``enqueued`` events commit together, so
    a crash keeps both or neither, and the producer makes one write instead of two (SQLite:
    45k against 28k tasks/s in batches of 1,000, events included). One-at-a-time enqueues keep
    the background writer, which batches their events: a commit of one task with its event
    wrote 8 pages against 3 (8.5k against 14.5k tasks/s, measured). ``events[i]`` is the event
    of ``tasks[i]``; it is stored only if ``tasks[i]`` was added (not when its id was already
    in the queue). Both methods return how many tasks were added; the sync one is called from
    any thread, as :class:`SyncTaskProducer`'s methods are.

    A queue may also set the class attribute ``outbox_single_enqueues = True`` (read by
    :func:`takes_single_enqueues`; absent means ``False``): then one-at-a-time enqueues go
    through the outbox too, a batch of one task and its event. That is for stores where one
    write carrying both costs about what the task alone does, and less than the task plus the
    background writer's share: Redis, where it is one script call (the writer's batches cost
    the producer's process a second client's work per task).
    """

    def shares_events_with(self, events: EventStorage) -> bool: ...

    async def enqueue_with_events(
        self, tasks: Sequence[Task], events: Sequence[TaskEvent]
    ) -> int: ...

    def enqueue_with_events_sync(
        self, tasks: Sequence[Task], events: Sequence[TaskEvent]
    ) -> int: ...


def takes_single_enqueues(outbox: EventOutbox) -> bool:
    """Whether one-at-a-time enqueues should go through ``outbox`` as well (its optional
    ``outbox_single_enqueues`` attribute; see :class:`EventOutbox`)."""
    return getattr(outbox, "outbox_single_enqueues", False) is True


@runtime_checkable
class AtomicCompletion(Protocol):
    """Optional: a task queue that applies a batch of completions in one atomic step per task,
    when the app's result and event storages live in the same store (one transaction, one
    script).

    At start-up the runtime asks :meth:`completes_with` about the app's result and event
    storages. If the answer is ``True``, the worker finishes tasks through :meth:`complete`
    instead of calling the three storages in turn. For each completion, and only if its lease
    token is still the task's current one: store the result (with the delivery compare of
    :class:`~omniq.storage.ResultStorage`; a refused result refuses the whole completion),
    append the events, then ack, dead-letter or retry the task. A completion whose lease is
    lost changes nothing. Returns, in order, whether each completion was applied.
    """

    def completes_with(self, results: ResultStorage, events: EventStorage) -> bool: ...

    async def complete(self, completions: Sequence[Completion]) -> list[bool]: ...


@runtime_checkable
class TaskBrowsing(Protocol):
    """Optional: :meth:`TaskQueueStorage.list_tasks` with paging and filters done by the store
    (its index skips the rows before ``offset``; the filters are applied before the limit).

    ``omniq dashboard`` uses it where the queue has it; elsewhere it reads ``offset + limit``
    rows with ``list_tasks`` (at most 10,000) and filters them itself.
    """

    async def browse_tasks(
        self,
        queue: str,
        *,
        state: TaskState,
        offset: int = 0,
        limit: int = 100,
        func: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[TaskInfo]:
        """Tasks of ``queue`` in ``state`` in ``list_tasks``' order, from ``offset``, at most
        ``limit``; only those of ``func`` enqueued in ``[since, until)`` when given."""
        ...
