"""Retention on Redis: a purge drops exactly the events older than its cutoff (their records
and per-task index entries too), in batches; results expire by their native TTL, so
``purge_expired`` has nothing to do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import omniq
import pytest
import pytest_asyncio
from omniq._time import utcnow
from omniq.models import EventQuery, EventType
from omniq.models.unchecked import unchecked_event
from omniq_redis.events import PURGE_BATCH, RedisEventStorage
from omniq_redis.options import RedisOptions
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def backend(redis_server: RedisServer, key_prefix: str) -> AsyncIterator[Any]:
    opened = omniq.load_backend("redis", url=redis_server.url, key_prefix=key_prefix)
    yield opened
    await opened.close()


async def test_a_purge_drops_exactly_the_older_events_in_batches(backend: Any) -> None:
    events = backend.event_storage()
    assert isinstance(events, RedisEventStorage)
    await events.connect()
    cutoff = utcnow() - timedelta(hours=1)
    old = [
        unchecked_event(
            EventType.COMPLETED, f"old{i % 7}", queue="q", timestamp=cutoff - timedelta(seconds=i)
        )
        for i in range(1, PURGE_BATCH * 2 + 500)
    ]
    new = [unchecked_event(EventType.COMPLETED, "new", queue="q") for _ in range(3)]
    await events.append_many(old)
    await events.append_many(new)
    assert await events.purge(cutoff) == len(old)
    assert [e.id for e in await events.query(EventQuery(limit=10_000))] == [e.id for e in new]
    client: Any = events.redis.client
    assert await client.hlen(events.keys.event_data) == len(new)
    for i in range(7):
        assert await client.zcard(events.keys.events_of(f"old{i}")) == 0
    assert await events.purge(cutoff) == 0


async def test_results_expire_by_ttl_so_purge_expired_has_nothing_to_do(backend: Any) -> None:
    results = backend.result_storage()
    await results.connect()
    assert await results.purge_expired() == 0


def test_the_documented_event_limits_are_the_defaults() -> None:
    options = RedisOptions()
    assert options.max_events == 1_000_000
    assert options.event_ttl == 7 * 24 * 3600
