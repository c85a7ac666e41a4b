"""Storages that keep the bare minimum in process memory, for measuring the runtime's own
overhead apart from any backend (``python bench/run.py --backend null``).

Not a backend: no leases, no ordering guarantees beyond FIFO; only what the benchmarks touch.
"""

from __future__ import annotations

import builtins
import threading
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

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


class NullQueue(TaskQueueStorage):
    capabilities = frozenset({Capability.SYNC_PRODUCER})

    def __init__(self) -> None:
        self.tasks: deque[Task] = deque()
        self.lock = threading.Lock()

    def enqueue_sync(self, task: Task) -> bool:
        with self.lock:
            self.tasks.append(task)
        return True

    def enqueue_many_sync(self, tasks: Sequence[Task]) -> int:
        with self.lock:
            self.tasks.extend(tasks)
        return len(tasks)

    async def enqueue(self, task: Task) -> bool:
        return self.enqueue_sync(task)

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        return self.enqueue_many_sync(tasks)

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        return []

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        return list(leases)

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        return [True] * len(leases)

    async def nack(self, lease: Lease, **_: Any) -> bool:
        return True

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        return True

    async def recover_expired(self, *, limit: int = 1000, **_: Any) -> list[RecoveredTask]:
        return []

    async def get(self, task_id: str) -> TaskInfo | None:
        return None

    async def cancel(self, task_id: str) -> CancelOutcome:
        return CancelOutcome.NOT_FOUND

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        return [QueueStats(queue="default", ready=len(self.tasks))]

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        return []

    async def purge(self, queue: str, *, states: Sequence[TaskState] = ()) -> int:
        return 0

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        return 0


class NullResults(ResultStorage):
    async def store(self, result: TaskResult) -> bool:
        return True

    async def get(self, task_id: str) -> TaskResult | None:
        return None

    async def delete(self, task_id: str) -> bool:
        return False

    async def purge_expired(self) -> int:
        return 0


class NullEvents(EventStorage):
    def __init__(self) -> None:
        self.count = 0

    async def append(self, event: TaskEvent) -> None:
        self.count += 1

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        self.count += len(events)

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        return []

    async def purge(self, before: datetime) -> int:
        return 0


class NullSchedules(ScheduleStorage):
    async def add(self, schedule: Schedule) -> None: ...

    async def get(self, name: str) -> Schedule | None:
        return None

    async def remove(self, name: str) -> bool:
        return False

    async def set_paused(self, name: str, paused: bool) -> bool:
        return False

    async def list(self) -> list[Schedule]:
        return []

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        return []

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        return False


def null_storages() -> dict[str, Any]:
    return {
        "task_queue": NullQueue(),
        "result_storage": NullResults(),
        "event_storage": NullEvents(),
        "schedule_storage": NullSchedules(),
    }
