"""Fixtures of the app tests (``test_app_*.py``).

``plain_stores`` are small in-process storages written here, so the producer-side tests depend on
no backend package; ``memory_app``-style fixtures use the real memory backend.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
import pytest
from omniq._time import utcnow
from omniq.ids import new_id
from omniq.models import (
    CancelOutcome,
    ClaimedTask,
    EventQuery,
    Lease,
    QueueStats,
    RecoveredTask,
    Schedule,
    Task,
    TaskEvent,
    TaskInfo,
    TaskResult,
    TaskState,
)
from omniq.storage import (
    Capability,
    EventStorage,
    ResultStorage,
    ScheduleStorage,
    TaskQueueStorage,
)


class ListQueue(TaskQueueStorage):
    capabilities = frozenset({Capability.SYNC_PRODUCER})

    def __init__(self) -> None:
        self.infos: dict[str, TaskInfo] = {}
        self.lock = threading.Lock()

    def enqueue_sync(self, task: Task) -> bool:
        with self.lock:
            if task.id in self.infos:
                return False
            self.infos[task.id] = TaskInfo(task=task, state=TaskState.PENDING, attempt=0)
            return True

    def enqueue_many_sync(self, tasks: Sequence[Task]) -> int:
        return sum(self.enqueue_sync(t) for t in tasks)

    async def enqueue(self, task: Task) -> bool:
        return self.enqueue_sync(task)

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        now = utcnow()
        out: list[ClaimedTask] = []
        with self.lock:
            for queue in queues:
                ready = sorted(
                    (
                        i
                        for i in self.infos.values()
                        if i.task.queue == queue
                        and i.state is TaskState.PENDING
                        and i.task.eta <= now
                    ),
                    key=lambda i: (-i.task.priority, i.task.eta, i.task.id),
                )
                for info in ready[: limit - len(out)]:
                    lease = Lease(
                        task_id=info.task.id,
                        token=new_id(),
                        expires_at=now + timedelta(seconds=lease_seconds),
                        attempt=info.attempt + 1,
                        worker_id=worker_id,
                    )
                    self.infos[info.task.id] = attrs.evolve(
                        info, state=TaskState.ACTIVE, attempt=lease.attempt
                    )
                    out.append(ClaimedTask(task=info.task, lease=lease))
        return out

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        return list(leases)

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        with self.lock:
            return [self.infos.pop(lease.task_id, None) is not None for lease in leases]

    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        return True

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        with self.lock:
            info = self.infos[lease.task_id]
            self.infos[lease.task_id] = attrs.evolve(info, state=TaskState.DEAD, last_error=reason)
        return True

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = 20
    ) -> list[RecoveredTask]:
        return []

    async def get(self, task_id: str) -> TaskInfo | None:
        return self.infos.get(task_id)

    async def cancel(self, task_id: str) -> CancelOutcome:
        with self.lock:
            info = self.infos.get(task_id)
            if info is None or info.state is TaskState.DEAD:
                return CancelOutcome.NOT_FOUND
            if info.state is TaskState.ACTIVE:
                self.infos[task_id] = attrs.evolve(info, cancel_requested=True)
                return CancelOutcome.REQUESTED
            del self.infos[task_id]
            return CancelOutcome.CANCELLED

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        now = utcnow()
        names = sorted(set(queues or {i.task.queue for i in self.infos.values()}))
        out = []
        for name in names:
            infos = [i for i in self.infos.values() if i.task.queue == name]
            out.append(
                QueueStats(
                    queue=name,
                    ready=sum(i.state is TaskState.PENDING and i.task.eta <= now for i in infos),
                    delayed=sum(i.state is TaskState.PENDING and i.task.eta > now for i in infos),
                    active=sum(i.state is TaskState.ACTIVE for i in infos),
                    dead=sum(i.state is TaskState.DEAD for i in infos),
                )
            )
        return out

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        return [i for i in self.infos.values() if i.task.queue == queue and i.state is state][
            :limit
        ]

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        with self.lock:
            gone = [k for k, i in self.infos.items() if i.task.queue == queue and i.state in states]
            for key in gone:
                del self.infos[key]
        return len(gone)

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        count = 0
        with self.lock:
            for key, info in list(self.infos.items()):
                wanted = task_ids is None or key in task_ids
                if info.task.queue == queue and info.state is TaskState.DEAD and wanted:
                    self.infos[key] = attrs.evolve(info, state=TaskState.PENDING, attempt=0)
                    count += 1
        return count


class DictResults(ResultStorage):
    def __init__(self) -> None:
        self.results: dict[str, TaskResult] = {}

    async def store(self, result: TaskResult) -> bool:
        held = self.results.get(result.task_id)
        if held is not None and held.delivery > result.delivery:
            return False
        self.results[result.task_id] = result
        return True

    async def get(self, task_id: str) -> TaskResult | None:
        result = self.results.get(task_id)
        if result is not None and result.is_expired(utcnow()):
            return None
        return result

    async def delete(self, task_id: str) -> bool:
        return self.results.pop(task_id, None) is not None

    async def purge_expired(self) -> int:
        return 0


class ListEvents(EventStorage):
    subscribe_poll_interval = 0.01

    def __init__(self) -> None:
        self.events: list[TaskEvent] = []
        self.appends = 0

    async def append(self, event: TaskEvent) -> None:
        self.appends += 1
        self.events.append(event)

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        self.appends += 1
        self.events.extend(events)

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        found = sorted(
            (e for e in self.events if query.matches(e)), key=lambda e: (e.timestamp, e.id)
        )
        return found[: query.limit]

    async def purge(self, before: datetime) -> int:
        return 0


class DictSchedules(ScheduleStorage):
    def __init__(self) -> None:
        self.schedules: dict[str, Schedule] = {}

    async def add(self, schedule: Schedule) -> None:
        self.schedules[schedule.name] = schedule

    async def get(self, name: str) -> Schedule | None:
        return self.schedules.get(name)

    async def remove(self, name: str) -> bool:
        return self.schedules.pop(name, None) is not None

    async def set_paused(self, name: str, paused: bool) -> bool:
        if name not in self.schedules:
            return False
        self.schedules[name] = attrs.evolve(self.schedules[name], paused=paused)
        return True

    async def list(self) -> list[Schedule]:
        return [self.schedules[k] for k in sorted(self.schedules)]

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        return []

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        return False


def make_stores() -> dict[str, object]:
    return {
        "task_queue": ListQueue(),
        "result_storage": DictResults(),
        "event_storage": ListEvents(),
        "schedule_storage": DictSchedules(),
    }


class SharedListQueue(ListQueue):
    """Claims to be shared between processes, as SQLite or Redis would."""

    capabilities = frozenset({Capability.SYNC_PRODUCER, Capability.MULTI_PROCESS})


@pytest.fixture
def plain_stores() -> dict[str, object]:
    return make_stores()


@pytest.fixture
def shared_stores() -> dict[str, object]:
    stores = make_stores()
    stores["task_queue"] = SharedListQueue()
    return stores
