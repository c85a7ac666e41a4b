"""Mixed roles in one app, end to end with real servers: the queue on Redis with results and
events on PostgreSQL, and the reverse. Every task's result comes back from the other store and
its lifecycle events are queryable there."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from omniq import OmniQ
from omniq.models.config import OmniQConfig, StorageBackendConfig
from omniq.models.event import EventType
from omniq.testing import server_unavailable
from omniq.testing.processes import TASK_MODULE, use_task_module


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    from omniq_postgres.testing import PostgresServer, find_binaries
    from omniq_redis.testing import RedisServer

    if shutil.which("redis-server") is None:
        server_unavailable("redis-server is not on PATH (Debian package redis-server)")
    if find_binaries() is None:
        server_unavailable("PostgreSQL is not installed (Debian package postgresql)")
    redis = RedisServer(tmp_path_factory.mktemp("redis"))
    redis.start()
    postgres = PostgresServer()
    try:
        postgres.start()
        yield redis, postgres
    finally:
        postgres.destroy()
        redis.stop()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("queue_on", ["redis", "postgres"])
def test_queue_on_one_server_results_and_events_on_the_other(
    queue_on: str, servers: tuple[Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis, postgres = servers
    tag = uuid.uuid4().hex[:10]
    on_redis = StorageBackendConfig("redis", redis.url, {"key_prefix": f"m{tag}"})
    on_postgres = StorageBackendConfig("postgres", postgres.dsn(), {"schema": f"m{tag}"})
    queue, other = (on_redis, on_postgres) if queue_on == "redis" else (on_postgres, on_redis)
    used = use_task_module(tmp_path, monkeypatch)
    tasks = used.module
    config = OmniQConfig(
        task_queue_backend=queue,
        result_storage_backend=other,
        event_storage_backend=other,
        schedule_storage_backend=queue,
        allowed_modules=[TASK_MODULE],
        workers=4,
    )
    with OmniQ(config) as oq:
        ids = oq.enqueue_many([(tasks.record, (n,)) for n in range(50)])
        results = [oq.get_result(task_id, timeout=30) for task_id in ids]
        assert type(oq.stores.results).__module__.startswith(f"omniq_{other.backend_type}")
        assert type(oq.stores.task_queue).__module__.startswith(f"omniq_{queue.backend_type}")
        kinds = [e.event_type for e in oq.get_events(ids[0])]
    assert results == list(range(50))
    assert EventType.ENQUEUED in kinds and EventType.COMPLETED in kinds, kinds
