"""Redis events: a sorted set by time (and one per task) over a hash of records, capped at
``max_events``; a capped stream carries new events to live followers (``XREAD BLOCK``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs
import orjson
from omniq.models.event import EventQuery, TaskEvent
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, EventStorage

from omniq_redis import scripts
from omniq_redis.connection import connection_for, storage_errors
from omniq_redis.pipelines import ScriptSet

__all__ = ["RedisEventStorage"]

_STREAM_LENGTH = 10_000
_SCRIPTS = ScriptSet({"APPEND": scripts.APPEND_EVENTS})


def _score(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


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
        stream entry of every event are written atomically, in one round trip."""
        if not events:
            return
        keys = self.keys
        batch = orjson.dumps(
            [(e.id, str(_score(e.timestamp)), e.task_id, dumps_record(e).decode()) for e in events]
        )
        args = [keys.events_of(""), int(self.redis.options.event_ttl), _STREAM_LENGTH, batch]
        client = self.redis.client
        script_keys = [keys.event_data, keys.events_by_time, keys.event_stream]
        replies = await storage_errors(
            self.redis.where,
            lambda: _SCRIPTS.execute(
                client, lambda pipe: _SCRIPTS.queue(pipe, "APPEND", script_keys, args)
            ),
        )
        excess = int(replies[0]) - self.redis.options.max_events
        if excess > 0:
            await self._drop_oldest(excess)

    async def _drop_oldest(self, count: int) -> None:
        dropped = await self.redis.client.zpopmin(self.keys.events_by_time, count)
        ids = [member for member, _ in dropped]
        if ids:
            await self._forget(ids)

    async def _forget(self, ids: list[Any]) -> None:
        client = self.redis.client
        records = await client.hmget(self.keys.event_data, ids)
        async with client.pipeline(transaction=False) as pipe:
            pipe.hdel(self.keys.event_data, *ids)
            pipe.zrem(self.keys.events_by_time, *ids)
            for event_id, data in zip(ids, records, strict=True):
                if data is not None:
                    task_id = loads_record(data, TaskEvent).task_id
                    pipe.zrem(self.keys.events_of(task_id), event_id)
            await pipe.execute()

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        index = (
            self.keys.events_by_time
            if query.task_id is None
            else self.keys.events_of(query.task_id)
        )
        low = "-inf" if query.since is None else _score(query.since)
        high = "+inf" if query.until is None else f"({_score(query.until)}"
        client = self.redis.client
        found: list[TaskEvent] = []
        offset, page = 0, max(query.limit, 500)
        while len(found) < query.limit:
            ids = await client.zrangebyscore(index, low, high, start=offset, num=page)
            if not ids:
                break
            offset += len(ids)
            records = await client.hmget(self.keys.event_data, ids)
            for data in records:
                if data is None:
                    continue
                event = loads_record(data, TaskEvent)
                if query.matches(event):
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
            for event in await self.query(attrs.evolve(query, limit=1_000_000)):
                seen.add(event.id)
                yield event
        live = attrs.evolve(query, after_id=None)
        while True:
            replies = await client.xread({stream: cursor}, block=1000, count=500)
            for _, entries in replies or ():
                for entry_id, fields in entries:
                    cursor = entry_id
                    event = loads_record(fields[b"data"], TaskEvent)
                    if event.id not in seen and live.matches(event):
                        yield event

    async def purge(self, before: datetime) -> int:
        ids = await self.redis.client.zrangebyscore(
            self.keys.events_by_time, "-inf", f"({_score(before)}"
        )
        for start in range(0, len(ids), 1000):
            await self._forget(ids[start : start + 1000])
        return len(ids)
