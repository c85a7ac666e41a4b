"""A nats-server restart mid-run (file storage) loses no acknowledged task, with OmniQ's default
settings. (4 worker processes through 20,000 tasks and SIGKILLed workers: the conformance
suite's worker-process tests, in test_conformance.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from omniq.testing.workers import assert_outage_loses_nothing
from omniq_nats.testing import NATSServer

pytestmark = pytest.mark.slow


@pytest.mark.chaos
@pytest.mark.timeout(300)
def test_a_server_restart_mid_run_loses_no_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = NATSServer(tmp_path / "nats")

    def restart() -> None:
        server.stop()  # mid-run: file storage keeps every write the server acknowledged
        time.sleep(1.0)
        server.start()  # the same port and store

    (tmp_path / "nats").mkdir()
    server.start()
    try:
        store = {"OMNIQ_TASK_QUEUE_TYPE": "nats", "OMNIQ_TASK_QUEUE_URL": server.url}
        assert_outage_loses_nothing(store, restart, tmp_path, monkeypatch)
    finally:
        server.stop()
