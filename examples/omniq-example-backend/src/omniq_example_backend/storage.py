"""The ``example`` backend's storages: plain dicts under a lock, in this process only.

Every method takes the lock and never awaits while holding it, so the storages are safe to use
from several threads and tasks at once. Nothing survives the process, so no storage claims
``PERSISTENT`` or ``MULTI_PROCESS``.

What the contract asks and where it is done here:

* **Deliveries** (``_Entry.deliveries``): every claim adds one, nothing resets it, and the lease
  carries it (``Lease.delivery``); results are fenced by it.
* **A crash is not a failure** (``recover_expired``): an expired task goes back to pending with
  its attempt given back, and to the dead letters only after ``max_deliveries`` deliveries.
* **Result compare-and-set** (``ExampleResultStorage.store_many``): a result of a lower delivery
  than the stored one is refused, under the same lock as the read, so no writer slips between.
* **Corrupt records**: this store keeps the records themselves, never bytes, so nothing can fail
  to decode. A store that decodes rows must move an undecodable task to the dead letters with
  reason ``omniq.models.task.CORRUPT_RECORD`` (kept for inspection) and go on with the others,
  and skip an undecodable event with a warning.
"""

from __future__ import annotations

import builtins
import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import attrs
from attrs import define
from omniq.errors import StorageClosedError
from omniq.models.event import EventQuery, TaskEvent
from omniq.models.result import TaskResult
from omniq.models.schedule import Schedule
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
from omniq.storage import (
    Capability,
    EventStorage,
    ResultStorage,
    ScheduleStorage,
    TaskQueueStorage,
)

from omniq_example_backend.options import ExampleOptions

__all__ = [
    "ExampleEventStorage",
    "ExampleResultStorage",
    "ExampleScheduleStorage",
    "ExampleTaskQueue",
]


def _now() -> datetime:
    return datetime.now(UTC)


class _Guarded:
    """A lock and an open/closed flag shared by the four storages."""

    def __init__(self, ctx: BackendContext) -> None:
        options = ctx.options if isinstance(ctx.options, ExampleOptions) else ExampleOptions()
        self.options = options
        self._lock = threading.Lock()
        self._closed = False

    async def connect(self) -> None:
        with self._lock:
            self._closed = False

    async def close(self) -> None:
        with self._lock:
            self._closed = True

    def _locked(self) -> threading.Lock:
        if self._closed:
            raise StorageClosedError(f"{type(self).__name__} was used after close()")
        return self._lock


# -- task queue --------------------------------------------------------------------------------


@define
class _Entry:
    task: Task
    state: TaskState
    ready_at: datetime
    attempt: int = 0
    """Counted against ``max_retries``: a claim adds one, a release or an expiry gives it back."""
    deliveries: int = 0
    """Claims so far: a claim adds one and nothing ever takes one away (the fencing number)."""
    token: str | None = None
    lease_expires_at: datetime | None = None
    worker_id: str | None = None
    last_error: str | None = None
    cancel_requested: bool = False

    def claim_order(self) -> tuple[int, datetime, str]:
        return (-self.task.priority, self.ready_at, self.task.id)

    def info(self) -> TaskInfo:
        return TaskInfo(
            task=self.task,
            state=self.state,
            attempt=self.attempt,
            lease_expires_at=self.lease_expires_at,
            worker_id=self.worker_id,
            last_error=self.last_error,
            cancel_requested=self.cancel_requested,
            deliveries=self.deliveries,
        )

    def release(self, state: TaskState, ready_at: datetime) -> None:
        """Leave the active state: the lease token stops being valid."""
        self.state = state
        self.ready_at = ready_at
        self.token = None
        self.lease_expires_at = None
        self.worker_id = None
        self.cancel_requested = False


class ExampleTaskQueue(_Guarded, TaskQueueStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        self.poll_interval = self.options.poll_interval
        self._tasks: dict[str, _Entry] = {}

    async def enqueue(self, task: Task) -> bool:
        with self._locked():
            return self._add(task)

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        with self._locked():
            return sum(self._add(task) for task in tasks)

    def _add(self, task: Task) -> bool:
        if task.id in self._tasks:
            return False
        self._tasks[task.id] = _Entry(task=task, state=TaskState.PENDING, ready_at=task.eta)
        return True

    def _held(self, lease: Lease) -> _Entry | None:
        entry = self._tasks.get(lease.task_id)
        if entry is None or entry.state is not TaskState.ACTIVE or entry.token != lease.token:
            return None
        return entry

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        with self._locked():
            now = _now()
            claimed: list[ClaimedTask] = []
            for queue in queues:
                ready = sorted(
                    (
                        entry
                        for entry in self._tasks.values()
                        if entry.task.queue == queue
                        and entry.state is TaskState.PENDING
                        and entry.ready_at <= now
                    ),
                    key=_Entry.claim_order,
                )
                for entry in ready[: limit - len(claimed)]:
                    entry.state = TaskState.ACTIVE
                    entry.attempt += 1
                    entry.deliveries += 1
                    entry.token = secrets.token_hex(16)
                    entry.lease_expires_at = now + timedelta(seconds=lease_seconds)
                    entry.worker_id = worker_id
                    claimed.append(
                        ClaimedTask(
                            task=entry.task,
                            lease=Lease(
                                task_id=entry.task.id,
                                token=entry.token,
                                expires_at=entry.lease_expires_at,
                                attempt=entry.attempt,
                                worker_id=worker_id,
                                delivery=entry.deliveries,
                            ),
                        )
                    )
                if len(claimed) >= limit:
                    break
            return claimed

    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        """Optional (``omniq.storage.CancelPolling``): which leases' tasks were asked to stop,
        read without writing; without it a worker extends the running leases to find out."""
        with self._locked():
            return [
                entry is not None and entry.cancel_requested for entry in map(self._held, leases)
            ]

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        with self._locked():
            expires_at = _now() + timedelta(seconds=lease_seconds)
            renewed: list[Lease | None] = []
            for lease in leases:
                entry = self._held(lease)
                if entry is None:
                    renewed.append(None)
                    continue
                entry.lease_expires_at = expires_at
                renewed.append(
                    attrs.evolve(
                        lease, expires_at=expires_at, cancel_requested=entry.cancel_requested
                    )
                )
            return renewed

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        with self._locked():
            done: list[bool] = []
            for lease in leases:
                held = self._held(lease) is not None
                if held:
                    del self._tasks[lease.task_id]
                done.append(held)
            return done

    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        with self._locked():
            entry = self._held(lease)
            if entry is None:
                return False
            entry.release(TaskState.PENDING, retry_at)
            entry.last_error = error
            if not count_attempt:
                entry.attempt -= 1
            return True

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        with self._locked():
            entry = self._held(lease)
            if entry is None:
                return False
            entry.release(TaskState.DEAD, _now())
            entry.last_error = reason
            return True

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        with self._locked():
            now = _now()
            recovered: list[RecoveredTask] = []
            for entry in self._tasks.values():
                if len(recovered) >= limit:
                    break
                expires = entry.lease_expires_at
                if entry.state is not TaskState.ACTIVE or expires is None or expires > now:
                    continue
                # the worker died or hung: not the task's failure, so max_retries is not asked;
                # only a task that has taken down max_deliveries workers is given up
                dead = entry.deliveries >= max_deliveries
                recovered.append(
                    RecoveredTask(
                        task_id=entry.task.id,
                        queue=entry.task.queue,
                        attempt=entry.attempt,
                        dead=dead,
                        delivery=entry.deliveries,
                    )
                )
                entry.release(TaskState.DEAD if dead else TaskState.PENDING, now)
                entry.last_error = expired_reason(entry.deliveries, dead)
                if not dead:
                    entry.attempt -= 1
            return recovered

    async def get(self, task_id: str) -> TaskInfo | None:
        with self._locked():
            entry = self._tasks.get(task_id)
            return None if entry is None else entry.info()

    async def cancel(self, task_id: str) -> CancelOutcome:
        with self._locked():
            entry = self._tasks.get(task_id)
            if entry is None or entry.state is TaskState.DEAD:
                return CancelOutcome.NOT_FOUND
            if entry.state is TaskState.PENDING:
                del self._tasks[task_id]
                return CancelOutcome.CANCELLED
            entry.cancel_requested = True
            return CancelOutcome.REQUESTED

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        with self._locked():
            now = _now()
            names = (
                set(queues)
                if queues is not None
                else {entry.task.queue for entry in self._tasks.values()}
            )
            counts = {name: {"ready": 0, "delayed": 0, "active": 0, "dead": 0} for name in names}
            for entry in self._tasks.values():
                count = counts.get(entry.task.queue)
                if count is None:
                    continue
                if entry.state is TaskState.PENDING:
                    count["ready" if entry.ready_at <= now else "delayed"] += 1
                else:
                    count[entry.state.value] += 1
            return [QueueStats(queue=name, **counts[name]) for name in sorted(counts)]

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        with self._locked():
            entries = [
                entry
                for entry in self._tasks.values()
                if entry.task.queue == queue and entry.state is state
            ]
            if state is TaskState.PENDING:
                entries.sort(key=_Entry.claim_order)
            else:
                entries.sort(key=lambda entry: (entry.task.enqueued_at, entry.task.id))
            return [entry.info() for entry in entries[:limit]]

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        wanted = set(states) - {TaskState.ACTIVE}
        with self._locked():
            doomed = [
                task_id
                for task_id, entry in self._tasks.items()
                if entry.task.queue == queue and entry.state in wanted
            ]
            for task_id in doomed:
                del self._tasks[task_id]
            return len(doomed)

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        with self._locked():
            now = _now()
            only = None if task_ids is None else set(task_ids)
            count = 0
            for entry in self._tasks.values():
                if entry.task.queue != queue or entry.state is not TaskState.DEAD:
                    continue
                if only is not None and entry.task.id not in only:
                    continue
                entry.release(TaskState.PENDING, now)
                entry.attempt = 0  # a fresh set of retries; deliveries go on counting
                count += 1
            return count


# -- result storage ----------------------------------------------------------------------------


class ExampleResultStorage(_Guarded, ResultStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        self._results: dict[str, TaskResult] = {}

    async def store(self, result: TaskResult) -> bool:
        return (await self.store_many([result]))[0]

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        # Compare and write under one lock: a stale worker's result (a lower delivery) must
        # never replace the newer one, even when both arrive at once.
        with self._locked():
            stored: list[bool] = []
            for result in results:
                held = self._results.get(result.task_id)
                accepted = held is None or held.delivery <= result.delivery
                if accepted:
                    self._results[result.task_id] = result
                stored.append(accepted)
            return stored

    async def get(self, task_id: str) -> TaskResult | None:
        with self._locked():
            result = self._results.get(task_id)
            if result is None or result.is_expired(_now()):
                return None
            return result

    async def delete(self, task_id: str) -> bool:
        with self._locked():
            return self._results.pop(task_id, None) is not None

    async def purge_expired(self) -> int:
        with self._locked():
            now = _now()
            expired = [key for key, result in self._results.items() if result.is_expired(now)]
            for key in expired:
                del self._results[key]
            return len(expired)


# -- event storage -----------------------------------------------------------------------------


class ExampleEventStorage(_Guarded, EventStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        self.subscribe_poll_interval = self.options.poll_interval
        self._events: list[TaskEvent] = []

    async def append(self, event: TaskEvent) -> None:
        with self._locked():
            self._events.append(event)

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        with self._locked():
            self._events.extend(events)

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        with self._locked():
            found = [event for event in self._events if query.matches(event)]
        found.sort(key=lambda event: (event.timestamp, event.id))
        return found[: query.limit]

    async def purge(self, before: datetime) -> int:
        with self._locked():
            kept = [event for event in self._events if event.timestamp >= before]
            purged = len(self._events) - len(kept)
            self._events = kept
            return purged


# -- schedule storage --------------------------------------------------------------------------


class ExampleScheduleStorage(_Guarded, ScheduleStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        self._schedules: dict[str, Schedule] = {}

    async def add(self, schedule: Schedule) -> None:
        with self._locked():
            self._schedules[schedule.name] = schedule

    async def get(self, name: str) -> Schedule | None:
        with self._locked():
            return self._schedules.get(name)

    async def remove(self, name: str) -> bool:
        with self._locked():
            return self._schedules.pop(name, None) is not None

    async def set_paused(self, name: str, paused: bool) -> bool:
        with self._locked():
            schedule = self._schedules.get(name)
            if schedule is None:
                return False
            self._schedules[name] = attrs.evolve(schedule, paused=paused, updated_at=_now())
            return True

    async def list(self) -> list[Schedule]:
        with self._locked():
            return [self._schedules[name] for name in sorted(self._schedules)]

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        with self._locked():
            due = [
                schedule
                for schedule in self._schedules.values()
                if not schedule.paused
                and schedule.next_fire_at is not None
                and schedule.next_fire_at <= now
            ]
        due.sort(key=lambda schedule: (schedule.next_fire_at, schedule.name))
        return due[:limit]

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        with self._locked():
            schedule = self._schedules.get(name)
            if schedule is None or schedule.paused or schedule.next_fire_at != tick:
                return False
            self._schedules[name] = attrs.evolve(
                schedule, next_fire_at=next_fire_at, last_fired_at=tick, updated_at=_now()
            )
            return True
