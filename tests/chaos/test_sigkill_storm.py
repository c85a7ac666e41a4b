"""At-least-once delivery with the default settings: three worker processes, one of them
SIGKILLed (and started again) every 2 s while 3,000 short tasks run, lose no task.

A killed worker's tasks come back only when their leases run out: 30 s, the default, which the
test waits for instead of shortening. Duplicate runs are allowed (at-least-once) and reported.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

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
KILL_EVERY = 2.0
TASK_SECONDS = 0.1
"""A short function, long enough that the 3,000 tasks (30 run at once) take 10 s at full speed:
five kill periods on a fast machine."""
STORM_LIMIT = 40.0
"""Kills stop once every task was claimed or after this long (a slow machine, whose restarts
take most of each period), whichever comes first; the rest then drains."""


@pytest.mark.timeout(300)
def test_a_sigkill_every_two_seconds_loses_no_task(
    backend: str, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    tasks = importlib.import_module(TASK_MODULE)
    runs = Path(chaos_env["OMNIQ_E2E_RUNS"])
    started = time.monotonic()
    with OmniQ(workers=0) as oq:
        ids = oq.enqueue_many([(tasks.record, (n, TASK_SECONDS)) for n in range(TASKS)])

        def start() -> WorkerProcess:
            return WorkerProcess(chaos_env, cwd=tmp_path, concurrency=DEFAULT_WORKERS)

        workers = [start() for _ in range(PROCESSES)]
        every = list(workers)
        kills = 0
        try:
            next_kill = time.monotonic() + KILL_EVERY
            # kill while tasks wait to be claimed; then the last kills' leases run out
            while (
                oq.queue_sizes(["default"])["default"].pending > 0
                and time.monotonic() - started < STORM_LIMIT
            ):
                if time.monotonic() >= next_kill:
                    victim = kills % PROCESSES
                    workers[victim].kill()
                    workers[victim] = start()
                    every.append(workers[victim])
                    kills += 1
                    next_kill += KILL_EVERY
                time.sleep(0.05)
            storm = time.monotonic() - started
            wait_until_drained(oq, workers, timeout=150)
            assert [w.stop() for w in workers] == [0] * PROCESSES
        finally:
            for worker in every:
                worker.close()
        results = {task_id: oq.get_task_result(task_id) for task_id in ids}
        dead = oq.list_tasks("default", TaskState.DEAD, limit=TASKS)
    ran = count_runs(runs)
    succeeded = {i for i, r in results.items() if r and r.status is ResultStatus.SUCCESS}
    lost = len(set(ids) - (succeeded - {info.task.id for info in dead}))
    missing = TASKS - len(succeeded)
    reasons = sorted({info.last_error or "" for info in dead})
    figures = (
        f"{backend}: {kills} kills in {storm:.0f} s, {time.monotonic() - started:.0f} s in all; "
        f"lost {lost} of {TASKS} ({len(dead)} dead: {reasons}), {missing} missing results, "
        f"{TASKS - len(ran)} never ran, {sum(t - 1 for t in ran.values())} duplicate runs"
    )
    print(figures)
    assert kills >= 3, figures  # the storm really happened
    assert (lost, missing, len(dead)) == (0, 0, 0), figures
