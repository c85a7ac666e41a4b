"""The event storage contract: an append-only log of task lifecycle events."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import attrs

from omniq.models.event import EventQuery, TaskEvent
from omniq.storage.base import Storage

__all__ = ["EventStorage"]


class EventStorage(Storage):
    """Task events, queryable by task, type, queue and time, and followable."""

    subscribe_poll_interval: float = 0.1

    @abstractmethod
    async def append(self, event: TaskEvent) -> None:
        """Store one event."""

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        """Store several events; backends should do it in one round trip."""
        for event in events:
            await self.append(event)

    @abstractmethod
    async def query(self, query: EventQuery) -> list[TaskEvent]:
        """Events matching ``query``, ordered by ``(timestamp, id)``, at most ``query.limit``."""

    async def subscribe(self, query: EventQuery) -> AsyncIterator[TaskEvent]:
        """Yield events matching ``query`` (ignoring its ``limit``) as they are appended, from
        now on (or after ``query.after_id``) until the consumer stops iterating.

        The default polls :meth:`query`; backends with native push (``EVENT_SUBSCRIBE``) override.
        """
        cursor = query.after_id
        if cursor is None:
            latest = await self.query(attrs.evolve(query, limit=1_000_000))
            cursor = latest[-1].id if latest else ""
        while True:
            batch = await self.query(attrs.evolve(query, after_id=cursor, limit=1000))
            for event in sorted(batch, key=lambda e: e.id):
                cursor = max(cursor, event.id)
                yield event
            if not batch:
                await asyncio.sleep(self.subscribe_poll_interval)

    @abstractmethod
    async def purge(self, before: datetime) -> int:
        """Delete events older than ``before``; returns how many (may be an estimate of 0 where
        the store trims by itself)."""
