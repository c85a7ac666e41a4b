"""Redis results: the delivery compare-and-set reads results of every shape the store may hold
(written by this version, by the previous one without a delivery, by hand with the keys in
another order, a large payload), keeps the TTL, and a batch is one script call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import omniq
import orjson
import pytest
import pytest_asyncio
from omniq._time import utcnow
from omniq.ids import new_id
from omniq.models import ResultStatus, TaskResult
from omniq.serialization.records import dumps_record
from omniq_redis.results import RedisResultStorage
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def results(redis_server: RedisServer, key_prefix: str) -> AsyncIterator[RedisResultStorage]:
    backend = omniq.load_backend("redis", url=redis_server.url, key_prefix=key_prefix)
    storage = backend.result_storage()
    assert isinstance(storage, RedisResultStorage)
    await storage.connect()
    yield storage
    await backend.close()


def result(task_id: str, delivery: int, payload: bytes = b"1", **kw: Any) -> TaskResult:
    return TaskResult(
        task_id=task_id, status=ResultStatus.SUCCESS, payload=payload, delivery=delivery, **kw
    )


async def test_a_result_without_a_delivery_is_replaced_by_any_delivery(
    results: RedisResultStorage,
) -> None:
    """What the previous version wrote has no delivery field: it counts as delivery 0."""
    task_id = new_id()
    doc = orjson.loads(dumps_record(result(task_id, 0)))
    del doc["delivery"]
    await results.redis.client.set(results.keys.result(task_id), orjson.dumps(doc))
    assert await results.store(result(task_id, 1, b"new")) is True
    stored = await results.get(task_id)
    assert stored is not None and stored.payload == b"new"


async def test_a_record_with_the_delivery_elsewhere_is_still_compared(
    results: RedisResultStorage,
) -> None:
    task_id = new_id()
    doc = orjson.loads(dumps_record(result(task_id, 6)))
    reordered = {"delivery": doc.pop("delivery"), **doc}
    await results.redis.client.set(results.keys.result(task_id), orjson.dumps(reordered))
    assert await results.store(result(task_id, 5, b"stale")) is False
    assert await results.store(result(task_id, 6, b"same")) is True


async def test_a_large_payload_is_compared_by_its_delivery(results: RedisResultStorage) -> None:
    task_id = new_id()
    big = b"x" * 2_000_000
    assert await results.store(result(task_id, 3, big)) is True
    assert await results.store_many([result(task_id, 2, b"stale")]) == [False]
    stored = await results.get(task_id)
    assert stored is not None and stored.payload == big


async def test_the_ttl_is_kept_and_an_expired_result_is_dropped(
    results: RedisResultStorage,
) -> None:
    task_id, gone = new_id(), new_id()
    now = utcnow()
    assert await results.store(result(task_id, 1, expires_at=now + timedelta(seconds=60)))
    ttl = await results.redis.client.pttl(results.keys.result(task_id))
    assert 50_000 < ttl <= 60_000
    assert await results.store(result(gone, 1)) is True
    assert await results.store(result(gone, 2, expires_at=now - timedelta(seconds=1))) is True
    assert await results.redis.client.exists(results.keys.result(gone)) == 0


async def test_a_waiter_wakes_on_a_stored_result_and_not_on_a_refused_one(
    results: RedisResultStorage,
) -> None:
    task_id = new_id()
    waiting = asyncio.create_task(results.wait(task_id, 10))
    await asyncio.sleep(0.1)
    assert await results.store(result(task_id, 2)) is True
    got = await asyncio.wait_for(waiting, 5)
    assert got is not None and got.delivery == 2
    assert await results.store(result(task_id, 1)) is False


async def test_a_batch_is_one_script_call(results: RedisResultStorage) -> None:
    client = results.redis.client
    await results.store(result(new_id(), 1))  # the script is loaded now
    before = (await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
    batch = [result(new_id(), 1) for _ in range(100)]
    assert await results.store_many(batch) == [True] * 100
    after = (await client.info("commandstats"))["cmdstat_evalsha"]["calls"]
    assert after - before == 1
