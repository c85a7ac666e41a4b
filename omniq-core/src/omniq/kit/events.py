"""Event storage on a :class:`~omniq.kit.KVStore`: ``event/<microseconds>/<id>``, so a scan
returns events in ``(timestamp, id)`` order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from omniq.kit._base import KitStorage
from omniq.kit.records import decode, encode
from omniq.kit.store import Write
from omniq.logging import get_logger
from omniq.models.event import EventQuery, TaskEvent
from omniq.storage import EventStorage

__all__ = ["KitEventStorage"]

log = get_logger(__name__)
EVENTS = "event/"


def _stamp(moment: datetime) -> str:
    return f"{round(moment.timestamp() * 1_000_000):020d}"


class KitEventStorage(KitStorage, EventStorage):
    """Task events as records of a key-value store."""

    async def append(self, event: TaskEvent) -> None:
        await self.append_many([event])

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        self._check_open()
        writes = [Write(f"{EVENTS}{_stamp(e.timestamp)}/{e.id}", encode(e), None) for e in events]
        await self.kv.apply(writes)

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        self._check_open()
        found: list[TaskEvent] = []
        for item in await self.kv.scan(EVENTS):
            try:
                event = decode(item.value, TaskEvent)
            except Exception as exc:
                log.warning("undecodable event skipped", key=item.key, error=repr(exc))
                continue
            if query.matches(event):
                found.append(event)
        found.sort(key=lambda e: (e.timestamp, e.id))
        return found[: query.limit]

    async def purge(self, before: datetime) -> int:
        self._check_open()
        edge = f"{EVENTS}{_stamp(before)}"
        doomed = [Write(i.key, None, i.version) for i in await self.kv.scan(EVENTS) if i.key < edge]
        return sum(await self.kv.apply(doomed))
