"""The memory schedule storage: a dict of schedules whose tick claims are compare-and-set."""

from __future__ import annotations

import builtins
import threading
from datetime import datetime
from typing import ClassVar

import attrs
from attrs import define, field

from omniq._time import utcnow
from omniq.memory.base import MemoryStorageMixin
from omniq.models.schedule import Schedule
from omniq.plugins.specs import BackendContext
from omniq.storage import Capability, ScheduleStorage

__all__ = ["MemoryScheduleStorage"]


@define
class ScheduleData:
    """The schedule role's part of a memory store."""

    lock: threading.Lock = field(factory=threading.Lock)
    schedules: dict[str, Schedule] = field(factory=dict)


class MemoryScheduleStorage(MemoryStorageMixin, ScheduleStorage):
    """Schedules in this process's memory."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, ctx: BackendContext) -> None:
        self._state = self._data(ctx, "schedule_storage", ScheduleData)

    async def add(self, schedule: Schedule) -> None:
        self._check_open()
        with self._state.lock:
            self._state.schedules[schedule.name] = schedule

    async def get(self, name: str) -> Schedule | None:
        self._check_open()
        with self._state.lock:
            return self._state.schedules.get(name)

    async def remove(self, name: str) -> bool:
        self._check_open()
        with self._state.lock:
            return self._state.schedules.pop(name, None) is not None

    async def set_paused(self, name: str, paused: bool) -> bool:
        self._check_open()
        with self._state.lock:
            schedule = self._state.schedules.get(name)
            if schedule is None:
                return False
            self._state.schedules[name] = attrs.evolve(schedule, paused=paused, updated_at=utcnow())
            return True

    async def list(self) -> builtins.list[Schedule]:
        self._check_open()
        with self._state.lock:
            return sorted(self._state.schedules.values(), key=lambda s: s.name)

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        self._check_open()
        with self._state.lock:
            due = [
                s
                for s in self._state.schedules.values()
                if not s.paused and s.next_fire_at is not None and s.next_fire_at <= now
            ]
        due.sort(key=lambda s: (s.next_fire_at, s.name))
        return due[:limit]

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        self._check_open()
        with self._state.lock:
            schedule = self._state.schedules.get(name)
            if schedule is None or schedule.paused or schedule.next_fire_at != tick:
                return False
            self._state.schedules[name] = attrs.evolve(
                schedule, next_fire_at=next_fire_at, last_fired_at=tick, updated_at=utcnow()
            )
            return True
