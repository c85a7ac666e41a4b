"""The SQLite schedule storage: a row per schedule; a tick is claimed by a compare-and-set on
``next_fire_at`` inside an immediate transaction, so one scheduler in any process wins it."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, ClassVar

import attrs
from omniq._time import utcnow
from omniq.models.schedule import Schedule
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ScheduleStorage

from omniq_sqlite.base import SQLiteStorageMixin
from omniq_sqlite.rows import micros

__all__ = ["SQLiteScheduleStorage"]

_UPSERT = (
    "INSERT OR REPLACE INTO omniq_schedules (name, next_fire_at, paused, data) VALUES (?, ?, ?, ?)"
)


def _row(schedule: Schedule) -> tuple[Any, ...]:
    nxt = schedule.next_fire_at
    return (
        schedule.name,
        None if nxt is None else micros(nxt),
        int(schedule.paused),
        dumps_record(schedule),
    )


def _load(data: Any) -> Schedule:
    return loads_record(bytes(data), Schedule)


class SQLiteScheduleStorage(SQLiteStorageMixin, ScheduleStorage):
    role = "schedule_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )

    async def add(self, schedule: Schedule) -> None:
        await self.db.run(self._execute, _UPSERT, _row(schedule))

    def _execute(self, sql: str, params: tuple[Any, ...]) -> int:
        return int(self.db.connection().execute(sql, params).rowcount)

    async def get(self, name: str) -> Schedule | None:
        return await self.db.run(self._get, name)

    def _get(self, name: str) -> Schedule | None:
        sql = "SELECT data FROM omniq_schedules WHERE name = ?"
        row = self.db.connection().execute(sql, (name,)).fetchone()
        return None if row is None else _load(row[0])

    async def remove(self, name: str) -> bool:
        sql = "DELETE FROM omniq_schedules WHERE name = ?"
        return bool(await self.db.run(self._execute, sql, (name,)))

    async def set_paused(self, name: str, paused: bool) -> bool:
        return await self.db.run(self._set_paused, name, paused)

    def _set_paused(self, name: str, paused: bool) -> bool:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT data FROM omniq_schedules WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                return False
            changed = attrs.evolve(_load(row[0]), paused=paused, updated_at=utcnow())
            conn.execute(_UPSERT, _row(changed))
            return True

    async def list(self) -> builtins.list[Schedule]:
        sql = "SELECT data FROM omniq_schedules ORDER BY name"
        return await self.db.run(self._many, sql, ())

    def _many(self, sql: str, params: tuple[Any, ...]) -> builtins.list[Schedule]:
        return [_load(row[0]) for row in self.db.connection().execute(sql, params)]

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        sql = (
            "SELECT data FROM omniq_schedules WHERE paused = 0 AND next_fire_at IS NOT NULL "
            "AND next_fire_at <= ? ORDER BY next_fire_at, name LIMIT ?"
        )
        return await self.db.run(self._many, sql, (micros(now), limit))

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        return await self.db.run(self._claim_tick, name, tick, next_fire_at)

    def _claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT data FROM omniq_schedules WHERE name = ? AND paused = 0 "
                "AND next_fire_at = ?",
                (name, micros(tick)),
            ).fetchone()
            if row is None:
                return False
            fired = attrs.evolve(
                _load(row[0]), next_fire_at=next_fire_at, last_fired_at=tick, updated_at=utcnow()
            )
            conn.execute(_UPSERT, _row(fired))
            return True
