"""Outcomes survive a store that is briefly away: redis-server stopped for 10 s in the middle of
a run (and started again on the same port and data dir, appendonly) loses no task, and no task
that ran successfully ends in the dead letters."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

import pytest
from omniq import OmniQ
from omniq.models.config import DEFAULT_WORKERS
from omniq.models.result import ResultStatus
from omniq.models.task import TaskState
from omniq.testing.processes import TASK_MODULE, WorkerProcess, count_runs
from omniq.testing.workers import wait_until_drained

pytestmark = pytest.mark.chaos

TASKS = 3_000
PROCESSES = 3
DOWN_FOR = 10.0
TASK_SECONDS = 0.05
"""Short tasks, long enough that the server goes down while workers hold many of them."""


@pytest.mark.parametrize("backend", ["redis"])
@pytest.mark.timeout(300)
def test_redis_down_for_ten_seconds_loses_no_outcome(
    backend: str, chaos_env: dict[str, str], redis_server: Any, tmp_path: Path
) -> None:
    tasks = importlib.import_module(TASK_MODULE)
    runs = Path(chaos_env["OMNIQ_E2E_RUNS"])
    started = time.monotonic()
    with OmniQ(workers=0) as oq:
        ids = oq.enqueue_many([(tasks.record, (n, TASK_SECONDS)) for n in range(TASKS)])
    workers = [
        WorkerProcess(chaos_env, cwd=tmp_path, concurrency=DEFAULT_WORKERS)
        for _ in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 120
        while sum(count_runs(runs).values()) < TASKS // 4:
            assert time.monotonic() < deadline, "the workers never got going"
            time.sleep(0.05)
        redis_server.stop()  # mid-run: SIGTERM, appendonly keeps every acknowledged write
        ran_before_outage = sum(count_runs(runs).values())
        time.sleep(DOWN_FOR)
        redis_server.start()  # the same port and data dir
        with OmniQ(workers=0) as oq:
            wait_until_drained(oq, workers, timeout=180)
            assert [w.stop() for w in workers] == [0] * PROCESSES
            results = {task_id: oq.get_task_result(task_id) for task_id in ids}
            dead = oq.list_tasks("default", TaskState.DEAD, limit=TASKS)
    finally:
        for worker in workers:
            worker.close()
    ran = count_runs(runs)
    succeeded = {i for i, r in results.items() if r and r.status is ResultStatus.SUCCESS}
    dead_ids = {info.task.id for info in dead}
    numbers = dict(zip(ids, range(TASKS), strict=True))
    ran_then_dead = {i for i in dead_ids if numbers[i] in ran}
    lost = len(set(ids) - (succeeded - dead_ids))
    reasons = sorted({info.last_error or "" for info in dead})
    figures = (
        f"{backend}: down {DOWN_FOR:.0f} s after {ran_before_outage} runs, "
        f"{time.monotonic() - started:.0f} s in all; lost {lost} of {TASKS} ({len(dead)} dead: "
        f"{reasons}, {len(ran_then_dead)} of them had run), {TASKS - len(succeeded)} without a "
        f"successful result, {sum(t - 1 for t in ran.values())} duplicate runs"
    )
    print(figures)
    assert (lost, len(ran_then_dead), len(dead)) == (0, 0, 0), figures
    assert succeeded == set(ids), figures
