"""File schedules: one file per schedule; a tick is claimed by creating its marker file
``schedules/ticks/<name>/<tick>`` exclusively (``O_EXCL`` on local disks), so of several
schedulers exactly one fires it."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import ClassVar

import attrs
from omniq._time import utcnow
from omniq.models.schedule import Schedule
from omniq.storage import Capability, ScheduleStorage

from omniq_file.base import FileStorageMixin
from omniq_file.paths import component

__all__ = ["FileScheduleStorage"]


def _path(name: str) -> str:
    return f"schedules/{component(name, 'schedule name')}.schedule"


class FileScheduleStorage(FileStorageMixin, ScheduleStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )

    async def add(self, schedule: Schedule) -> None:
        await self._run(self.files.blobs.write, _path(schedule.name), self.files.dump(schedule))

    async def get(self, name: str) -> Schedule | None:
        found: Schedule | None = await self._run(self.files.load, _path(name), Schedule)
        return found

    async def remove(self, name: str) -> bool:
        removed: bool = await self._run(self.files.blobs.delete, _path(name))
        return removed

    async def set_paused(self, name: str, paused: bool) -> bool:
        changed: bool = await self._run(self._set_paused, name, paused)
        return changed

    def _set_paused(self, name: str, paused: bool) -> bool:
        with self.files.lock:
            schedule = self.files.load(_path(name), Schedule)
            if schedule is None:
                return False
            changed = attrs.evolve(schedule, paused=paused, updated_at=utcnow())
            self.files.blobs.write(_path(name), self.files.dump(changed))
            return True

    async def list(self) -> builtins.list[Schedule]:
        found: builtins.list[Schedule] = await self._run(self._all)
        return found

    def _all(self) -> builtins.list[Schedule]:
        found = []
        for name in self.files.blobs.list("schedules"):
            if name.endswith(".schedule"):
                schedule = self.files.load(f"schedules/{name}", Schedule)
                if schedule is not None:
                    found.append(schedule)
        return sorted(found, key=lambda s: s.name)

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        every = await self.list()
        due = [s for s in every if not s.paused and s.next_fire_at and s.next_fire_at <= now]
        due.sort(key=lambda s: (s.next_fire_at, s.name))
        return due[:limit]

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        won: bool = await self._run(self._claim_tick, name, tick, next_fire_at)
        return won

    def _claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        with self.files.lock:
            schedule = self.files.load(_path(name), Schedule)
            if schedule is None or schedule.paused or schedule.next_fire_at != tick:
                return False
            marker = f"schedules/ticks/{name}/{int(tick.timestamp() * 1_000_000)}"
            if not self.files.blobs.create(marker, b""):
                return False
            fired = attrs.evolve(
                schedule, next_fire_at=next_fire_at, last_fired_at=tick, updated_at=utcnow()
            )
            self.files.blobs.write(_path(name), self.files.dump(fired))
            return True
