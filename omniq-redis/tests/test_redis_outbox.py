"""With tasks and events on the same Redis backend, an enqueue and its ``enqueued`` event are one
script call (omniq.storage.EventOutbox, one-at-a-time enqueues included): the event is stored
when ``enqueue`` returns, never for a task that was already queued, and ``max_events`` is kept in
the same call. With events elsewhere, the background writer stores them as before."""

from __future__ import annotations

from typing import Any

import omniq
import pytest
import redis
from omniq import AsyncOmniQ, OmniQ
from omniq.models import EventQuery, EventType
from omniq.runtime.building import enqueued_event
from omniq.storage import EventOutbox, takes_single_enqueues
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(60)


def noop(n: int) -> int:
    return n


def backend(server: RedisServer, prefix: str, **options: Any) -> Any:
    return omniq.load_backend("redis", url=server.url, key_prefix=prefix, **options)


async def test_the_queue_offers_its_own_backends_events_only(
    redis_server: RedisServer, key_prefix: str
) -> None:
    same = backend(redis_server, key_prefix)
    other = backend(redis_server, key_prefix + "b")
    try:
        queue = same.task_queue()
        assert isinstance(queue, EventOutbox)
        assert takes_single_enqueues(queue)
        assert queue.shares_events_with(same.event_storage())
        assert not queue.shares_events_with(other.event_storage())
        assert not queue.shares_events_with(omniq.load_backend("memory").event_storage())
    finally:
        await same.close()
        await other.close()


async def test_one_enqueue_stores_its_event_in_the_same_call(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with AsyncOmniQ(backend=backend(redis_server, key_prefix), workers=0) as oq:
        assert oq._single_outbox is not None
        task_id = await oq.enqueue(noop, 1)
        assert len(oq._sink) == 0  # type: ignore[arg-type]
        events = oq._stores.events  # type: ignore[union-attr]
        stored = await events.query(EventQuery(task_id=task_id))
        assert [e.event_type for e in stored] == [EventType.ENQUEUED]
        assert stored[0].queue == "default"


def test_the_sync_api_stores_each_enqueue_with_its_event(
    redis_server: RedisServer, key_prefix: str
) -> None:
    with OmniQ(backend=backend(redis_server, key_prefix), workers=0) as oq:
        assert oq.async_app._producer is not None
        first = oq.enqueue(noop, 1)
        second = oq.enqueue(noop, 2, queue="other", delay=60)
        third = oq.enqueue(noop, 3, queue="other", delay=30)  # the queue is known by now
        ids = oq.enqueue_many([(noop, (i,)) for i in range(3)])
        assert len(oq.async_app._sink) == 0  # type: ignore[arg-type]
        events = oq.query_events(event_types=["enqueued"])
        sizes = oq.queue_sizes()
    assert sorted(e.task_id for e in events) == sorted([first, second, third, *ids])
    assert sizes["default"].pending == 4
    assert sizes["other"].pending == 2


@pytest.mark.parametrize("sync", [False, True])
async def test_a_task_already_queued_gets_no_second_enqueued_event(
    redis_server: RedisServer, key_prefix: str, sync: bool
) -> None:
    async with AsyncOmniQ(backend=backend(redis_server, key_prefix), workers=0) as oq:
        queue = oq._stores.task_queue  # type: ignore[union-attr]
        await oq.enqueue(noop, 0, task_id="order-1")
        if sync:
            task = oq.prepare(noop, (9,), {}, {"task_id": "order-1"})
            assert queue.enqueue_with_events_sync([task], [enqueued_event(task)]) == 0
        else:
            await oq.enqueue(noop, 9, task_id="order-1")
        await oq.enqueue_many([(noop, (1,), {}, {"task_id": "order-1"}), (noop, (2,))])
        events = await oq.query_events(event_types=["enqueued"])
        info = await queue.get("order-1")
    assert [e.task_id for e in events].count("order-1") == 1
    assert len(events) == 2
    assert info is not None and info.task.payload == b"[[0],{}]"  # the first enqueue's


async def test_an_id_repeated_within_one_batch_gets_one_task_and_one_event(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with AsyncOmniQ(backend=backend(redis_server, key_prefix), workers=0) as oq:
        twice = {"task_id": "order-2"}
        await oq.enqueue_many([(noop, (1,), {}, twice), (noop, (2,), {}, twice), (noop, (3,))])
        events = await oq.query_events(event_types=["enqueued"])
        info = await oq._stores.task_queue.get("order-2")  # type: ignore[union-attr]
    assert [e.task_id for e in events].count("order-2") == 1
    assert len(events) == 2
    assert info is not None and info.task.payload == b"[[1],{}]"  # the first in the batch


async def test_the_oldest_events_past_max_events_are_dropped_in_the_same_call(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with AsyncOmniQ(backend=backend(redis_server, key_prefix, max_events=3), workers=0) as oq:
        ids = [await oq.enqueue(noop, i) for i in range(5)]
        events = oq._stores.events  # type: ignore[union-attr]
        kept = await events.query(EventQuery())
        first = await events.query(EventQuery(task_id=ids[0]))
        client = redis.Redis.from_url(redis_server.url)
        try:
            records = client.hlen(f"{{{key_prefix}:events}}:data")
            index = client.zcard(f"{{{key_prefix}:events}}:task:{ids[0]}")
        finally:
            client.close()
    assert [e.task_id for e in kept] == ids[2:]
    assert first == []
    assert records == 3
    assert index == 0


def test_enqueues_go_on_after_the_server_forgot_its_scripts(
    redis_server: RedisServer, key_prefix: str
) -> None:
    with OmniQ(backend=backend(redis_server, key_prefix), workers=0) as oq:
        oq.enqueue(noop, 1)
        client = redis.Redis.from_url(redis_server.url)
        try:
            client.script_flush()
        finally:
            client.close()
        task_id = oq.enqueue(noop, 2)
        ids = oq.enqueue_many([(noop, (3,)), (noop, (4,))])
        events = oq.query_events(event_types=["enqueued"])
    assert {task_id, *ids} <= {e.task_id for e in events}
    assert len(events) == 4


async def test_events_on_another_prefix_are_written_by_the_background_writer(
    redis_server: RedisServer, key_prefix: str
) -> None:
    queues = backend(redis_server, key_prefix)
    elsewhere = backend(redis_server, key_prefix + "e")
    async with AsyncOmniQ(task_queue=queues, event_storage=elsewhere, workers=0) as oq:
        assert oq._outbox is None
        assert oq._single_outbox is None
        one = await oq.enqueue(noop, 0)
        ids = await oq.enqueue_many([(noop, (i,)) for i in range(4)])
        events = await oq.query_events(event_types=["enqueued"])
    assert sorted(e.task_id for e in events) == sorted([one, *ids])
