"""Fenced completion on Redis: with results and events on the queue's server and prefix, a
batch of completions is one script call, each applied only under its current lease; a refused
result refuses its whole completion; waiters of results and queues are woken."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import omniq
import pytest
import pytest_asyncio
from attrs import frozen
from omniq._time import utcnow
from omniq.models import (
    Completion,
    CompletionAction,
    EventQuery,
    EventType,
    Lease,
    ResultStatus,
    Task,
    TaskResult,
    TaskState,
)
from omniq.models.task import ClaimedTask
from omniq.models.unchecked import unchecked_event
from omniq.storage import AtomicCompletion
from omniq_redis.events import RedisEventStorage
from omniq_redis.results import RedisResultStorage
from omniq_redis.task_queue import RedisTaskQueue
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(60)


@frozen
class Stores:
    queue: RedisTaskQueue
    results: RedisResultStorage
    events: RedisEventStorage


def open_backend(server: RedisServer, prefix: str, **options: Any) -> Any:
    return omniq.load_backend("redis", url=server.url, key_prefix=prefix, **options)


async def open_stores(backend: Any) -> Stores:
    stores = Stores(backend.task_queue(), backend.result_storage(), backend.event_storage())
    for storage in (stores.queue, stores.results, stores.events):
        await storage.connect()
    return stores


@pytest_asyncio.fixture
async def stores(redis_server: RedisServer, key_prefix: str) -> AsyncIterator[Stores]:
    backend = open_backend(redis_server, key_prefix)
    yield await open_stores(backend)
    await backend.close()


async def claim(stores: Stores, queue: str = "c", **task: Any) -> ClaimedTask:
    await stores.queue.enqueue(Task(func="m:f", queue=queue, **task))
    (claimed,) = await stores.queue.claim([queue], limit=1, lease_seconds=30, worker_id="w")
    return claimed


def done(claimed: ClaimedTask, *, delivery: int | None = None, **kw: Any) -> Completion:
    result = TaskResult(
        task_id=claimed.task.id,
        status=ResultStatus.SUCCESS,
        payload=b"1",
        delivery=claimed.lease.delivery if delivery is None else delivery,
    )
    event = unchecked_event(EventType.COMPLETED, claimed.task.id, queue=claimed.task.queue)
    return Completion(
        lease=claimed.lease, action=CompletionAction.ACK, result=result, events=(event,), **kw
    )


async def trail(stores: Stores, task_id: str) -> list[EventType]:
    return [e.event_type for e in await stores.events.query(EventQuery(task_id=task_id))]


async def evalsha_calls(stores: Stores) -> int:
    stats = await stores.queue.redis.client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_only_this_backends_storages_complete_atomically(
    redis_server: RedisServer, key_prefix: str
) -> None:
    same = open_backend(redis_server, key_prefix)
    again = open_backend(redis_server, key_prefix)
    other = open_backend(redis_server, key_prefix + "b")
    capped = open_backend(redis_server, key_prefix, max_events=10)
    memory = omniq.load_backend("memory")
    try:
        queue = same.task_queue()
        assert isinstance(queue, AtomicCompletion)
        assert queue.completes_with(same.result_storage(), same.event_storage())
        assert queue.completes_with(again.result_storage(), again.event_storage())
        assert not queue.completes_with(other.result_storage(), same.event_storage())
        assert not queue.completes_with(same.result_storage(), other.event_storage())
        assert not queue.completes_with(same.result_storage(), capped.event_storage())
        assert not queue.completes_with(memory.result_storage(), same.event_storage())
    finally:
        for backend in (same, again, other, capped, memory):
            await backend.close()


async def test_a_batch_is_one_script_call_applied_lease_by_lease(stores: Stores) -> None:
    first = await claim(stores)
    second = await claim(stores, queue="c2")
    stale = await claim(stores)
    lost = Completion(
        lease=Lease(
            task_id=stale.task.id,
            token=stale.lease.token + "x",
            expires_at=stale.lease.expires_at,
            attempt=1,
            delivery=1,
        ),
        action=CompletionAction.ACK,
        events=(unchecked_event(EventType.COMPLETED, stale.task.id, queue="c"),),
    )
    await stores.queue.complete([done(first)])  # the script is loaded now
    third = await claim(stores)
    before = await evalsha_calls(stores)
    assert await stores.queue.complete([done(second), lost, done(third)]) == [True, False, True]
    assert await evalsha_calls(stores) - before == 1
    for claimed in (second, third):
        assert await stores.queue.get(claimed.task.id) is None
        assert await trail(stores, claimed.task.id) == [EventType.COMPLETED]
    info = await stores.queue.get(stale.task.id)
    assert info is not None and info.state is TaskState.ACTIVE
    assert await trail(stores, stale.task.id) == []


async def test_a_refused_result_refuses_the_whole_completion(stores: Stores) -> None:
    claimed = await claim(stores)
    newer = TaskResult(task_id=claimed.task.id, status=ResultStatus.SUCCESS, delivery=9)
    assert await stores.results.store(newer) is True
    assert await stores.queue.complete([done(claimed)]) == [False]
    assert await stores.results.get(claimed.task.id) == newer
    assert await trail(stores, claimed.task.id) == []
    info = await stores.queue.get(claimed.task.id)
    assert info is not None and info.state is TaskState.ACTIVE


async def test_dead_letter_and_retry_keep_their_reason_and_error(stores: Stores) -> None:
    dead = await claim(stores, max_retries=3)
    retried = await claim(stores, max_retries=3)
    later = utcnow() + timedelta(seconds=60)
    applied = await stores.queue.complete(
        [
            Completion(lease=dead.lease, action=CompletionAction.DEAD_LETTER, reason="gave up"),
            Completion(
                lease=retried.lease, action=CompletionAction.RETRY, retry_at=later, error="E: x"
            ),
        ]
    )
    assert applied == [True, True]
    dead_info = await stores.queue.get(dead.task.id)
    assert dead_info is not None and dead_info.state is TaskState.DEAD
    assert dead_info.last_error == "gave up"
    retry_info = await stores.queue.get(retried.task.id)
    assert retry_info is not None and retry_info.state is TaskState.PENDING
    assert (retry_info.last_error, retry_info.attempt) == ("E: x", 1)
    (stats,) = await stores.queue.stats(["c"])
    assert (stats.delayed, stats.dead) == (1, 1)


async def test_waiters_are_woken(stores: Stores) -> None:
    claimed = await claim(stores, max_retries=1)
    waiting_result = asyncio.create_task(stores.results.wait(claimed.task.id, 20))
    await asyncio.sleep(0.1)
    assert await stores.queue.complete([done(claimed)]) == [True]
    assert await asyncio.wait_for(waiting_result, 5) is not None
    retried = await claim(stores, queue="wake", max_retries=1)
    waiting_worker = asyncio.create_task(stores.queue.wait_for_work(["wake"], 20))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    retry = Completion(lease=retried.lease, action=CompletionAction.RETRY, retry_at=utcnow())
    assert await stores.queue.complete([retry]) == [True]
    await asyncio.wait_for(waiting_worker, 10)
    assert time.monotonic() - started < 10  # woken, not the 20 s timeout


async def test_events_past_max_events_are_dropped_in_the_same_call(
    redis_server: RedisServer, key_prefix: str
) -> None:
    backend = open_backend(redis_server, key_prefix, max_events=3)
    try:
        stores = await open_stores(backend)
        claimed = [await claim(stores) for _ in range(5)]
        assert await stores.queue.complete([done(c) for c in claimed]) == [True] * 5
        kept = await stores.events.query(EventQuery(limit=100))
        assert len(kept) == 3
    finally:
        await backend.close()
