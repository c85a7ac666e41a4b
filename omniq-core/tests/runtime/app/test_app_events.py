"""Events written by the app: batched enqueued events, queries and the live stream."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from omniq._time import utcnow
from omniq.errors import ValidationError
from omniq.events import TaskEvent
from omniq.models import EventType
from omniq.runtime.async_app import AsyncOmniQ
from omniq.runtime.sync_app import OmniQ


def noop() -> None:
    return None


async def test_enqueued_events_are_batched(plain_stores: dict[str, Any]) -> None:
    events = plain_stores["event_storage"]
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        ids = [await oq.enqueue(noop, queue="q1" if i % 2 else "q2") for i in range(300)]
        stored = await oq.query_events(event_types={"enqueued"}, limit=1000)
    assert [e.task_id for e in stored] == ids  # time order is enqueue order
    assert events.appends < 30  # batches, not one append per task
    first = stored[0]
    assert isinstance(first, TaskEvent)
    assert (first.event_type, first.queue) == (EventType.ENQUEUED, "q2")
    assert first.timestamp.tzinfo is not None


async def test_query_filters(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        before = utcnow()
        a = await oq.enqueue(noop, queue="alpha")
        await oq.enqueue(noop, queue="beta")
        await oq.cancel(a)
        assert [e.event_type for e in await oq.query_events(task_id=a)] == [
            "enqueued",
            "cancelled",
        ]
        assert len(await oq.query_events(queue="beta")) == 1
        assert len(await oq.query_events(event_types=["cancelled"])) == 1
        assert len(await oq.query_events(since=before, limit=2)) == 2
        assert await oq.query_events(until=before) == []
        assert await oq.query_events(since=utcnow() + timedelta(seconds=5)) == []
        with pytest.raises(ValidationError, match="event type"):
            await oq.query_events(event_types=["exploded"])


async def test_follow_events_streams_new_events(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        await oq.enqueue(noop)  # before following: not streamed
        seen: list[str] = []

        async def follow() -> None:
            async for event in oq.follow_events(event_types=["enqueued"]):
                seen.append(event.task_id)
                if len(seen) == 3:
                    return

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.05)
        ids = [await oq.enqueue(noop) for _ in range(3)]
        await asyncio.wait_for(follower, 10)
    assert seen == ids


def test_documented_event_example(plain_stores: dict[str, Any]) -> None:
    with OmniQ(workers=0, **plain_stores) as omniq:
        task_id = omniq.enqueue(lambda: "eventful task")
        events = omniq.get_events(task_id)
        lines = [
            f"Event: {event.event_type} for task {event.task_id} at {event.timestamp}"
            for event in events
        ]
    assert lines == [f"Event: enqueued for task {task_id} at {events[0].timestamp}"]


def test_sync_follow_events(plain_stores: dict[str, Any]) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        stream = oq.follow_events()
        first = oq.enqueue(noop)
        event = next(stream)
        stream.close()
    assert event.task_id == first
