"""A worker started before its server (or during a restart) waits for it with a backoff, as
Celery's worker does for its broker; SIGTERM stops that wait; an error that waiting cannot mend
(credentials refused) ends the worker at once, naming the problem."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from omniq import OmniQ
from omniq.testing.processes import WorkerProcess, use_task_module
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.slow

RETRYING = "storage unavailable at start-up; retrying"


def _store(server: RedisServer) -> dict[str, str]:
    return {"OMNIQ_TASK_QUEUE_TYPE": "redis", "OMNIQ_TASK_QUEUE_URL": server.url}


@pytest.mark.timeout(180)
def test_a_worker_started_before_its_server_runs_tasks_once_it_is_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")  # its port is chosen; nothing listens there yet
    used = use_task_module(tmp_path, monkeypatch, _store(server))
    worker = WorkerProcess(used.env, cwd=tmp_path)
    try:
        worker.wait_for_output(RETRYING)
        assert worker.process.poll() is None, "the worker gave up on an unreachable server"
        server.start()
        try:
            with OmniQ(workers=0) as oq:
                task_id = oq.enqueue(used.module.record, 7)
                assert oq.get_result(task_id, timeout=60) == 7
            assert worker.stop() == 0
        finally:
            server.stop()
    finally:
        worker.close()
    assert "worker process running" in worker.output()


@pytest.mark.timeout(120)
def test_sigterm_ends_a_worker_waiting_for_its_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = RedisServer(tmp_path)  # never started
    used = use_task_module(tmp_path, monkeypatch, _store(server))
    worker = WorkerProcess(used.env, cwd=tmp_path)
    try:
        worker.wait_for_output(RETRYING)
        assert worker.stop(timeout=30) == 0
    finally:
        worker.close()
    assert "worker process running" not in worker.output()


@pytest.mark.timeout(120)
def test_refused_credentials_end_the_worker_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = RedisServer(tmp_path, password="right-password")
    server.start()
    try:
        wrong = server.url.replace("right-password", "wrong-password")
        env = {"OMNIQ_TASK_QUEUE_TYPE": "redis", "OMNIQ_TASK_QUEUE_URL": wrong}
        used = use_task_module(tmp_path, monkeypatch, env)
        worker = WorkerProcess(used.env, cwd=tmp_path)
        try:
            began = time.monotonic()
            code = worker.process.wait(timeout=60)
            waited = time.monotonic() - began
        finally:
            worker.close()
    finally:
        server.stop()
    output = worker.output()
    assert code != 0
    assert "refused the credentials" in output
    assert RETRYING not in output, f"retried for {waited:.1f} s an error waiting cannot mend"
    assert "wrong-password" not in output
