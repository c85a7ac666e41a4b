"""Schedules in the ``<prefix>_schedules`` KV bucket (key: schedule name). A tick is claimed by
a KV update with the revision the claimer read, after checking that the stored
``next_fire_at`` is the tick: of any number of schedulers exactly one write succeeds.

With the app's task queue on NATS too (:class:`~omniq.storage.TickEnqueue`), the claiming
write also records the tick's tasks as *unconfirmed*; the claimer enqueues them (task ids are
per schedule and tick, and a ticket's ``Nats-Msg-Id`` is per enqueued task, so enqueueing them
twice stores them once) and then removes that entry. A scheduler killed in between leaves the
entry: each scheduler round looks for entries older than :data:`TAKEOVER_SECONDS`
(:class:`~omniq.storage.TickTakeover`); the one whose write renews such an entry under its own
id enqueues its tasks, removes it and writes their ``enqueued`` events. So each tick's tasks are
enqueued exactly once, whoever dies, and one scheduler writes their events."""

from __future__ import annotations

import builtins
import contextlib
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs
import nats.js.errors
import orjson
from nats.js.kv import KeyValue
from omniq.logging import get_logger
from omniq.models.schedule import Schedule
from omniq.models.task import Task
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, record_converter
from omniq.storage import Capability, ScheduleStorage, TaskQueueStorage

from omniq_nats.connection import connection_for, unavailable_as_storage_error
from omniq_nats.task_queue import NATSTaskQueue

log = get_logger(__name__)

__all__ = ["NATSScheduleStorage"]

_WRONG_LAST = 10071
_CLAIMS = "omniq_unconfirmed"
"""Key, in a stored schedule's JSON, of the ticks claimed whose tasks are not known enqueued."""
TAKEOVER_SECONDS = 5.0
"""How old an unconfirmed tick is before another scheduler enqueues its tasks."""


class NATSScheduleStorage(ScheduleStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.conn = connection_for(ctx)
        self._kv: KeyValue | None = None
        self._queue: NATSTaskQueue | None = None

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
        found = await self._read_full(name)
        return None if found is None else (found[0], found[2])

    async def _read_full(
        self, name: str
    ) -> tuple[Schedule, builtins.list[dict[str, Any]], int] | None:
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
        schedule, claims = _decode(entry.value)
        return schedule, claims, entry.revision or 0

    async def _write(
        self, schedule: Schedule, revision: int, claims: builtins.list[dict[str, Any]] | None = None
    ) -> bool:
        try:
            await self.kv.update(schedule.name, _encode(schedule, claims or []), last=revision)
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
                found = await self._read_full(name)
                if found is None:
                    return False
                schedule, claims, revision = found
                if await self._write(attrs.evolve(schedule, paused=paused), revision, claims):
                    return True
        return False

    async def list(self) -> builtins.list[Schedule]:
        from omniq_nats.task_queue import _scan

        out: builtins.list[Schedule] = []
        async with unavailable_as_storage_error(self.conn.where):
            for _key, value in await _scan(self.kv, ">"):
                with contextlib.suppress(Exception):
                    out.append(_decode(value)[0])
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

    # -- ticks enqueued exactly once (TickEnqueue) -------------------------------------------

    def enqueues_into(self, queue: TaskQueueStorage) -> bool:
        if isinstance(queue, NATSTaskQueue):
            self._queue = queue
            return True
        return False

    async def claim_tick_with_tasks(
        self, name: str, tick: datetime, next_fire_at: datetime | None, tasks: Sequence[Task]
    ) -> bool:
        """Claim the tick and record its tasks as unconfirmed in the same write, enqueue them,
        then remove the record (a scheduler that dies before that leaves it to be taken over).
        ``False`` also when another scheduler took the record over meanwhile (this one stalled
        past :data:`TAKEOVER_SECONDS`): that scheduler writes the tick's events."""
        claim = _claim(tasks)
        async with unavailable_as_storage_error(self.conn.where):
            for _ in range(20):
                found = await self._read_full(name)
                if found is None:
                    return False
                schedule, claims, revision = found
                if schedule.paused or schedule.next_fire_at != tick:
                    return False
                claimed = attrs.evolve(schedule, next_fire_at=next_fire_at, last_fired_at=tick)
                if await self._write(claimed, revision, [*claims, claim] if tasks else claims):
                    break
            else:
                return False
            if not tasks:
                return True
            assert self._queue is not None
            await self._queue.enqueue_many(tasks)
            return await self._confirm(name, [claim["id"]])

    async def take_over_ticks(self) -> builtins.list[Task]:
        """Enqueue the tasks of unconfirmed ticks older than :data:`TAKEOVER_SECONDS` (their
        claimer died, or failed to enqueue), after renewing their entries under this
        scheduler's ids; returns the tasks of the entries this scheduler renewed."""
        from omniq_nats.task_queue import _scan

        if self._queue is None:
            return []
        taken: builtins.list[Task] = []
        async with unavailable_as_storage_error(self.conn.where):
            for _key, value in await _scan(self.kv, ">"):
                try:
                    schedule, claims = _decode(value)
                except Exception:  # noqa: S112 (a damaged entry is not a claim to take over)
                    continue
                if any(_stale(c) for c in claims):
                    taken += await self._take_over(schedule.name)
        return taken

    async def _take_over(self, name: str) -> builtins.list[Task]:
        for _ in range(20):
            found = await self._read_full(name)
            if found is None:
                return []
            schedule, claims, revision = found
            stale = [c for c in claims if _stale(c)]
            if not stale:
                return []
            renewed = [{**c, "id": uuid.uuid4().hex, "at": time.time()} for c in stale]
            rest = [c for c in claims if not _stale(c)]
            if await self._write(schedule, revision, [*rest, *renewed]):
                break
        else:
            return []
        assert self._queue is not None
        tasks = [
            record_converter().structure(t, Task) for c in renewed for t in c.get("tasks", [])
        ]
        await self._queue.enqueue_many(tasks)
        await self._confirm(name, [c["id"] for c in renewed])
        log.info(
            "enqueued the tasks of unconfirmed schedule ticks", schedule=name, tasks=len(tasks)
        )
        return tasks

    async def _confirm(self, name: str, ids: builtins.list[str]) -> bool:
        """Remove the entries ``ids``; ``False`` if one of them is gone (taken over)."""
        wanted = set(ids)
        for _ in range(20):
            found = await self._read_full(name)
            if found is None:
                return False
            schedule, claims, revision = found
            rest = [c for c in claims if c.get("id") not in wanted]
            if len(claims) - len(rest) < len(wanted):
                if rest != claims:
                    await self._write(schedule, revision, rest)
                return False
            if await self._write(schedule, revision, rest):
                return True
        return False


def _claim(tasks: Sequence[Task]) -> dict[str, Any]:
    """A new unconfirmed entry for ``tasks``, under an id of its own."""
    return {
        "id": uuid.uuid4().hex,
        "at": time.time(),
        "tasks": [record_converter().unstructure(t) for t in tasks],
    }


def _stale(claim: dict[str, Any]) -> bool:
    """Whether an unconfirmed entry is old enough to be taken over."""
    return time.time() - float(claim.get("at", 0)) > TAKEOVER_SECONDS


def _encode(schedule: Schedule, claims: list[dict[str, Any]]) -> bytes:
    raw = record_converter().unstructure(schedule)
    if claims:
        raw[_CLAIMS] = claims
    return orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS)


def _decode(data: bytes) -> tuple[Schedule, list[dict[str, Any]]]:
    raw = orjson.loads(data)
    claims = raw.pop(_CLAIMS, None) or []
    return record_converter().structure(raw, Schedule), claims
