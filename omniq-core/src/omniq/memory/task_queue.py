"""The memory task queue: a ready heap and a delayed heap per queue, under one lock.

Claims pop from the ready heap (priority, then eta, then id); delayed tasks move to it once their
eta passes. Heap items that went stale (the task was cancelled, purged or re-queued) are skipped
when they surface, so no operation scans a whole queue on the hot path.
"""

from __future__ import annotations

import heapq
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import ClassVar

import attrs
from attrs import define, field

from omniq._time import from_timestamp
from omniq.memory.base import MemoryStorageMixin
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
    expired_reason,
)
from omniq.plugins.specs import BackendContext
from omniq.storage import Capability, TaskQueueStorage
from omniq.storage.wakeup import Waiters

__all__ = ["MemoryTaskQueue"]

_ReadyItem = tuple[int, float, str, int]
"""(-priority, ready time, task id, version)"""
_DelayedItem = tuple[float, str, int]
"""(ready time, task id, version)"""


@define(slots=True)
class _Entry:
    task: Task
    state: TaskState
    ready_ts: float
    version: int = 0
    attempt: int = 0
    deliveries: int = 0
    token: str | None = None
    lease_expires_ts: float | None = None
    worker_id: str | None = None
    last_error: str | None = None
    cancel_requested: bool = False
    finished_ts: float = 0.0

    def claim_key(self) -> tuple[int, float, str]:
        return (-self.task.priority, self.ready_ts, self.task.id)

    def info(self) -> TaskInfo:
        expires = self.lease_expires_ts
        return TaskInfo(
            task=self.task,
            state=self.state,
            attempt=self.attempt,
            lease_expires_at=None if expires is None else from_timestamp(expires),
            worker_id=self.worker_id,
            last_error=self.last_error,
            cancel_requested=self.cancel_requested,
            deliveries=self.deliveries,
        )


@define(slots=True)
class _Queue:
    ready: list[_ReadyItem] = field(factory=list)
    delayed: list[_DelayedItem] = field(factory=list)
    entries: dict[str, _Entry] = field(factory=dict)
    counts: dict[TaskState, int] = field(factory=lambda: dict.fromkeys(TaskState, 0))
    """How many entries are in each state, kept current so ``stats`` never scans the queue."""

    def moved(self, old: TaskState | None, new: TaskState | None) -> None:
        if old is not None:
            self.counts[old] -= 1
        if new is not None:
            self.counts[new] += 1


@define
class QueueData:
    """The queue role's part of a memory store."""

    lock: threading.Lock = field(factory=threading.Lock)
    tasks: dict[str, _Entry] = field(factory=dict)
    queues: dict[str, _Queue] = field(factory=dict)
    active: dict[str, _Entry] = field(factory=dict)
    waiters: Waiters[str] = field(factory=Waiters)


class MemoryTaskQueue(MemoryStorageMixin, TaskQueueStorage):
    """Pending, active and dead tasks in this process's memory."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PUSH_WAKEUP, Capability.SYNC_PRODUCER}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self._state = self._data(ctx, "task_queue", QueueData)

    # -- producing ---------------------------------------------------------------------------

    async def enqueue(self, task: Task) -> bool:
        return self.enqueue_sync(task)

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        return self.enqueue_many_sync(tasks)

    def enqueue_sync(self, task: Task) -> bool:
        self._check_open()
        with self._state.lock:
            added = self._add(task)
        if added:
            self._state.waiters.wake(task.queue)
        return added

    def enqueue_many_sync(self, tasks: Sequence[Task]) -> int:
        self._check_open()
        added_queues: set[str] = set()
        with self._state.lock:
            count = 0
            for task in tasks:
                if self._add(task):
                    count += 1
                    added_queues.add(task.queue)
        for queue in added_queues:
            self._state.waiters.wake(queue)
        return count

    def _add(self, task: Task) -> bool:
        state = self._state
        if task.id in state.tasks:
            return False
        entry = _Entry(task=task, state=TaskState.PENDING, ready_ts=task.eta.timestamp())
        state.tasks[task.id] = entry
        queue = state.queues.get(task.queue)
        if queue is None:
            queue = state.queues[task.queue] = _Queue()
        queue.entries[task.id] = entry
        queue.moved(None, TaskState.PENDING)
        _push_pending(queue, entry, time.time())
        return True

    # -- consuming ---------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        self._check_open()
        claimed: list[ClaimedTask] = []
        if limit <= 0:
            return claimed
        now = time.time()
        expires_ts = now + lease_seconds
        expires_at = from_timestamp(expires_ts)
        with self._state.lock:
            for name in queues:
                queue = self._state.queues.get(name)
                if queue is None:
                    continue
                _promote_due(queue, now)
                while queue.ready and len(claimed) < limit:
                    _, _, task_id, version = heapq.heappop(queue.ready)
                    entry = queue.entries.get(task_id)
                    if entry is None or entry.version != version:
                        continue
                    if entry.state is not TaskState.PENDING:
                        continue
                    entry.state = TaskState.ACTIVE
                    queue.moved(TaskState.PENDING, TaskState.ACTIVE)
                    entry.version += 1
                    entry.attempt += 1
                    entry.deliveries += 1
                    entry.token = secrets.token_hex(12)
                    entry.lease_expires_ts = expires_ts
                    entry.worker_id = worker_id
                    entry.cancel_requested = False
                    self._state.active[task_id] = entry
                    claimed.append(
                        ClaimedTask(
                            task=entry.task,
                            lease=Lease(
                                task_id=task_id,
                                token=entry.token,
                                expires_at=expires_at,
                                attempt=entry.attempt,
                                worker_id=worker_id,
                                delivery=entry.deliveries,
                            ),
                        )
                    )
                if len(claimed) >= limit:
                    break
        return claimed

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        self._check_open()
        waiters = self._state.waiters
        future = waiters.register(queues)
        try:
            with self._state.lock:
                wait = self._time_to_work(queues, time.time(), timeout)
            await waiters.wait(future, wait)
        finally:
            waiters.unregister(queues, future)

    def _time_to_work(self, names: Iterable[str], now: float, timeout: float) -> float:
        """Seconds until a task of ``names`` is ready (0 if one is), at most ``timeout``."""
        wait = timeout
        for name in names:
            queue = self._state.queues.get(name)
            if queue is None:
                continue
            _promote_due(queue, now)
            _drop_stale_ready(queue)
            if queue.ready:
                return 0.0
            _drop_stale_delayed(queue)
            if queue.delayed:
                wait = min(wait, max(queue.delayed[0][0] - now, 0.0))
        return wait

    def _held(self, lease: Lease) -> _Entry | None:
        entry = self._state.active.get(lease.task_id)
        if entry is None or entry.token != lease.token:
            return None
        return entry

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        self._check_open()
        now = time.time()
        expires_ts = now + lease_seconds
        expires_at = from_timestamp(expires_ts)
        renewed: list[Lease | None] = []
        with self._state.lock:
            for lease in leases:
                entry = self._held(lease)
                if entry is None:
                    renewed.append(None)
                    continue
                entry.lease_expires_ts = expires_ts
                renewed.append(
                    attrs.evolve(
                        lease, expires_at=expires_at, cancel_requested=entry.cancel_requested
                    )
                )
        return renewed

    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        """Whether each lease's task was asked to stop (:class:`~omniq.storage.CancelPolling`)."""
        self._check_open()
        with self._state.lock:
            return [
                entry is not None and entry.cancel_requested for entry in map(self._held, leases)
            ]

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        self._check_open()
        done: list[bool] = []
        with self._state.lock:
            for lease in leases:
                entry = self._held(lease)
                if entry is None:
                    done.append(False)
                    continue
                self._forget(entry)
                done.append(True)
        return done

    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        self._check_open()
        with self._state.lock:
            entry = self._held(lease)
            if entry is None:
                return False
            self._release(entry, TaskState.PENDING, retry_at.timestamp())
            entry.last_error = error
            if not count_attempt:
                entry.attempt -= 1
        self._state.waiters.wake(entry.task.queue)
        return True

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        self._check_open()
        with self._state.lock:
            entry = self._held(lease)
            if entry is None:
                return False
            self._release(entry, TaskState.DEAD, time.time())
            entry.last_error = reason
            return True

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        self._check_open()
        now = time.time()
        recovered: list[RecoveredTask] = []
        with self._state.lock:
            expired = [
                entry
                for entry in self._state.active.values()
                if entry.lease_expires_ts is not None and entry.lease_expires_ts <= now
            ]
            expired.sort(key=lambda entry: entry.lease_expires_ts or 0.0)
            for entry in expired[:limit]:
                dead = entry.deliveries >= max_deliveries
                self._release(entry, TaskState.DEAD if dead else TaskState.PENDING, now)
                entry.last_error = expired_reason(entry.deliveries, dead)
                recovered.append(
                    RecoveredTask(
                        task_id=entry.task.id,
                        queue=entry.task.queue,
                        attempt=entry.attempt,
                        dead=dead,
                        delivery=entry.deliveries,
                    )
                )
                if not dead:
                    entry.attempt -= 1
        for queue_name in {r.queue for r in recovered if not r.dead}:
            self._state.waiters.wake(queue_name)
        return recovered

    def _release(self, entry: _Entry, state: TaskState, ready_ts: float) -> None:
        """Take ``entry`` out of the active set into ``state``; its lease token dies."""
        self._state.active.pop(entry.task.id, None)
        self._state.queues[entry.task.queue].moved(entry.state, state)
        entry.state = state
        entry.version += 1
        entry.token = None
        entry.lease_expires_ts = None
        entry.worker_id = None
        entry.cancel_requested = False
        if state is TaskState.PENDING:
            entry.ready_ts = ready_ts
            _push_pending(self._state.queues[entry.task.queue], entry, time.time())
        else:
            entry.finished_ts = ready_ts

    def _forget(self, entry: _Entry) -> None:
        state = self._state
        task = entry.task
        state.tasks.pop(task.id, None)
        state.active.pop(task.id, None)
        queue = state.queues.get(task.queue)
        if queue is not None:
            if queue.entries.pop(task.id, None) is not None:
                queue.moved(entry.state, None)
            if not queue.entries:
                del state.queues[task.queue]
        entry.version += 1

    # -- inspecting and managing -------------------------------------------------------------

    async def get(self, task_id: str) -> TaskInfo | None:
        self._check_open()
        with self._state.lock:
            entry = self._state.tasks.get(task_id)
            return None if entry is None else entry.info()

    async def cancel(self, task_id: str) -> CancelOutcome:
        self._check_open()
        with self._state.lock:
            entry = self._state.tasks.get(task_id)
            if entry is None or entry.state is TaskState.DEAD:
                return CancelOutcome.NOT_FOUND
            if entry.state is TaskState.PENDING:
                self._forget(entry)
                return CancelOutcome.CANCELLED
            entry.cancel_requested = True
            return CancelOutcome.REQUESTED

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        self._check_open()
        now = time.time()
        with self._state.lock:
            names = sorted(set(queues) if queues is not None else self._state.queues)
            return [self._count(name, now) for name in names]

    def _count(self, name: str, now: float) -> QueueStats:
        """From the kept counts; only the delayed heap (tasks not yet due) is walked."""
        queue = self._state.queues.get(name)
        if queue is None:
            return QueueStats(queue=name, ready=0, delayed=0, active=0, dead=0)
        _promote_due(queue, now)
        delayed = sum(1 for _, task_id, version in queue.delayed if _valid(queue, task_id, version))
        counts = queue.counts
        return QueueStats(
            queue=name,
            ready=counts[TaskState.PENDING] - delayed,
            delayed=delayed,
            active=counts[TaskState.ACTIVE],
            dead=counts[TaskState.DEAD],
        )

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        self._check_open()
        with self._state.lock:
            found = self._state.queues.get(queue)
            entries = [e for e in (found.entries.values() if found else ()) if e.state is state]
            if state is TaskState.PENDING:
                entries.sort(key=_Entry.claim_key)
            elif state is TaskState.ACTIVE:
                entries.sort(key=lambda e: (e.task.enqueued_at, e.task.id))
            else:
                entries.sort(key=lambda e: (e.finished_ts, e.task.id))
            return [entry.info() for entry in entries[:limit]]

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        self._check_open()
        wanted = set(states) - {TaskState.ACTIVE}
        with self._state.lock:
            found = self._state.queues.get(queue)
            doomed = [e for e in (found.entries.values() if found else ()) if e.state in wanted]
            for entry in doomed:
                self._forget(entry)
            return len(doomed)

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        self._check_open()
        only = None if task_ids is None else set(task_ids)
        now = time.time()
        with self._state.lock:
            found = self._state.queues.get(queue)
            dead = [
                entry
                for entry in (found.entries.values() if found else ())
                if entry.state is TaskState.DEAD and (only is None or entry.task.id in only)
            ]
            for entry in dead:
                self._release(entry, TaskState.PENDING, now)
                entry.attempt = 0
        if dead:
            self._state.waiters.wake(queue)
        return len(dead)


def _push_pending(queue: _Queue, entry: _Entry, now: float) -> None:
    if entry.ready_ts <= now:
        heapq.heappush(
            queue.ready, (-entry.task.priority, entry.ready_ts, entry.task.id, entry.version)
        )
    else:
        heapq.heappush(queue.delayed, (entry.ready_ts, entry.task.id, entry.version))


def _valid(queue: _Queue, task_id: str, version: int) -> _Entry | None:
    entry = queue.entries.get(task_id)
    if entry is None or entry.version != version or entry.state is not TaskState.PENDING:
        return None
    return entry


def _promote_due(queue: _Queue, now: float) -> None:
    """Move delayed tasks whose time has come to the ready heap."""
    delayed = queue.delayed
    while delayed and delayed[0][0] <= now:
        ready_ts, task_id, version = heapq.heappop(delayed)
        entry = _valid(queue, task_id, version)
        if entry is not None:
            heapq.heappush(queue.ready, (-entry.task.priority, ready_ts, task_id, version))


def _drop_stale_ready(queue: _Queue) -> None:
    while queue.ready and _valid(queue, queue.ready[0][2], queue.ready[0][3]) is None:
        heapq.heappop(queue.ready)


def _drop_stale_delayed(queue: _Queue) -> None:
    while queue.delayed and _valid(queue, queue.delayed[0][1], queue.delayed[0][2]) is None:
        heapq.heappop(queue.delayed)
