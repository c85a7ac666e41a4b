"""Redis events: a sorted set by time (and one per task) over a hash of records, capped at
``max_events``; a capped stream carries new events to live followers (``XREAD BLOCK``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs
import orjson
from omniq.logging import get_logger
from omniq.models.event import EventQuery, TaskEvent
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, EventStorage

from omniq_redis import scripts
from omniq_redis.connection import RedisConnection, connection_for, storage_errors
from omniq_redis.keys import Keys
from omniq_redis.pipelines import ScriptSet

__all__ = [
    "PURGE_BATCH",
    "RedisEventStorage",
    "event_batch",
    "event_rows",
    "event_score",
    "event_script_args",
    "event_script_keys",
]

log = get_logger(__name__)

_STREAM_LENGTH = 10_000
_SCRIPTS = ScriptSet({"APPEND": scripts.APPEND_EVENTS, "PURGE": scripts.PURGE_EVENTS})

PURGE_BATCH = 1000
"""Events dropped per script call of :meth:`RedisEventStorage.purge`."""


def event_score(moment: datetime) -> int:
    """An event's place in the indexes: its time in microseconds."""
    return int(moment.timestamp() * 1_000_000)


def event_script_keys(keys: Keys) -> list[str]:
    """The keys of the event scripts: the data hash, the by-time index, the live stream."""
    return [keys.event_data, keys.events_by_time, keys.event_stream]


def event_script_args(redis: RedisConnection) -> list[Any]:
    """The event scripts' arguments before the batch: the per-task index prefix, the index's
    TTL, the stream's length and ``max_events``."""
    options, keys = redis.options, redis.keys
    return [keys.events_of(""), int(options.event_ttl), _STREAM_LENGTH, options.max_events]


def event_rows(events: Sequence[TaskEvent]) -> list[tuple[str, str, str, str]]:
    """Events as the scripts take them: ``[id, score_us, task_id, record]`` each, every value a
    string."""
    return [
        (e.id, str(event_score(e.timestamp)), e.task_id, dumps_record(e).decode()) for e in events
    ]


def event_batch(events: Sequence[TaskEvent]) -> bytes:
    """:func:`event_rows` as one JSON array."""
    return orjson.dumps(event_rows(events))


def _decoded(data: Any, event_id: Any) -> TaskEvent | None:
    """The event of a stored record; ``None``, with a warning naming it, if it cannot be decoded
    (damaged or written by hand), so that one bad record never fails a query or a follow."""
    try:
        return loads_record(data, TaskEvent)
    except Exception as exc:  # orjson, cattrs and the records' validators raise many kinds
        log.warning(
            "skipped an event that cannot be decoded",
            event_id=_text(event_id),
            error=f"{type(exc).__name__}: {exc}",
        )
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisEventStorage(EventStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.EVENT_SUBSCRIBE}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.redis = connection_for(ctx)
        self.keys = self.redis.keys

    async def connect(self) -> None:
        await self.redis.connect()

    async def append(self, event: TaskEvent) -> None:
        await self.append_many((event,))

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        """One script call per batch: the record, the time and per-task indexes and the live
        stream entry of every event are written atomically, and the oldest events past
        ``max_events`` dropped, in one round trip."""
        if not events:
            return
        args = [*event_script_args(self.redis), event_batch(events)]
        calls = self.redis.calls
        script_keys = event_script_keys(self.keys)
        await storage_errors(
            self.redis.where, lambda: _SCRIPTS.call(calls, "APPEND", script_keys, args)
        )

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        index = (
            self.keys.events_by_time
            if query.task_id is None
            else self.keys.events_of(query.task_id)
        )
        low = "-inf" if query.since is None else event_score(query.since)
        high = "+inf" if query.until is None else f"({event_score(query.until)}"
        client = self.redis.client
        found: list[TaskEvent] = []
        offset, page = 0, max(query.limit, 500)
        while len(found) < query.limit:
            ids = await client.zrangebyscore(index, low, high, start=offset, num=page)
            if not ids:
                break
            offset += len(ids)
            records = await client.hmget(self.keys.event_data, ids)
            for event_id, data in zip(ids, records, strict=True):
                event = None if data is None else _decoded(data, event_id)
                if event is not None and query.matches(event):
                    found.append(event)
        found.sort(key=lambda e: (e.timestamp, e.id))
        return found[: query.limit]

    async def subscribe(self, query: EventQuery) -> AsyncIterator[TaskEvent]:
        client = self.redis.client
        stream = self.keys.event_stream
        last = await client.xrevrange(stream, count=1)
        cursor = last[0][0] if last else b"0-0"
        seen: set[str] = set()
        if query.after_id is not None:
            for replayed in await self.query(attrs.evolve(query, limit=1_000_000)):
                seen.add(replayed.id)
                yield replayed
        live = attrs.evolve(query, after_id=None)
        while True:
            replies = await client.xread({stream: cursor}, block=1000, count=500)
            for _, entries in replies or ():
                for entry_id, fields in entries:
                    cursor = entry_id
                    event = _decoded(fields.get(b"data"), entry_id)
                    if event is not None and event.id not in seen and live.matches(event):
                        yield event

    async def purge(self, before: datetime) -> int:
        """Drop the events older than ``before``, :data:`PURGE_BATCH` per script call, so a
        large purge never blocks the server for long (the worker calls it periodically)."""
        calls = self.redis.calls
        keys = [self.keys.event_data, self.keys.events_by_time]
        args = [self.keys.events_of(""), event_score(before), PURGE_BATCH]
        purged = 0
        while True:
            count = int(
                await storage_errors(
                    self.redis.where, lambda: _SCRIPTS.call(calls, "PURGE", keys, args)
                )
            )
            purged += count
            if count < PURGE_BATCH:
                return purged
