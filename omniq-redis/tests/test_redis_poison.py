"""Damaged Redis records are set aside, everything else goes on: a task hash that cannot be
decoded is moved to the dead letters as a corrupt record (kept as it is, a warning names it)
while the good tasks of the same claim are returned; an undecodable event is skipped with a
warning by queries and follows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import omniq
import pytest
import pytest_asyncio
from attrs import frozen
from omniq import AsyncOmniQ
from omniq.errors import StorageError
from omniq.models import EventQuery, EventType, Task, TaskState
from omniq.models.task import CORRUPT_RECORD
from omniq.models.unchecked import unchecked_event
from omniq_redis.events import RedisEventStorage
from omniq_redis.task_queue import RedisTaskQueue
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(60)


@frozen
class Stores:
    queue: RedisTaskQueue
    events: RedisEventStorage


@pytest_asyncio.fixture
async def stores(redis_server: RedisServer, key_prefix: str) -> AsyncIterator[Stores]:
    backend = omniq.load_backend("redis", url=redis_server.url, key_prefix=key_prefix)
    queue, events = backend.task_queue(), backend.event_storage()
    assert isinstance(queue, RedisTaskQueue) and isinstance(events, RedisEventStorage)
    found = Stores(queue, events)
    await found.queue.connect()
    await found.events.connect()
    yield found
    await backend.close()


def warnings_naming(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and text in r.getMessage()
    ]


def task_key(queue: RedisTaskQueue, task: Task) -> str:
    return queue.keys.queue(task.queue).task_prefix + task.id


DAMAGE: dict[str, tuple[str, ...]] = {
    "record not json": ("HSET", "data", "{not json"),
    "record not a task": ("HSET", "data", '{"a": 1}'),
    "record of another task": ("HSET", "data", "OTHER"),
    "no record": ("HDEL", "data"),
    "text priority": ("HSET", "prio", "high"),
    "text attempt": ("HSET", "attempt", "x"),
    "unknown state": ("HSET", "state", "bogus"),
    "text deliveries": ("HSET", "deliveries", "many"),
    "no eta": ("HDEL", "eta"),
}

READABLE = {"text priority", "unknown state", "no eta", "record of another task"}
"""Damage that the claim refuses but that still reads back as a task (the record is intact)."""


async def damage(queue: RedisTaskQueue, bad: Task, other: Task, how: str) -> None:
    command, field, *value = DAMAGE[how]
    client: Any = queue.redis.client
    if value == ["OTHER"]:
        value = [await client.hget(task_key(queue, other), "data")]
    await client.execute_command(command, task_key(queue, bad), field, *value)


@pytest.mark.parametrize("how", sorted(DAMAGE))
async def test_a_damaged_task_is_set_aside_and_the_good_ones_are_claimed(
    stores: Stores, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = stores.queue
    good = [Task(func="m:f", queue="p", priority=5 - i) for i in range(4)]
    bad = Task(func="m:f", queue="p", priority=9)  # first in line
    await queue.enqueue_many([bad, *good])
    await damage(queue, bad, good[0], how)
    with caplog.at_level(logging.WARNING, logger="omniq_redis"):
        claimed = await queue.claim(["p"], limit=4, lease_seconds=30, worker_id="w")
    assert [c.task.id for c in claimed] == [t.id for t in good]
    assert warnings_naming(caplog, bad.id), "no warning names the corrupt task"
    (stats,) = await queue.stats(["p"])
    assert (stats.pending, stats.active, stats.dead) == (0, 4, 1)
    client: Any = queue.redis.client
    fields = await client.hmget(task_key(queue, bad), "state", "error")
    assert fields == [b"dead", CORRUPT_RECORD.encode()]
    if how in READABLE:
        info = await queue.get(bad.id)
        assert info is not None and info.state is TaskState.DEAD
        assert info.last_error == CORRUPT_RECORD
    else:
        with pytest.raises(StorageError, match=r"cannot be decoded.*redis-cli"):
            await queue.get(bad.id)
    await queue.list_tasks("p", state=TaskState.DEAD)  # does not raise


async def test_a_damaged_delayed_task_is_set_aside_when_due(stores: Stores) -> None:
    queue = stores.queue
    bad = Task(func="m:f", queue="d")
    good = Task(func="m:f", queue="d")
    await queue.enqueue_many([bad, good])
    client: Any = queue.redis.client
    keys = queue.keys.queue("d")
    await client.zrem(keys.ready, bad.id)
    await client.zadd(keys.delayed, {bad.id: 0})
    await client.hset(task_key(queue, bad), "prio", "high")
    claimed = await queue.claim(["d"], limit=5, lease_seconds=30, worker_id="w")
    assert [c.task.id for c in claimed] == [good.id]
    assert await client.zscore(keys.dead, bad.id) is not None


async def test_a_worker_goes_on_past_a_corrupt_task_and_a_corrupt_event(
    redis_server: RedisServer, key_prefix: str, stores: Stores
) -> None:
    """The end-to-end check, with the defaults: every other task completes, get_events works."""
    backend = omniq.load_backend("redis", url=redis_server.url, key_prefix=key_prefix)
    async with AsyncOmniQ(backend=backend, workers=0) as producer:
        ids = [await producer.enqueue(double, n) for n in range(6)]
    client: Any = stores.queue.redis.client
    await client.hset(stores.queue.keys.queue("default").task_prefix + ids[2], "data", "{not")
    (enqueued,) = await stores.events.query(EventQuery(task_id=ids[1]))
    await client.hset(stores.events.keys.event_data, enqueued.id, "{not json")
    backend = omniq.load_backend("redis", url=redis_server.url, key_prefix=key_prefix)
    async with AsyncOmniQ(backend=backend, workers=1) as oq:
        for n, task_id in enumerate(ids):
            if n != 2:
                assert await oq.get_result(task_id, timeout=20) == n * 2
        events = [e.event_type for e in await oq.get_events(ids[1])]
    assert EventType.ENQUEUED not in events and EventType.COMPLETED in events
    (stats,) = await stores.queue.stats(["default"])
    assert (stats.pending, stats.active, stats.dead) == (0, 0, 1)


def double(n: int) -> int:
    return n * 2


async def garbage_event(events: RedisEventStorage, task_id: str) -> None:
    """An event record that is not JSON, indexed like a real one."""
    client: Any = events.redis.client
    await client.hset(events.keys.event_data, "bad-event", "{not json")
    await client.zadd(events.keys.events_by_time, {"bad-event": 1})
    await client.zadd(events.keys.events_of(task_id), {"bad-event": 1})


async def test_an_undecodable_event_is_skipped_by_queries(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    events = stores.events
    good = [unchecked_event(EventType.COMPLETED, "t1", queue="q") for _ in range(3)]
    await events.append_many(good)
    await garbage_event(events, "t1")
    with caplog.at_level(logging.WARNING, logger="omniq_redis"):
        assert [e.id for e in await events.query(EventQuery(task_id="t1"))] == [e.id for e in good]
        assert len(await events.query(EventQuery(limit=2))) == 2
    assert warnings_naming(caplog, "bad-event")
    assert await events.purge(good[-1].timestamp) >= 1  # the garbage one goes too


async def test_an_undecodable_event_is_skipped_by_a_follow(stores: Stores) -> None:
    events = stores.events
    follow: Any = events.subscribe(EventQuery(task_id="t2"))
    first = asyncio.ensure_future(follow.__anext__())
    await asyncio.sleep(0.3)
    client: Any = events.redis.client
    await client.xadd(events.keys.event_stream, {"data": "{not json"})
    await client.xadd(events.keys.event_stream, {"other": "field"})
    good = unchecked_event(EventType.STARTED, "t2", queue="q")
    await events.append(good)
    got = await asyncio.wait_for(first, 10)
    assert got.id == good.id
    await follow.aclose()
