"""Schedule storage on a :class:`~omniq.kit.KVStore`: ``schedule/<name>``; a tick is fired once
because ``claim_tick`` is a compare-and-set on the version read with the expected tick."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime

import attrs

from omniq._time import utcnow
from omniq.kit._base import KitStorage
from omniq.kit.records import decode, encode
from omniq.models.schedule import Schedule
from omniq.storage import ScheduleStorage

__all__ = ["KitScheduleStorage"]

SCHEDULES = "schedule/"


class KitScheduleStorage(KitStorage, ScheduleStorage):
    """Schedules as records of a key-value store."""

    async def _edit(self, name: str, edit: Callable[[Schedule], Schedule | None]) -> bool:
        """Replace the schedule by ``edit(schedule)`` (``None``: no change); again on a conflict."""
        key = f"{SCHEDULES}{name}"
        while True:
            item = await self.kv.get(key)
            if item is None:
                return False
            new = edit(decode(item.value, Schedule))
            if new is None:
                return False
            if await self.kv.compare_and_set(key, encode(new), item.version):
                return True

    async def add(self, schedule: Schedule) -> None:
        self._check_open()
        key, value = f"{SCHEDULES}{schedule.name}", encode(schedule)
        while not await self.kv.put_if_absent(key, value):
            item = await self.kv.get(key)
            if item is not None and await self.kv.compare_and_set(key, value, item.version):
                return

    async def get(self, name: str) -> Schedule | None:
        self._check_open()
        item = await self.kv.get(f"{SCHEDULES}{name}")
        return None if item is None else decode(item.value, Schedule)

    async def remove(self, name: str) -> bool:
        self._check_open()
        return await self.kv.delete(f"{SCHEDULES}{name}")

    async def set_paused(self, name: str, paused: bool) -> bool:
        self._check_open()
        return await self._edit(name, lambda s: attrs.evolve(s, paused=paused, updated_at=utcnow()))

    async def list(self) -> builtins.list[Schedule]:
        self._check_open()
        return [decode(item.value, Schedule) for item in await self.kv.scan(SCHEDULES)]

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        due = [
            s for s in await self.list()
            if not s.paused and s.next_fire_at is not None and s.next_fire_at <= now
        ]  # fmt: skip
        due.sort(key=lambda s: (s.next_fire_at or now, s.name))
        return due[:limit]

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        self._check_open()

        def fire(s: Schedule) -> Schedule | None:
            if s.paused or s.next_fire_at != tick:
                return None
            return attrs.evolve(
                s, next_fire_at=next_fire_at, last_fired_at=tick, updated_at=utcnow()
            )

        return await self._edit(name, fire)
