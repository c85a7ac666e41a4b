"""Redis-specific promises: clear errors for bad servers and credentials (password masked),
warnings for settings that lose tasks, key prefixes that keep apps apart, and acknowledged
enqueues that survive a server restart with appendonly."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq.errors import ConfigurationError, StorageError
from omniq.models import Task, TaskState
from omniq_redis.testing import RedisServer, free_port

pytestmark = pytest.mark.timeout(60)


async def open_queue(url: str, **options: Any) -> Any:
    backend = omniq.load_backend(url, **options)
    queue = backend.task_queue()
    try:
        await queue.connect()
    except BaseException:
        await backend.close()
        raise
    return backend, queue


async def test_wrong_password_is_a_clear_error_with_the_password_masked(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path, password="s3cret-pass")
    server.start()
    try:
        with pytest.raises(StorageError) as caught:
            await open_queue(f"redis://:wrong-pass@127.0.0.1:{server.port}/0")
        message = str(caught.value)
        assert "refused the credentials" in message
        assert "wrong-pass" not in message
        backend, queue = await open_queue(server.url)
        assert await queue.enqueue(Task(func="m:f")) is True
        await backend.close()
    finally:
        server.stop()


async def test_unreachable_host_fails_within_the_connect_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(StorageError, match="Cannot reach Redis"):
        await open_queue(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    assert time.monotonic() - started < 30


async def test_a_port_that_does_not_speak_redis_is_reported() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer_garbage() -> None:
        try:
            conn, _ = listener.accept()
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            time.sleep(0.5)
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        with pytest.raises((StorageError, Exception)) as caught:
            await open_queue(f"redis://127.0.0.1:{port}/0", socket_timeout=2)
        assert "Redis" in str(caught.value) or "protocol" in str(caught.value).lower()
    finally:
        listener.close()


def test_a_bad_url_scheme_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigurationError, match="rediss://"):
        omniq.load_backend("redis", url="http://localhost:6379")


async def test_settings_that_lose_tasks_are_reported(redis_server: RedisServer) -> None:
    backend, queue = await open_queue(redis_server.url)
    try:
        warnings = queue.server_warnings()
        assert any("persistence is off" in w for w in warnings)  # the test server has none
    finally:
        await backend.close()


async def test_key_prefixes_keep_apps_apart(redis_server: RedisServer) -> None:
    first, queue_a = await open_queue(redis_server.url, key_prefix="app-a")
    second, queue_b = await open_queue(redis_server.url, key_prefix="app-b")
    try:
        task = Task(func="m:f", queue="shared")
        assert await queue_a.enqueue(task) is True
        assert await queue_b.get(task.id) is None
        assert await queue_b.claim(["shared"], limit=5, lease_seconds=5, worker_id="w") == []
        (stats,) = await queue_a.stats(["shared"])
        assert stats.ready == 1
    finally:
        await first.close()
        await second.close()


async def test_acknowledged_enqueues_survive_a_restart_with_appendonly(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    tasks = [Task(func="m:f", payload=str(i).encode()) for i in range(200)]
    try:
        backend, queue = await open_queue(server.url)
        assert await queue.enqueue_many(tasks) == 200
        await backend.close()
        server.stop()  # SIGTERM; appendfsync always: every acknowledged write is on disk
        port = server.port
        server.start()
        assert server.port == port
        backend, queue = await open_queue(server.url)
        infos = [await queue.get(t.id) for t in tasks]
        assert all(i is not None and i.state is TaskState.PENDING for i in infos)
        claimed = await queue.claim(["default"], limit=500, lease_seconds=5, worker_id="w")
        assert sorted(c.task.id for c in claimed) == sorted(t.id for t in tasks)
        await backend.close()
    finally:
        server.stop()


def test_omniq_status_reports_the_warnings(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from omniq.cli import main

    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "redis")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", redis_server.url)
    assert main(["status", "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert any("appendonly yes" in w for w in warnings)
