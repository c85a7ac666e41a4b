"""Worker processes sharing one SQLite file: each task runs once, and SIGKILLed workers lose
nothing (their tasks come back after the lease and complete)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from omniq import OmniQ
from omniq.models import EventType
from omniq.testing.processes import TASK_MODULE, WorkerProcess, count_runs, write_task_module

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class Setup:
    def __init__(self, directory: Path, env: dict[str, str], runs: Path, tasks: ModuleType):
        self.directory = directory
        self.env = env
        self.runs = runs
        self.tasks = tasks

    def worker(self, concurrency: int = 8) -> WorkerProcess:
        return WorkerProcess(self.env, cwd=self.directory, concurrency=concurrency)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    import importlib
    import sys

    runs = write_task_module(tmp_path)
    env = {
        "OMNIQ_TASK_QUEUE_TYPE": "sqlite",
        "OMNIQ_TASK_QUEUE_URL": f"sqlite:///{tmp_path / 'omniq.db'}",
        "OMNIQ_ALLOWED_MODULES": TASK_MODULE,
        "OMNIQ_LEASE_SECONDS": "2",
        "OMNIQ_E2E_RUNS": str(runs),
        "PYTHONPATH": str(tmp_path),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(TASK_MODULE, None)
    yield Setup(tmp_path, env, runs, importlib.import_module(TASK_MODULE))
    sys.modules.pop(TASK_MODULE, None)


def wait_until_drained(oq: OmniQ, workers: list[WorkerProcess], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = oq.queue_sizes(["default"]).get("default")
        if stats is None or stats.pending + stats.active == 0:
            return
        for worker in workers:
            assert worker.process.poll() is None, f"worker died:\n{worker.output()}"
        time.sleep(0.2)
    raise AssertionError("the workers did not drain the queue in time")


def test_four_worker_processes_run_each_of_20000_tasks_once(setup: Setup) -> None:
    count = 20_000
    with OmniQ(workers=0) as oq:
        ids = oq.enqueue_many([(setup.tasks.record, (n,)) for n in range(count)])
        workers = [setup.worker() for _ in range(4)]
        try:
            wait_until_drained(oq, workers)
            assert [w.stop() for w in workers] == [0, 0, 0, 0]
        finally:
            for worker in workers:
                worker.close()
        results = [oq.get_result(task_id, timeout=5) for task_id in ids]
    assert results == list(range(count))
    runs = count_runs(setup.runs)
    assert len(runs) == count
    assert {n for n, times in runs.items() if times != 1} == set()
    assert len(list(setup.runs.glob("runs-*.log"))) == 4  # every process took a share


def test_sigkilled_workers_lose_no_task(setup: Setup) -> None:
    count = 1_000
    with OmniQ(workers=0) as oq:
        ids = oq.enqueue_many(
            [(setup.tasks.record, (n, 0.02), {}, {"max_retries": 2}) for n in range(count)]
        )
        doomed = [setup.worker(concurrency=4) for _ in range(2)]
        deadline = time.monotonic() + 120
        while sum(count_runs(setup.runs).values()) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        for worker in doomed:
            worker.kill()  # mid-run: each holds up to 4 claimed tasks
        in_flight = oq.queue_sizes(["default"])["default"].active
        survivors = [setup.worker() for _ in range(2)]
        try:
            wait_until_drained(oq, survivors)
            assert [w.stop() for w in survivors] == [0, 0]
        finally:
            for worker in doomed + survivors:
                worker.close()
        results = [oq.get_result(task_id, timeout=5) for task_id in ids]
        expired = oq.query_events(event_types=[EventType.EXPIRED], limit=10_000)
    assert results == list(range(count))
    assert in_flight > 0 and len({e.task_id for e in expired}) >= in_flight
    runs = count_runs(setup.runs)
    assert set(runs) == set(range(count))
    # duplicates only for tasks in flight in a killed worker (4 per worker)
    assert sum(times - 1 for times in runs.values()) <= 8
