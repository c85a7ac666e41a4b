"""End-to-end conformance with real worker processes: every task runs to completion exactly
once across several ``omniq worker`` processes, and SIGKILLed workers lose no task; and
:func:`assert_outage_loses_nothing`, which puts a store through an outage (a server restart, its
connections dropped) while worker processes run, with OmniQ's default settings.

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
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pytest

from omniq.models.event import EventType
from omniq.runtime.sync_app import OmniQ
from omniq.storage import Capability, Role
from omniq.testing._base import ConformanceBase
from omniq.testing.processes import WorkerProcess, count_runs, use_task_module

__all__ = ["WorkerProcessesConformance", "assert_outage_loses_nothing", "wait_until_drained"]


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


def _outcome(oq: OmniQ, task_id: str) -> object:
    """The task's result value, or what getting it raised (a failure, no result)."""
    try:
        return oq.get_result(task_id, timeout=10)
    except Exception as error:  # reported with the rest of the figures
        return error


def assert_outage_loses_nothing(
    store_env: Mapping[str, str],
    outage: Callable[[], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    count: int = 600,
    processes: int = 2,
    concurrency: int = 4,
    lease_seconds: float = 2.0,
    drain_timeout: float = 120,
) -> None:
    """Run ``count`` short tasks on ``processes`` worker processes, call ``outage`` once some
    were acknowledged, and assert that every task then completes with its own result, each ran,
    the workers carried on (exit 0 on SIGTERM) and nothing is left pending, active or dead.

    ``store_env`` holds the ``OMNIQ_*`` variables that point every role at the store (set here
    too); ``outage`` does the damage and returns once the store is back (e.g. stop a server,
    wait, start it on the same data). Tasks use the default ``max_retries=0``: an outage must
    not count as a failed attempt, so one task failed or dead-lettered fails the test. The one
    setting changed is the lease, ``lease_seconds`` (30 s by default): a task whose completion
    the outage cut off comes back when its lease runs out, and a short lease makes that happen
    within the test and more often (more redeliveries race the workers' late completions), so
    the test is stricter, not looser. No client of this process is open during the outage.
    """
    used = use_task_module(
        tmp_path, monkeypatch, {**store_env, "OMNIQ_LEASE_SECONDS": str(lease_seconds)}
    )
    env, runs, tasks = used.env, used.runs, used.module
    workers: list[WorkerProcess] = []
    try:
        with OmniQ(workers=0) as oq:
            ids = oq.enqueue_many([(tasks.record, (n, 0.01)) for n in range(count)])
            workers = [
                WorkerProcess(env, cwd=tmp_path, concurrency=concurrency) for _ in range(processes)
            ]
            deadline = time.monotonic() + 120
            left = count  # not yet acknowledged: pending or active
            while left > count - count // 6:
                assert time.monotonic() < deadline, "the workers never got going"
                for worker in workers:
                    assert worker.process.poll() is None, f"worker died:\n{worker.output()}"
                time.sleep(0.05)
                stats = oq.queue_sizes(["default"]).get("default")
                left = 0 if stats is None else stats.pending + stats.active
            for worker in workers:  # the outage is mid-run for each, not during its start-up
                worker.wait_for_output("worker process running", timeout=120)
        outage()
        with OmniQ(workers=0) as oq:
            wait_until_drained(oq, workers, timeout=drain_timeout)
            outcomes = [_outcome(oq, task_id) for task_id in ids]
            stats = oq.queue_sizes(["default"]).get("default")
        assert [w.stop() for w in workers] == [0] * processes
    finally:
        for worker in workers:
            worker.close()
    assert left > 0, f"the outage came after all {count} tasks were acknowledged"
    wrong = {n: outcome for n, outcome in enumerate(outcomes) if outcome != n}
    example = dict(list(wrong.items())[:5])
    assert wrong == {}, f"{len(wrong)} of {count} tasks without their result, e.g. {example}"
    assert set(count_runs(runs)) == set(range(count))
    assert stats is None or stats.pending + stats.active + stats.dead == 0, stats


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
    ) -> tuple[dict[str, str], Path, ModuleType]:
        if self.backend_name:  # in BackendConformance: only for a multi-process task queue
            backend = request.getfixturevalue("backend_factory")()
            declared = backend.capabilities(Role.TASK_QUEUE)
            asyncio.run(backend.close())
            if Capability.MULTI_PROCESS not in declared:
                pytest.skip(
                    f"backend {self.backend_name!r} does not declare 'multi_process' for task_queue"
                )
        worker_env: dict[str, str] = request.getfixturevalue("worker_env")
        used = use_task_module(
            tmp_path, monkeypatch, {"OMNIQ_LEASE_SECONDS": str(self.lease_seconds), **worker_env}
        )
        return used.env, used.runs, used.module

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
            calls: list[tuple[object, ...]] = [(tasks.record, (n, 0.02)) for n in range(count)]
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
