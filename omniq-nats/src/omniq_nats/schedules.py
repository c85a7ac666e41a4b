"""Schedules in the ``<prefix>_schedules`` KV bucket (key: schedule name). A tick is claimed by
a KV update with the revision the claimer read, after checking that the stored
``next_fire_at`` is the tick: of any number of schedulers exactly one write succeeds."""

from __future__ import annotations

import builtins
import contextlib
from datetime import datetime
from typing import ClassVar

import attrs
import nats.js.errors
from nats.js.kv import KeyValue
from omniq.models.schedule import Schedule
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ScheduleStorage

from omniq_nats.connection import connection_for, unavailable_as_storage_error

__all__ = ["NATSScheduleStorage"]

_WRONG_LAST = 10071


class NATSScheduleStorage(ScheduleStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.conn = connection_for(ctx)
        self._kv: KeyValue | None = None

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "connect() first"
        return self._kv

    async def connect(self) -> None:
        if self._kv is None:
            await self.conn.connect()
            self._kv = await self.conn.bucket(self.conn.names.schedule_bucket)

    async def close(self) -> None:
        self._kv = None

    async def _read(self, name: str) -> tuple[Schedule, int] | None:
        from omniq import names

        try:
            names.validate_name(name, "schedule name")
            entry = await self.kv.get(name)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        except Exception as exc:
            if isinstance(exc, nats.js.errors.APIError):
                raise
            return None
        if entry.value is None:
            return None
        return loads_record(entry.value, Schedule), entry.revision or 0

    async def _write(self, schedule: Schedule, revision: int) -> bool:
        try:
            await self.kv.update(schedule.name, dumps_record(schedule), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except nats.js.errors.APIError as exc:
            if exc.err_code == _WRONG_LAST:
                return False
            raise
        return True

    async def add(self, schedule: Schedule) -> None:
        async with unavailable_as_storage_error(self.conn.where):
            await self.kv.put(schedule.name, dumps_record(schedule))

    async def get(self, name: str) -> Schedule | None:
        async with unavailable_as_storage_error(self.conn.where):
            found = await self._read(name)
        return found[0] if found else None

    async def remove(self, name: str) -> bool:
        async with unavailable_as_storage_error(self.conn.where):
            if await self._read(name) is None:
                return False
            await self.kv.purge(name)
        return True

    async def set_paused(self, name: str, paused: bool) -> bool:
        async with unavailable_as_storage_error(self.conn.where):
            for _ in range(20):
                found = await self._read(name)
                if found is None:
                    return False
                if await self._write(attrs.evolve(found[0], paused=paused), found[1]):
                    return True
        return False

    async def list(self) -> builtins.list[Schedule]:
        from omniq_nats.task_queue import _scan

        out: builtins.list[Schedule] = []
        async with unavailable_as_storage_error(self.conn.where):
            for _key, value in await _scan(self.kv, ">"):
                with contextlib.suppress(Exception):
                    out.append(loads_record(value, Schedule))
        return sorted(out, key=lambda s: s.name)

    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        due = [
            s
            for s in await self.list()
            if not s.paused and s.next_fire_at is not None and s.next_fire_at <= now
        ]
        due.sort(key=lambda s: (s.next_fire_at, s.name))
        return due[:limit]

    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        async with unavailable_as_storage_error(self.conn.where):
            for _ in range(20):
                found = await self._read(name)
                if found is None:
                    return False
                schedule, revision = found
                if schedule.paused or schedule.next_fire_at != tick:
                    return False
                claimed = attrs.evolve(schedule, next_fire_at=next_fire_at, last_fired_at=tick)
                if await self._write(claimed, revision):
                    return True
        return False
