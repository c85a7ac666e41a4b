"""The event storage contract: an append-only log of task lifecycle events."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.storage.base import Storage

__all__ = ["EventInsights", "EventStorage"]


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


@runtime_checkable
class EventInsights(Protocol):
    """Optional: reads a dashboard needs that the contract's ascending :meth:`~EventStorage.query`
    answers only by reading everything, served from the store's indexes instead.

    ``omniq dashboard`` uses them where the event storage has them and falls back to bounded
    ``query`` calls (marked partial) where it has not.
    """

    async def query_latest(
        self, query: EventQuery, *, func: str | None = None, scan: int = 10_000, offset: int = 0
    ) -> list[TaskEvent]:
        """Events matching ``query``, newest first (``(timestamp, id)`` descending), from
        ``offset``, at most ``query.limit``. With ``func``: only those whose
        ``details["func"]`` is ``func``, among the newest ``scan`` events matching ``query``."""
        ...

    async def count_events(
        self,
        event_types: Collection[EventType],
        *,
        since: datetime,
        until: datetime,
        bucket_seconds: int,
        queue: str | None = None,
    ) -> dict[tuple[int, EventType], int]:
        """How many events of each type fell in each bucket of ``[since, until)``: keys are
        ``(bucket start as whole seconds since the epoch, type)``; empty buckets are absent."""
        ...
