"""Conformance tests of the event storage contract (:class:`omniq.storage.EventStorage`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from omniq._time import utcnow
from omniq.ids import new_id
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.storage import EventStorage, Role
from omniq.testing._base import ConformanceBase, StorageOpener

__all__ = ["EventStorageConformance"]

FOLLOW_DEADLINE = 5.0


def lifecycle(task_id: str, queue: str, *, start: float = 0.0) -> list[TaskEvent]:
    """The events of one task's life, a millisecond apart, with every field set."""
    base = utcnow() + timedelta(seconds=start)
    kinds = [
        EventType.ENQUEUED,
        EventType.STARTED,
        EventType.FAILED,
        EventType.RETRYING,
        EventType.STARTED,
        EventType.COMPLETED,
    ]
    return [
        TaskEvent(
            event_type=kind,
            task_id=task_id,
            timestamp=base + timedelta(milliseconds=i),
            queue=queue,
            worker_id="w-1" if kind is not EventType.ENQUEUED else None,
            attempt=1 + (i >= 4),
            details={"step": i, "note": "ünï", "nested": {"ok": True}, "list": [1, 2]},
        )
        for i, kind in enumerate(kinds)
    ]


class EventStorageConformance(ConformanceBase):
    """The event storage contract: append, query by task, type, queue and time, follow."""

    event_cap_option: ClassVar[str | None] = None
    """The backend option that caps the events kept by count (``max_events`` on most backends,
    ``event_max_count`` on NATS). Set, :meth:`test_event_cap_keeps_the_newest` opens the store
    of ``backend_options`` with a small cap and proves that once the store trims (on append, or
    in ``purge``, which the worker calls) exactly the newest events are kept."""

    @pytest_asyncio.fixture
    async def event_storage(self, opener: StorageOpener) -> AsyncIterator[EventStorage]:
        yield await opener.event_storage()

    @pytest.mark.asyncio
    async def test_event_append_then_query_by_task(
        self, event_storage: EventStorage, queue_name: str
    ) -> None:
        task_id = new_id()
        events = lifecycle(task_id, queue_name)
        await event_storage.append(events[0])
        await event_storage.append_many(events[1:])
        await event_storage.append_many(lifecycle(new_id(), queue_name))
        found = await event_storage.query(EventQuery(task_id=task_id))
        assert found == events

    @pytest.mark.asyncio
    async def test_event_query_orders_by_timestamp_then_id(
        self, event_storage: EventStorage, queue_name: str
    ) -> None:
        task_id = new_id()
        events = lifecycle(task_id, queue_name)
        await event_storage.append_many(list(reversed(events)))
        assert await event_storage.query(EventQuery(task_id=task_id)) == events

    @pytest.mark.asyncio
    async def test_event_query_filters_by_type_queue_and_limit(
        self, event_storage: EventStorage, queue_name: str
    ) -> None:
        mine, other = new_id(), new_id()
        await event_storage.append_many(
            lifecycle(mine, queue_name) + lifecycle(other, f"{queue_name}-x")
        )
        started = await event_storage.query(
            EventQuery(queue=queue_name, event_types={EventType.STARTED})
        )
        assert [(e.task_id, e.event_type, e.attempt) for e in started] == [
            (mine, EventType.STARTED, 1),
            (mine, EventType.STARTED, 2),
        ]
        first_two = await event_storage.query(EventQuery(queue=queue_name, limit=2))
        assert [e.event_type for e in first_two] == [EventType.ENQUEUED, EventType.STARTED]
        terminal = await event_storage.query(
            EventQuery(task_id=other, event_types={EventType.COMPLETED, EventType.FAILED})
        )
        assert [e.event_type for e in terminal] == [EventType.FAILED, EventType.COMPLETED]

    @pytest.mark.asyncio
    async def test_event_query_by_time_range_and_after_id(
        self, event_storage: EventStorage, queue_name: str
    ) -> None:
        task_id = new_id()
        events = lifecycle(task_id, queue_name)
        await event_storage.append_many(events)
        window = await event_storage.query(
            EventQuery(task_id=task_id, since=events[1].timestamp, until=events[4].timestamp)
        )
        assert window == events[1:4]
        by_id = sorted(events, key=lambda e: e.id)
        after = await event_storage.query(EventQuery(task_id=task_id, after_id=by_id[2].id))
        assert {e.id for e in after} == {e.id for e in by_id[3:]}

    @pytest.mark.asyncio
    async def test_event_purge_drops_older_events(
        self, event_storage: EventStorage, queue_name: str
    ) -> None:
        old, new = new_id(), new_id()
        await event_storage.append_many(lifecycle(old, queue_name, start=-3600))
        await event_storage.append_many(lifecycle(new, queue_name))
        assert await event_storage.purge(utcnow() - timedelta(seconds=60)) >= 0
        assert await event_storage.query(EventQuery(task_id=old)) == []
        assert len(await event_storage.query(EventQuery(task_id=new))) == 6

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (0, "Invalid {option} 0: use an integer from 1 to 2,147,483,647"),
            (-1, "Invalid {option} -1: use an integer from 1 to 2,147,483,647"),
            (2**31, "Invalid {option} 2147483648: use an integer from 1 to 2,147,483,647"),
            (float("nan"), "expected int @ $.{option}"),
            ("x", "expected int @ $.{option}"),
        ],
    )
    def test_a_bad_event_cap_is_refused_by_name(
        self, backend_options: Mapping[str, Any] | None, value: Any, expected: str
    ) -> None:
        from omniq.errors import BackendOptionError
        from omniq.plugins.manager import load_backend

        option = self.event_cap_option
        if option is None:
            pytest.skip(f"{type(self).__name__} names no event_cap_option")
        with pytest.raises(BackendOptionError) as caught:
            load_backend(self.backend_name, {**(backend_options or {}), option: value})
        assert expected.format(option=option) in str(caught.value)

    @pytest.mark.asyncio
    async def test_event_cap_keeps_the_newest(
        self, backend_options: Mapping[str, Any] | None, queue_name: str
    ) -> None:
        from omniq.plugins.manager import load_backend

        if self.event_cap_option is None:
            pytest.skip(f"{type(self).__name__} names no event_cap_option")
        if backend_options is None:
            pytest.fail(f"{type(self).__name__} sets event_cap_option: override backend_options")
        options = {**backend_options, self.event_cap_option: 8}
        opener = StorageOpener(self.backend_name, lambda: load_backend(self.backend_name, options))
        try:
            storage = await opener.event_storage()
            oldest, middle, newest = (
                lifecycle(new_id(), queue_name, start=start) for start in (-30, -20, -10)
            )
            for events in (oldest, middle, newest):
                await storage.append_many(events)
            # nothing is old enough to go by age: only the cap trims
            assert await storage.purge(utcnow() - timedelta(days=1)) >= 0
            assert await storage.query(EventQuery()) == middle[-2:] + newest
            assert await storage.query(EventQuery(task_id=oldest[0].task_id)) == []
            assert await storage.query(EventQuery(task_id=middle[0].task_id)) == middle[-2:]
            assert await storage.query(EventQuery(task_id=newest[0].task_id)) == newest
        finally:
            await opener.aclose()

    @pytest.mark.asyncio
    async def test_event_subscribe_follows_new_events(
        self, event_storage: EventStorage, queue_name: str
    ) -> None:
        task_id = new_id()
        await event_storage.append_many(lifecycle(new_id(), queue_name))
        events = lifecycle(task_id, queue_name)
        received: list[TaskEvent] = []
        subscribed = asyncio.Event()

        async def follow() -> None:
            stream = event_storage.subscribe(EventQuery(task_id=task_id))
            iterator = aiter(stream)
            next_event = asyncio.ensure_future(anext(iterator))
            subscribed.set()
            try:
                while True:
                    received.append(await next_event)
                    if len(received) == len(events):
                        return
                    next_event = asyncio.ensure_future(anext(iterator))
            finally:
                await stream.aclose()  # type: ignore[attr-defined]

        follower = asyncio.create_task(follow())
        await subscribed.wait()
        await asyncio.sleep(0.3)
        await event_storage.append_many(lifecycle(new_id(), queue_name))
        await event_storage.append_many(events)
        await asyncio.wait_for(follower, FOLLOW_DEADLINE)
        assert received == events

    @pytest.mark.asyncio
    async def test_event_subscribe_after_id_replays_then_follows(
        self, event_storage: EventStorage, queue_name: str
    ) -> None:
        task_id = new_id()
        events = lifecycle(task_id, queue_name)
        await event_storage.append_many(events[:3])
        received: list[TaskEvent] = []

        async def follow() -> None:
            stream = event_storage.subscribe(EventQuery(task_id=task_id, after_id=events[0].id))
            try:
                async for event in stream:
                    received.append(event)
                    if len(received) == 5:
                        return
            finally:
                await stream.aclose()  # type: ignore[attr-defined]

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        await event_storage.append_many(events[3:])
        await asyncio.wait_for(follower, FOLLOW_DEADLINE)
        assert received == events[1:]

    @pytest.mark.asyncio
    async def test_event_survives_close_and_reopen(
        self, opener: StorageOpener, queue_name: str
    ) -> None:
        from omniq.storage import Capability

        first = await opener.event_storage(fresh=True)
        self.require(opener, Role.EVENT_STORAGE, Capability.PERSISTENT)
        task_id = new_id()
        events = lifecycle(task_id, queue_name)
        await first.append_many(events)
        await opener.close_backend(first)
        second = await opener.event_storage(fresh=True)
        assert await second.query(EventQuery(task_id=task_id)) == events
