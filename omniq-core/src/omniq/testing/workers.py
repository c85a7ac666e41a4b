"""End-to-end conformance with real worker processes: every task runs to completion exactly
once across several ``omniq worker`` processes, and SIGKILLed workers lose no task.

Part of :class:`~omniq.testing.BackendConformance` (with smaller counts), run when the task
queue declares ``MULTI_PROCESS``: the workers get every role from ``backend_name`` and the
``backend_options`` fixture. On its own, subclass :class:`WorkerProcessesConformance` and
override ``worker_env`` with the ``OMNIQ_*`` variables that point the roles at the store::

    class TestMyWorkers(WorkerProcessesConformance):
        @pytest.fixture
        def worker_env(self, tmp_path):
            return {"OMNIQ_TASK_QUEUE_URL": f"mine://{tmp_path}"}

These tests need pytest-timeout (in ``omniq-core[testing]``).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pytest

from omniq.models.event import EventType
from omniq.runtime.sync_app import OmniQ
from omniq.storage import Capability, Role
from omniq.testing._base import ConformanceBase
from omniq.testing.processes import TASK_MODULE, WorkerProcess, count_runs, write_task_module

__all__ = ["WorkerProcessesConformance", "wait_until_drained"]


def wait_until_drained(oq: OmniQ, workers: list[WorkerProcess], timeout: float = 300) -> None:
    """Wait until the default queue has nothing pending or active; fail if a worker died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = oq.queue_sizes(["default"]).get("default")
        if stats is None or stats.pending + stats.active == 0:
            return
        for worker in workers:
            assert worker.process.poll() is None, f"worker died:\n{worker.output()}"
        time.sleep(0.2)
    raise AssertionError("the workers did not drain the queue in time")


class WorkerProcessesConformance(ConformanceBase):
    """Real ``omniq worker`` processes sharing one store."""

    task_count: ClassVar[int] = 20_000
    sigkill_task_count: ClassVar[int] = 1_000
    processes: ClassVar[int] = 4
    concurrency: ClassVar[int] = 8
    lease_seconds: ClassVar[float] = 2.0
    """Leases in the SIGKILL test: short, so killed workers' tasks come back soon."""
    steady_lease_seconds: ClassVar[float] = 30.0
    """Leases in the run-once test: long, so that on a starved machine (CI, other load) a late
    extension cannot let a lease run out and a task run twice, which at-least-once allows."""

    @pytest.fixture
    def e2e(
        self,
        tmp_path: Path,
        request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[tuple[dict[str, str], Path, ModuleType]]:
        if self.backend_name:  # in BackendConformance: only for a multi-process task queue
            backend = request.getfixturevalue("backend_factory")()
            declared = backend.capabilities(Role.TASK_QUEUE)
            asyncio.run(backend.close())
            if Capability.MULTI_PROCESS not in declared:
                pytest.skip(
                    f"backend {self.backend_name!r} does not declare 'multi_process' for task_queue"
                )
        worker_env: dict[str, str] = request.getfixturevalue("worker_env")
        runs = write_task_module(tmp_path)
        env = {
            "OMNIQ_ALLOWED_MODULES": TASK_MODULE,
            "OMNIQ_LEASE_SECONDS": str(self.lease_seconds),
            "OMNIQ_E2E_RUNS": str(runs),
            "PYTHONPATH": str(tmp_path),
            **worker_env,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.syspath_prepend(str(tmp_path))
        sys.modules.pop(TASK_MODULE, None)
        yield env, runs, importlib.import_module(TASK_MODULE)
        sys.modules.pop(TASK_MODULE, None)

    @pytest.mark.timeout(600)
    def test_worker_processes_run_each_task_once(
        self, e2e: tuple[dict[str, str], Path, ModuleType], tmp_path: Path
    ) -> None:
        env, runs, tasks = e2e
        env = {**env, "OMNIQ_LEASE_SECONDS": str(self.steady_lease_seconds)}
        count = self.task_count
        with OmniQ(workers=0) as oq:
            ids = oq.enqueue_many([(tasks.record, (n,)) for n in range(count)])
            workers = [
                WorkerProcess(env, cwd=tmp_path, concurrency=self.concurrency)
                for _ in range(self.processes)
            ]
            try:
                wait_until_drained(oq, workers)
                assert [w.stop() for w in workers] == [0] * self.processes
            finally:
                for worker in workers:
                    worker.close()
            results = [oq.get_result(task_id, timeout=5) for task_id in ids]
        assert results == list(range(count))
        ran = count_runs(runs)
        assert len(ran) == count
        assert {n for n, times in ran.items() if times != 1} == set()

    @pytest.mark.timeout(600)
    def test_sigkilled_workers_lose_no_task(
        self, e2e: tuple[dict[str, str], Path, ModuleType], tmp_path: Path
    ) -> None:
        env, runs, tasks = e2e
        count, per_worker = self.sigkill_task_count, 4
        with OmniQ(workers=0) as oq:
            calls: list[tuple[object, ...]] = [
                (tasks.record, (n, 0.02), {}, {"max_retries": 2}) for n in range(count)
            ]
            ids = oq.enqueue_many(calls)
            doomed = [WorkerProcess(env, cwd=tmp_path, concurrency=per_worker) for _ in range(2)]
            deadline = time.monotonic() + 120
            while sum(count_runs(runs).values()) < 100 and time.monotonic() < deadline:
                time.sleep(0.05)
            for worker in doomed:
                worker.kill()  # mid-run: each holds up to `per_worker` claimed tasks
            # a server may still commit what a killed worker sent just before (an ack): count
            # the tasks left active once that settled (no one recovers them before survivors)
            time.sleep(1.0)
            in_flight = oq.queue_sizes(["default"])["default"].active
            survivors = [WorkerProcess(env, cwd=tmp_path) for _ in range(2)]
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
        ran = count_runs(runs)
        assert set(ran) == set(range(count))
        # duplicates only for tasks a killed worker held (claimed, not yet acked)
        twice = {n: times for n, times in ran.items() if times > 1}
        assert sum(times - 1 for times in twice.values()) <= in_flight, (
            f"{len(twice)} tasks ran more than once, but only {in_flight} were held by the "
            f"killed workers; expired: {len({e.task_id for e in expired})}"
        )
