"""A redis-server restart (appendonly) in the middle of a run loses no acknowledged task, with
OmniQ's default settings (the worker-process conformance runs in ``test_conformance.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from omniq.testing.workers import assert_outage_loses_nothing
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_a_server_restart_mid_run_loses_no_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)

    def restart() -> None:
        server.stop()  # mid-run; appendfsync always keeps every acknowledged write
        time.sleep(1.0)
        server.start()  # the same port and data dir

    (tmp_path / "redis").mkdir()
    server.start()
    try:
        store = {"OMNIQ_TASK_QUEUE_TYPE": "redis", "OMNIQ_TASK_QUEUE_URL": server.url}
        assert_outage_loses_nothing(store, restart, tmp_path, monkeypatch)
    finally:
        server.stop()
