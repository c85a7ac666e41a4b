"""Fencing: a worker paused (SIGSTOP) past its lease while another worker re-ran and completed
its task, then resumed (SIGCONT), replaces no result and adds no event: 10 of 10 trials.

The ten trials run at once, one stale worker process each (``concurrency=1``), so each trial
races on its own: after SIGCONT the stale worker's task returns at the moment its overdue lease
extension fires, and either may be handled first.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from omniq import OmniQ
from omniq.models.config import DEFAULT_WORKERS
from omniq.models.event import EventType, TaskEvent
from omniq.models.result import ResultStatus
from omniq.testing.processes import TASK_MODULE, WorkerProcess

pytestmark = pytest.mark.chaos

TRIALS = 10
STALE_LEASE = "5"
"""The lease the stale workers (only) claim with. It decides only *when* their claims lapse;
the promise under test is what the stores do with a completion presented under a lapsed lease
that another worker has since superseded, and that is the same code whatever the length. The
superseding worker, whose outcome must survive, runs with every default (30 s lease). After any
pause longer than its lease, a stale worker finds its lease extension overdue on SIGCONT
whatever the lease length, so the race being tested is the one a 30 s lease pauses into. What
a short lease saves is 10 trials x 3 backends x 30 s of waiting."""
TERMINAL = {EventType.COMPLETED, EventType.FAILED, EventType.CANCELLED, EventType.DEAD_LETTERED}


def _wait(what: str, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _kinds(events: list[TaskEvent]) -> list[str]:
    return [f"{e.event_type.value}@{e.worker_id}" for e in events]


@pytest.mark.timeout(240)
def test_a_resumed_stale_worker_replaces_no_result_and_adds_no_event(
    backend: str, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    tasks = importlib.import_module(TASK_MODULE)
    runs = Path(chaos_env["OMNIQ_E2E_RUNS"])
    stale_env = {**chaos_env, "OMNIQ_LEASE_SECONDS": STALE_LEASE}
    stale: list[WorkerProcess] = []
    good: WorkerProcess | None = None
    with OmniQ(workers=0) as oq:
        ids = oq.enqueue_many([(tasks.hold, (n,)) for n in range(TRIALS)])
        try:
            stale = [WorkerProcess(stale_env, cwd=tmp_path, concurrency=1) for _ in range(TRIALS)]
            held = [runs / f"held-{n}" for n in range(TRIALS)]
            _wait("every stale worker runs a task", lambda: all(p.exists() for p in held), 120)
            assert {int(p.read_text()) for p in held} == {w.pid for w in stale}

            def started(task_id: str) -> bool:
                return any(e.event_type is EventType.STARTED for e in oq.get_events(task_id))

            # stored before the pause, so that nothing of the stale claims is left to flush
            _wait("the stale claims' events are stored", lambda: all(map(started, ids)), 30)
            for worker in stale:
                worker.pause()
            (runs / "release").touch()  # a stale task returns as soon as its worker resumes
            good = WorkerProcess(chaos_env, cwd=tmp_path, concurrency=DEFAULT_WORKERS)
            before = {task_id: oq.wait_result(task_id, timeout=120) for task_id in ids}
            assert good.stop() == 0
            events_before = {task_id: oq.get_events(task_id) for task_id in ids}
            for worker in stale:
                worker.resume()
            time.sleep(2.0)  # the stale tasks have returned: let each worker finish as it will
            assert [w.stop() for w in stale] == [0] * TRIALS
        finally:
            for worker in [*stale, *([good] if good else [])]:
                worker.close()
        after = {task_id: oq.get_task_result(task_id) for task_id in ids}
        events_after = {task_id: oq.get_events(task_id) for task_id in ids}
    replaced = [i for i in ids if after[i] != before[i]]
    added = [i for i in ids if events_after[i] != events_before[i]]
    terminal = {i: [e for e in events_after[i] if e.event_type in TERMINAL] for i in ids}
    not_rerun = [i for i in ids if before[i].status is not ResultStatus.SUCCESS]
    figures = (
        f"{backend}: {len(replaced)} of {TRIALS} results replaced, events added in {len(added)} "
        f"of {TRIALS} trials, {len(not_rerun)} not re-run after the lease ran out; e.g. "
        f"{_kinds(events_after[(added or ids)[0]])}"
    )
    print(figures)
    assert (replaced, added) == ([], []), figures
    assert {i: len(found) for i, found in terminal.items()} == dict.fromkeys(ids, 1), figures
    assert not_rerun == [], figures  # the newer outcome is the re-run's (a crash is no failure)
