"""The PostgreSQL schedule storage: a row per schedule, and a row per fired ``(schedule,
tick)`` whose primary key makes a tick fire once however many schedulers run (the approach of
Procrastinate's periodic tasks).

:meth:`PostgresScheduleStorage.claim_tick` locks the schedule's row, checks that it is unpaused
and due at ``tick``, inserts the tick's row (refused if it exists) and moves ``next_fire_at`` on,
in one transaction. When the app's task queue is this backend's in the same schema,
:meth:`~PostgresScheduleStorage.claim_tick_with_tasks` also enqueues the tick's tasks in that
transaction (:class:`~omniq.storage.TickEnqueue`), so a scheduler that dies between the claim
and the enqueue cannot lose the tick: both happen or neither. Tick rows older than a week are
deleted now and then.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs
from omniq._time import utcnow
from omniq.models.schedule import Schedule
from omniq.models.task import Task
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ScheduleStorage, TaskQueueStorage

from omniq_postgres.database import Connection, PostgresStorageMixin
from omniq_postgres.rows import task_arrays

__all__ = ["PostgresScheduleStorage"]

_UPSERT = (
    "INSERT INTO omniq_schedules (name, next_fire_at, paused, data) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (name) DO UPDATE SET next_fire_at = excluded.next_fire_at, "
    "paused = excluded.paused, data = excluded.data"
)
_TICKS_KEPT = "7 days"
_CLEAN_EVERY = 1000


def _row(schedule: Schedule) -> tuple[Any, ...]:
    return (schedule.name, schedule.next_fire_at, schedule.paused, dumps_record(schedule))


def _load(data: Any) -> Schedule:
    return loads_record(bytes(data), Schedule)


class PostgresScheduleStorage(PostgresStorageMixin, ScheduleStorage):
    role = "schedule_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )
    _claims = 0

    async def add(self, schedule: Schedule) -> None:
        await self.db.rowcount(_UPSERT, _row(schedule))

    async def get(self, name: str) -> Schedule | None:
        row = await self.db.fetchone("SELECT data FROM omniq_schedules WHERE name = %s", (name,))
        return None if row is None else _load(row[0])

    async def remove(self, name: str) -> bool:
        return await self.db.rowcount("DELETE FROM omniq_schedules WHERE name = %s", (name,)) > 0

    async def set_paused(self, name: str, paused: bool) -> bool:
        async def work(conn: Connection) -> bool:
            async with conn.transaction():
                row = await (
                    await conn.execute(
                        "SELECT data FROM omniq_schedules WHERE name = %s FOR UPDATE", (name,)
                    )
                ).fetchone()
                if row is None:
                    return False
                changed = attrs.evolve(_load(row[0]), paused=paused, updated_at=utcnow())
                await conn.execute(_UPSERT, _row(changed))
                return True

        return await self.db.run(work)

    async def list(self) -> builtins.list[Schedule]:
        rows = await self.db.fetchall("SELECT data FROM omniq_schedules ORDER BY name")
        return [_load(row[0]) for row in rows]

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        rows = await self.db.fetchall(
            "SELECT data FROM omniq_schedules WHERE NOT paused AND next_fire_at IS NOT NULL "
            "AND next_fire_at <= %s ORDER BY next_fire_at, name LIMIT %s",
            (now, limit),
        )
        return [_load(row[0]) for row in rows]

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        return await self.claim_tick_with_tasks(name, tick, next_fire_at, ())

    # -- the tick and its tasks in one transaction (omniq.storage.TickEnqueue) ------------------

    def enqueues_into(self, queue: TaskQueueStorage) -> bool:
        """Whether ``queue`` is this backend's task queue in the same schema."""
        from omniq_postgres.task_queue import PostgresTaskQueue

        return isinstance(queue, PostgresTaskQueue) and queue.db is self.db

    async def claim_tick_with_tasks(
        self, name: str, tick: datetime, next_fire_at: datetime | None, tasks: Sequence[Task]
    ) -> bool:
        """:meth:`claim_tick`, and if it is won, enqueue ``tasks`` in the same transaction
        (each only if its id is not queued yet)."""
        from omniq_postgres.task_queue import ENQUEUE_MANY

        async def work(conn: Connection) -> bool:
            async with conn.transaction():
                row = await (
                    await conn.execute(
                        "SELECT data FROM omniq_schedules WHERE name = %s AND NOT paused "
                        "AND next_fire_at = %s FOR UPDATE",
                        (name, tick),
                    )
                ).fetchone()
                if row is None:
                    return False
                fired = await conn.execute(
                    "INSERT INTO omniq_schedule_ticks (name, tick) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (name, tick),
                )
                if fired.rowcount != 1:
                    return False  # this tick fired already (the schedule was set back to it)
                moved = attrs.evolve(
                    _load(row[0]), next_fire_at=next_fire_at, last_fired_at=tick,
                    updated_at=utcnow(),
                )  # fmt: skip
                await conn.execute(_UPSERT, _row(moved))
                if tasks:
                    await conn.execute(ENQUEUE_MANY, (*task_arrays(tasks), self.db.channel))
                return True

        won = await self.db.run(work)
        if won and tasks:
            for queue in {t.queue for t in tasks}:
                self.db.waiters.wake(f"q:{queue}")
        self._claims += 1
        if self._claims % _CLEAN_EVERY == 0:
            await self.db.rowcount(
                "DELETE FROM omniq_schedule_ticks "
                f"WHERE fired_at < now() - interval '{_TICKS_KEPT}'"
            )
        return won
