"""Worker processes on one nats-server: each task runs once (4 processes, 20,000 tasks),
SIGKILLed workers lose nothing, and a server restart mid-run (file storage) loses no
acknowledged task."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from omniq import OmniQ
from omniq.testing.processes import TASK_MODULE, WorkerProcess, count_runs, write_task_module
from omniq.testing.workers import WorkerProcessesConformance, wait_until_drained
from omniq_nats.testing import NATSServer

pytestmark = pytest.mark.slow


class TestNATSWorkerProcesses(WorkerProcessesConformance):
    @pytest.fixture
    def worker_env(self, nats_server: Any, nats_prefix: str) -> dict[str, str]:
        return {
            "OMNIQ_TASK_QUEUE_URL": nats_server.url,
            "OMNIQ_TASK_QUEUE_TYPE": "nats",
            "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"prefix": "{nats_prefix}"}}',
        }


@pytest.mark.chaos
@pytest.mark.timeout(300)
def test_a_server_restart_mid_run_loses_no_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = NATSServer(tmp_path)
    server.start()
    runs = write_task_module(tmp_path)
    env = {
        "OMNIQ_TASK_QUEUE_TYPE": "nats",
        "OMNIQ_TASK_QUEUE_URL": server.url,
        "OMNIQ_ALLOWED_MODULES": TASK_MODULE,
        "OMNIQ_LEASE_SECONDS": "2",
        "OMNIQ_E2E_RUNS": str(runs),
        "PYTHONPATH": str(tmp_path),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(TASK_MODULE, None)
    tasks = importlib.import_module(TASK_MODULE)
    count = 600
    workers: list[WorkerProcess] = []
    try:
        with OmniQ(workers=0) as oq:
            ids = oq.enqueue_many(
                [(tasks.record, (n, 0.01), {}, {"max_retries": 5}) for n in range(count)]
            )
        workers = [WorkerProcess(env, cwd=tmp_path, concurrency=4) for _ in range(2)]
        while sum(count_runs(runs).values()) < 100:
            time.sleep(0.05)
        server.stop()  # mid-run: file storage keeps every write the server acknowledged
        time.sleep(1.0)
        server.start()
        with OmniQ(workers=0) as oq:
            wait_until_drained(oq, workers, timeout=120)
            results = [oq.get_result(task_id, timeout=10) for task_id in ids]
        assert [w.stop() for w in workers] == [0, 0]
    finally:
        for worker in workers:
            worker.close()
        server.stop()
        sys.modules.pop(TASK_MODULE, None)
    assert results == list(range(count))
    assert set(count_runs(runs)) == set(range(count))
