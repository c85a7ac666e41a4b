"""Redis schedules: a hash per schedule and a sorted set of due times; a tick is claimed by a
Lua compare-and-set on the stored next fire time, so one scheduler anywhere wins it."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, ClassVar

import attrs
from omniq._time import utcnow
from omniq.models.schedule import Schedule
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ScheduleStorage

from omniq_redis import scripts
from omniq_redis.connection import connection_for

__all__ = ["RedisScheduleStorage"]


def _ms(moment: datetime | None) -> str:
    return "" if moment is None else str(int(moment.timestamp() * 1_000_000))


class RedisScheduleStorage(ScheduleStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.redis = connection_for(ctx)
        self.keys = self.redis.keys
        self._claim: Any = None

    async def connect(self) -> None:
        await self.redis.connect()
        self._claim = self.redis.client.register_script(scripts.CLAIM_TICK)

    async def add(self, schedule: Schedule) -> None:
        keys = self.keys
        nxt = _ms(schedule.next_fire_at)
        async with self.redis.client.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.schedule(schedule.name),
                mapping={
                    "data": dumps_record(schedule),
                    "next": nxt,
                    "paused": "1" if schedule.paused else "0",
                },
            )
            pipe.sadd(keys.schedule_names, schedule.name)
            if nxt and not schedule.paused:
                pipe.zadd(keys.schedules_due, {schedule.name: int(nxt)})
            else:
                pipe.zrem(keys.schedules_due, schedule.name)
            await pipe.execute()

    async def get(self, name: str) -> Schedule | None:
        data = await self.redis.client.hget(self.keys.schedule(name), "data")
        return None if data is None else loads_record(data, Schedule)

    async def remove(self, name: str) -> bool:
        async with self.redis.client.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.schedule(name))
            pipe.srem(self.keys.schedule_names, name)
            pipe.zrem(self.keys.schedules_due, name)
            deleted, _, _ = await pipe.execute()
        return bool(deleted)

    async def set_paused(self, name: str, paused: bool) -> bool:
        schedule = await self.get(name)
        if schedule is None:
            return False
        await self.add(attrs.evolve(schedule, paused=paused, updated_at=utcnow()))
        return True

    async def list(self) -> builtins.list[Schedule]:
        names = sorted(
            n.decode() for n in await self.redis.client.smembers(self.keys.schedule_names)
        )
        found = [await self.get(name) for name in names]
        return [s for s in found if s is not None]

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        names = await self.redis.client.zrangebyscore(
            self.keys.schedules_due, "-inf", int(_ms(now)), start=0, num=limit
        )
        found = [await self.get(n.decode()) for n in names]
        due = [s for s in found if s is not None and not s.paused and s.next_fire_at is not None]
        due.sort(key=lambda s: (s.next_fire_at, s.name))
        return due

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        current = await self.get(name)
        if current is None:
            return False
        fired = attrs.evolve(
            current, next_fire_at=next_fire_at, last_fired_at=tick, updated_at=utcnow()
        )
        keys = [self.keys.schedule(name), self.keys.schedules_due]
        args = [name, _ms(tick), _ms(next_fire_at), dumps_record(fired)]
        return bool(await self._claim(keys, args))
