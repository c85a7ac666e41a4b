"""Bad option values and a server that went away raise OmniQ's errors, never redis-py's or a
bare ``ValueError``: the option and its range are named, the password is masked, on the sync and
the async API alike (against a real redis-server that is stopped mid-test)."""

from __future__ import annotations

import contextlib
import math
from operator import add
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq import AsyncOmniQ, OmniQ
from omniq.errors import BackendOptionError, StorageUnavailableError
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(120)

PASSWORD = "s3cret-pass"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"port": 99_999}, "Invalid port 99999: use an integer from 1 to 65,535"),
        ({"port": 0}, "Invalid port 0: use an integer from 1 to 65,535"),
        ({"db": -1}, "Invalid db -1: use an integer from 0 to 2,147,483,647"),
        ({"max_connections": 0}, "Invalid max_connections 0: use an integer from 1 to 10,000"),
        ({"max_events": 0}, "Invalid max_events 0: use an integer from 1 to"),
        ({"socket_timeout": math.nan}, "Invalid socket_timeout nan: use a number of seconds > 0"),
        ({"socket_timeout": math.inf}, "Invalid socket_timeout inf: use a number of seconds > 0"),
        ({"socket_connect_timeout": -1}, "Invalid socket_connect_timeout -1.0: use a number"),
        ({"event_ttl": math.inf}, "Invalid event_ttl inf: use a number of seconds > 0"),
    ],
)
def test_bad_option_values_name_the_option_and_the_range(
    options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(BackendOptionError) as caught:
        omniq.load_backend("redis", **options)
    assert expected in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{PASSWORD}@localhost:99999/0",
        f"redis://:{PASSWORD}@localhost:http/0",
        f"redis://user:{PASSWORD}@localhost:0/0",
    ],
)
def test_a_url_with_a_bad_port_is_refused_with_the_password_masked(url: str) -> None:
    # urllib raised a bare "ValueError: Port out of range 0-65535" when redis-py parsed it
    with pytest.raises(BackendOptionError) as caught:
        omniq.load_backend(url)
    message = str(caught.value)
    assert "port is an integer from 1 to 65,535" in message
    assert PASSWORD not in message
    assert ":***@localhost" in message


def test_a_url_with_a_bad_database_number_is_refused() -> None:
    with pytest.raises(BackendOptionError, match="database number from 0 to"):
        omniq.load_backend("redis://localhost:6379/zero")


def test_a_bad_url_port_through_the_configuration_is_refused_too() -> None:
    config = omniq.OmniQConfig.from_env({"OMNIQ_TASK_QUEUE_URL": "redis://localhost:70000/0"})
    app = OmniQ(config, workers=0)
    with pytest.raises(BackendOptionError, match="port is an integer from 1 to 65,535"):
        app.start()


def _assert_unavailable(caught: pytest.ExceptionInfo[StorageUnavailableError], port: int) -> None:
    message = str(caught.value)
    assert f"Cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in message
    assert "Check that redis-server runs there" in message
    assert PASSWORD not in message
    assert caught.value.__cause__ is not None  # redis-py's error is chained for the traceback


def test_sync_api_with_the_server_stopped_raises_storage_unavailable(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password=PASSWORD, appendonly=True)
    server.start()
    port = server.port
    oq = OmniQ(backend=omniq.load_backend(server.url), workers=0)
    try:
        task_id = oq.enqueue(add, 1, 2)
        server.stop()
        calls = {
            "enqueue": lambda: oq.enqueue(add, 1, 2),
            "enqueue_many": lambda: oq.enqueue_many([(add, (1, 2), {})]),
            "get_result": lambda: oq.get_result(task_id, timeout=1),
            "get_task": lambda: oq.get_task(task_id),
            "get_events": lambda: oq.get_events(task_id),
            "queue_sizes": lambda: oq.queue_sizes(),
            "schedule": lambda: oq.schedule(add, 1, 2, interval=60),
        }
        for call in calls.values():
            with pytest.raises(StorageUnavailableError) as caught:
                call()
            _assert_unavailable(caught, port)
        server.start()  # same port: the app's pools reconnect
        assert server.port == port
        assert oq.get_task(task_id) is not None
        assert oq.enqueue(add, 3, 4)
    finally:
        server.stop()
        with contextlib.suppress(StorageUnavailableError):
            oq.close()  # events buffered while the server was away may not be stored


async def test_async_api_with_the_server_stopped_raises_storage_unavailable(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path, password=PASSWORD, appendonly=True)
    server.start()
    port = server.port
    oq = AsyncOmniQ(backend=omniq.load_backend(server.url), workers=0)
    await oq.start()
    try:
        task_id = await oq.enqueue(add, 1, 2)
        server.stop()
        calls = {
            "enqueue": lambda: oq.enqueue(add, 1, 2),
            "get_result": lambda: oq.get_result(task_id, timeout=1),
            "get_task": lambda: oq.get_task(task_id),
            "get_events": lambda: oq.get_events(task_id),
            "cancel": lambda: oq.cancel(task_id),
            "schedule": lambda: oq.schedule(add, 1, 2, interval=60),
        }
        for call in calls.values():
            with pytest.raises(StorageUnavailableError) as caught:
                await call()
            _assert_unavailable(caught, port)
        server.start()
        assert await oq.get_task(task_id) is not None
    finally:
        server.stop()
        with contextlib.suppress(StorageUnavailableError):
            await oq.close()
