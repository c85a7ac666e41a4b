"""A real redis-server for the tests: started on 127.0.0.1 on a free port in a temp dir, stopped
at the end. Missing redis-server skips locally and fails under CI."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from omniq.testing import server_unavailable
from omniq_redis.testing import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        server_unavailable("redis-server is not on PATH (Debian package redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def key_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
