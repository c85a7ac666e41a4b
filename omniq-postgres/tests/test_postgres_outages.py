"""Dropped connections and server restarts mid-run, with worker processes and OmniQ's default
settings (a short lease only, so that a task whose completion was cut off comes back soon):
``pg_ctl restart -m fast`` and ``pg_terminate_backend`` of every OmniQ connection lose no
acknowledged task, leave none stuck, and the workers carry on without a restart."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from omniq import OmniQ
from omniq.testing.processes import TASK_MODULE, WorkerProcess, count_runs, write_task_module
from omniq.testing.workers import wait_until_drained
from omniq_postgres.testing import PostgresServer, find_binaries

pytestmark = pytest.mark.slow

COUNT = 600
TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE application_name = 'omniq' AND pid <> pg_backend_pid()"
)


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A cluster of these tests alone (one is restarted); each test has a schema of its own."""
    if find_binaries() is None:
        from omniq.testing import server_unavailable

        server_unavailable("PostgreSQL is not installed (Debian package postgresql)")
    server = PostgresServer()
    server.start()
    yield server
    server.destroy()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("outage", ["restart", "terminate"])
def test_an_outage_mid_run_loses_no_acknowledged_task(
    outage: str, own_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = write_task_module(tmp_path)
    env = {
        "OMNIQ_TASK_QUEUE_TYPE": "postgres",
        "OMNIQ_TASK_QUEUE_URL": own_server.dsn(),
        "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"schema": "outage_{outage}"}}',
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
    workers: list[WorkerProcess] = []
    try:
        with OmniQ(workers=0) as oq:
            ids = oq.enqueue_many([(tasks.record, (n, 0.01)) for n in range(COUNT)])
            workers = [WorkerProcess(env, cwd=tmp_path, concurrency=4) for _ in range(2)]
            while sum(count_runs(runs).values()) < 100:
                time.sleep(0.05)
            acknowledged = {n for n in range(COUNT) if oq.get_task(ids[n]) is None}
            if outage == "restart":
                own_server.restart()
            else:
                for _ in range(3):  # again, as the pools reconnect
                    own_server.execute(TERMINATE)
                    time.sleep(0.3)
            wait_until_drained(oq, workers, timeout=150)
            results = [oq.get_result(task_id, timeout=10) for task_id in ids]
            sizes = oq.queue_sizes(["default"])
        assert [w.stop() for w in workers] == [0, 0]
    finally:
        for worker in workers:
            worker.close()
        sys.modules.pop(TASK_MODULE, None)
    assert acknowledged, "the outage came before any task was acknowledged"
    assert results == list(range(COUNT))
    assert set(count_runs(runs)) == set(range(COUNT))
    stats = sizes.get("default")
    assert stats is None or stats.pending + stats.active + stats.dead == 0
