"""The scheduler loop: fires due schedules, each tick once however many schedulers run.

For each due schedule a scheduler works out which ticks to fire (the misfire policy decides what
to do with ticks it is late for), then claims the schedule's current tick with a compare-and-set
that moves ``next_fire_at`` past now (:meth:`ScheduleStorage.claim_tick`). Only the winner
enqueues; the tasks get ids derived from ``(schedule, tick)``, so a retried enqueue is a no-op.
A scheduler that dies between its claim and its enqueue loses that tick (at-most-once per tick),
unless the schedule storage enqueues in the claim's own transaction (:class:`TickEnqueue`,
PostgreSQL with the queue in the same database), or records the tick's tasks with the claim and
lets another scheduler enqueue them if the claimer dies (:class:`TickTakeover`, NATS): then the
tick fires exactly once. The tick's ``enqueued`` events are written after the enqueue, by the
scheduler that enqueued it (one killed in that instant leaves its last ticks' tasks without
their ``enqueued`` event; the tasks themselves are queued).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import datetime, timedelta
from typing import Any

from attrs import frozen

from omniq._time import as_utc, utcnow
from omniq.logging import get_logger
from omniq.models.event import EventType, TaskEvent
from omniq.models.schedule import MisfirePolicy, Schedule
from omniq.models.task import Task
from omniq.runtime.events_sink import EventSink
from omniq.scheduling.triggers import ticks_through
from omniq.storage import ScheduleStorage, TaskQueueStorage, TickEnqueue, TickTakeover

__all__ = ["Scheduler", "SchedulerSettings", "tick_task_id"]

log = get_logger(__name__)


@frozen(kw_only=True)
class SchedulerSettings:
    poll_interval: float = 0.5
    """Seconds between looks for due schedules: ticks fire at most this late."""
    batch: int = 100
    """Most schedules handled per look."""
    max_catch_up: int = 100
    """Most missed ticks one schedule fires at once under the ``catch_up`` policy."""


def tick_task_id(name: str, tick: datetime) -> str:
    """The task id of ``name``'s firing at ``tick``: the same in every scheduler."""
    digest = hashlib.sha256(f"{name}\0{as_utc(tick).isoformat()}".encode()).hexdigest()
    return f"s{digest[:31]}"


class Scheduler:
    """Fires the schedules of ``schedules`` into ``queue``."""

    def __init__(
        self,
        schedules: ScheduleStorage,
        queue: TaskQueueStorage,
        event_sink: EventSink,
        settings: SchedulerSettings | None = None,
    ) -> None:
        self.schedules = schedules
        self.queue = queue
        self.events = event_sink
        self.settings = settings or SchedulerSettings()
        self._stop = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._loop is None:
            self._stop.clear()
            self._loop = asyncio.create_task(self._run(), name="omniq-scheduler")

    async def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            self._stop.set()
            await loop

    async def run_until_stopped(self) -> None:
        await self.start()
        if self._loop is not None:
            await self._loop

    async def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                await self.run_once()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("scheduler round failed", error=repr(exc))
            pause = self.settings.poll_interval * min(2**failures, 20)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), pause)

    async def run_once(self, now: datetime | None = None) -> int:
        """Fire what is due at ``now`` (default: the current time); returns tasks enqueued."""
        now = utcnow() if now is None else as_utc(now)
        fired = await self._take_over()
        for schedule in await self.schedules.due(now, limit=self.settings.batch):
            fired += await self._fire(schedule, now)
        return fired

    async def _take_over(self) -> int:
        """Enqueue the ticks whose claimer died before it enqueued them (:class:`TickTakeover`)
        and write their ``enqueued`` events; returns how many tasks."""
        storage = self.schedules
        if not (
            isinstance(storage, TickTakeover)
            and isinstance(storage, TickEnqueue)
            and storage.enqueues_into(self.queue)
        ):
            return 0
        tasks = await storage.take_over_ticks()
        self.events.emit_many(
            [_enqueued(task, task.headers["schedule"], taken_over=True) for task in tasks]
        )
        return len(tasks)

    async def _fire(self, schedule: Schedule, now: datetime) -> int:
        tick = schedule.next_fire_at
        if tick is None:
            return 0
        ticks, following = ticks_through(schedule, now, limit=self.settings.max_catch_up)
        grace = timedelta(seconds=schedule.misfire_grace)
        on_time = [t for t in ticks if now - t <= grace]
        if schedule.misfire_policy is MisfirePolicy.SKIP:
            on_time = on_time[-1:]
        tasks = [self._task(schedule, t, now) for t in on_time]
        storage = self.schedules
        if isinstance(storage, TickEnqueue) and storage.enqueues_into(self.queue):
            if not await storage.claim_tick_with_tasks(schedule.name, tick, following, tasks):
                return 0  # another scheduler fired it, or it changed meanwhile
            enqueued = True
        else:
            if not await storage.claim_tick(schedule.name, tick, following):
                return 0
            enqueued = False
        missed = len(ticks) - len(on_time)
        if missed:
            log.info("schedule ticks missed", schedule=schedule.name, missed=missed)
        if not tasks:
            return 0
        if not enqueued:
            await self.queue.enqueue_many(tasks)
        self.events.emit_many([_enqueued(task, schedule.name) for task in tasks])
        return len(tasks)

    @staticmethod
    def _task(schedule: Schedule, tick: datetime, now: datetime) -> Task:
        return Task(
            id=tick_task_id(schedule.name, tick),
            func=schedule.func,
            payload=schedule.payload,
            serializer=schedule.serializer,
            queue=schedule.queue,
            priority=schedule.priority,
            enqueued_at=now,
            max_retries=schedule.max_retries,
            retry_backoff=schedule.retry_backoff,
            timeout=schedule.timeout,
            result_ttl=schedule.result_ttl,
            headers={**schedule.headers, "schedule": schedule.name, "tick": tick.isoformat()},
        )


def _enqueued(task: Task, schedule: str, *, taken_over: bool = False) -> TaskEvent:
    details: dict[str, Any] = {"schedule": schedule, "tick": task.headers["tick"]}
    if taken_over:
        details["taken_over"] = True
    return TaskEvent(
        event_type=EventType.ENQUEUED, task_id=task.id, queue=task.queue, details=details
    )
