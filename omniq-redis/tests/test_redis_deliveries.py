"""Deliveries on Redis: each claim counts one in the task's hash, never reset, and a hash written
by the previous version (no ``deliveries`` field) counts its attempts as their lower bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import omniq
import pytest
import pytest_asyncio
from omniq.models import Task, TaskState
from omniq_redis.task_queue import RedisTaskQueue
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def queue(redis_server: RedisServer, key_prefix: str) -> AsyncIterator[RedisTaskQueue]:
    backend = omniq.load_backend("redis", url=redis_server.url, key_prefix=key_prefix)
    task_queue = backend.task_queue()
    assert isinstance(task_queue, RedisTaskQueue)
    await task_queue.connect()
    yield task_queue
    await backend.close()


def task_key(queue: RedisTaskQueue, task: Task) -> str:
    return queue.keys.queue(task.queue).task_prefix + task.id


async def forget_deliveries(queue: RedisTaskQueue, task: Task, attempt: int) -> None:
    """Make the task's hash look like one the previous version wrote: no deliveries field."""
    client: Any = queue.redis.client
    await client.hdel(task_key(queue, task), "deliveries")
    await client.hset(task_key(queue, task), "attempt", attempt)


async def test_a_hash_without_deliveries_counts_its_attempts_as_deliveries(
    queue: RedisTaskQueue,
) -> None:
    task = Task(func="m:f", queue="legacy", max_retries=5)
    await queue.enqueue(task)
    (first,) = await queue.claim(["legacy"], limit=1, lease_seconds=30, worker_id="w")
    assert await queue.nack(first.lease, retry_at=first.lease.expires_at.replace(year=2000))
    await forget_deliveries(queue, task, attempt=3)
    info = await queue.get(task.id)
    assert info is not None and info.deliveries == 3
    (second,) = await queue.claim(["legacy"], limit=1, lease_seconds=30, worker_id="w")
    assert (second.lease.attempt, second.lease.delivery) == (4, 4)
    info = await queue.get(task.id)
    assert info is not None and info.deliveries == 4


async def test_recovery_of_a_hash_without_deliveries_uses_its_attempts(
    queue: RedisTaskQueue,
) -> None:
    task = Task(func="m:f", queue="legacy")
    await queue.enqueue(task)
    await queue.claim(["legacy"], limit=1, lease_seconds=0.2, worker_id="w")
    await forget_deliveries(queue, task, attempt=5)
    await asyncio.sleep(0.4)
    (recovered,) = await queue.recover_expired(max_deliveries=5)
    assert (recovered.delivery, recovered.dead) == (5, True)
    info = await queue.get(task.id)
    assert info is not None and info.state is TaskState.DEAD and info.deliveries == 5
    assert info.last_error is not None and "5 deliveries" in info.last_error


async def test_requeue_dead_keeps_a_legacy_hash_deliveries(queue: RedisTaskQueue) -> None:
    task = Task(func="m:f", queue="legacy")
    await queue.enqueue(task)
    (claimed,) = await queue.claim(["legacy"], limit=1, lease_seconds=30, worker_id="w")
    assert await queue.dead_letter(claimed.lease, reason="test")
    await forget_deliveries(queue, task, attempt=7)
    assert await queue.requeue_dead("legacy") == 1
    (again,) = await queue.claim(["legacy"], limit=1, lease_seconds=30, worker_id="w")
    assert (again.lease.attempt, again.lease.delivery) == (1, 8)


async def test_extend_keeps_the_delivery(queue: RedisTaskQueue) -> None:
    await queue.enqueue(Task(func="m:f", queue="ext"))
    (claimed,) = await queue.claim(["ext"], limit=1, lease_seconds=30, worker_id="w")
    (renewed,) = await queue.extend([claimed.lease], 60)
    assert renewed is not None and renewed.delivery == claimed.lease.delivery == 1
