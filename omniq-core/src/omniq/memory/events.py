"""The memory event storage: an append-only list with a per-task index, and live subscribers."""

from __future__ import annotations

import asyncio
import bisect
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import ClassVar

import attrs
from attrs import define, field

from omniq.memory.base import MemoryStorageMixin
from omniq.models.event import EventQuery, TaskEvent
from omniq.plugins.specs import BackendContext
from omniq.storage import Capability, EventStorage

__all__ = ["MemoryEventStorage"]


@define(eq=False)
class _Subscriber:
    query: EventQuery
    loop: asyncio.AbstractEventLoop
    inbox: asyncio.Queue[TaskEvent]


@define
class EventData:
    """The event role's part of a memory store."""

    lock: threading.Lock = field(factory=threading.Lock)
    events: list[TaskEvent] = field(factory=list)
    """In ``(timestamp, id)`` order."""
    by_task: dict[str, list[TaskEvent]] = field(factory=dict)
    subscribers: list[_Subscriber] = field(factory=list)


def _order(event: TaskEvent) -> tuple[datetime, str]:
    return (event.timestamp, event.id)


class MemoryEventStorage(MemoryStorageMixin, EventStorage):
    """Task events in this process's memory, pushed to subscribers as they are appended."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.EVENT_SUBSCRIBE})

    def __init__(self, ctx: BackendContext) -> None:
        self._state = self._data(ctx, "event_storage", EventData)

    async def append(self, event: TaskEvent) -> None:
        await self.append_many((event,))

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        self._check_open()
        state = self._state
        with state.lock:
            for event in events:
                _insert(state.events, event)
                _insert(state.by_task.setdefault(event.task_id, []), event)
            subscribers = list(state.subscribers)
        for subscriber in subscribers:
            for event in events:
                if subscriber.query.matches(event):
                    _deliver(subscriber, event)

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        self._check_open()
        with self._state.lock:
            source = (
                self._state.events
                if query.task_id is None
                else self._state.by_task.get(query.task_id, [])
            )
            start = 0
            if query.since is not None:
                start = bisect.bisect_left(source, (query.since, ""), key=_order)
            found: list[TaskEvent] = []
            for event in source[start:]:
                if query.until is not None and event.timestamp >= query.until:
                    break
                if query.matches(event):
                    found.append(event)
                    if len(found) >= query.limit:
                        break
            return found

    async def subscribe(self, query: EventQuery) -> AsyncIterator[TaskEvent]:
        self._check_open()
        live = attrs.evolve(query, after_id=None)
        subscriber = _Subscriber(live, asyncio.get_running_loop(), asyncio.Queue())
        with self._state.lock:
            self._state.subscribers.append(subscriber)
        try:
            seen: set[str] = set()
            if query.after_id is not None:
                for event in await self.query(attrs.evolve(query, limit=1_000_000)):
                    seen.add(event.id)
                    yield event
            while True:
                event = await subscriber.inbox.get()
                if event.id not in seen:
                    yield event
        finally:
            with self._state.lock:
                self._state.subscribers.remove(subscriber)

    async def purge(self, before: datetime) -> int:
        self._check_open()
        state = self._state
        with state.lock:
            cut = bisect.bisect_left(state.events, (before, ""), key=_order)
            doomed, state.events = state.events[:cut], state.events[cut:]
            for event in doomed:
                remaining = state.by_task.get(event.task_id)
                if remaining is not None:
                    remaining.remove(event)
                    if not remaining:
                        del state.by_task[event.task_id]
            return len(doomed)


def _insert(events: list[TaskEvent], event: TaskEvent) -> None:
    """Append ``event`` keeping ``(timestamp, id)`` order (appends are nearly always in order)."""
    if not events or _order(events[-1]) <= _order(event):
        events.append(event)
    else:
        bisect.insort(events, event, key=_order)


def _deliver(subscriber: _Subscriber, event: TaskEvent) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if subscriber.loop is running:
        subscriber.inbox.put_nowait(event)
    elif not subscriber.loop.is_closed():
        subscriber.loop.call_soon_threadsafe(subscriber.inbox.put_nowait, event)
