"""``kill -USR1`` on an ``omniq worker`` process writes what it is waiting on (every thread's and
every asyncio task's stack) and the worker carries on: it still runs tasks and stops cleanly."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from omniq import OmniQ
from omniq.runtime.stack_dump import END_OF_DUMP
from omniq.testing.processes import use_task_module, worker_process


def test_sigusr1_dumps_the_stacks_and_the_worker_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used = use_task_module(
        tmp_path,
        monkeypatch,
        {
            "OMNIQ_TASK_QUEUE_TYPE": "sqlite",
            "OMNIQ_TASK_QUEUE_URL": f"sqlite:///{tmp_path / 'omniq.db'}",
        },
    )
    with worker_process(used.env, cwd=tmp_path) as worker:
        worker.wait_for_output("worker process running")
        worker.process.send_signal(signal.SIGUSR1)
        dump = worker.wait_for_output(END_OF_DUMP)  # the whole dump, not its first lines
        assert "stacks of this process's threads" in dump
        assert "--- task omniq-claim" in dump  # the worker's own loops, by name
        assert "Most recent call first" in dump or "File " in dump
        with OmniQ(workers=0) as oq:
            task_id = oq.enqueue(used.module.record, 7)
            assert oq.get_result(task_id, timeout=30) == 7
        assert worker.stop() == 0
