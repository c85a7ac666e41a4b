"""Conformance of ``MULTI_PROCESS`` on the storages themselves: other processes opened on the
same store race this one, and the contract's atomic steps must hold across them.

Children run ``python -m omniq.testing._child`` with ``backend_name`` and ``backend_options``
(which is why a backend declaring ``MULTI_PROCESS`` must give ``backend_options``); they all
open the store first, then start together. With ``PUSH_WAKEUP`` as well, a wait in this process
must be woken by a write made in another.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest

from omniq._time import utcnow
from omniq.models.result import TaskResult
from omniq.models.schedule import Schedule
from omniq.storage import Capability, Role
from omniq.testing._base import ConformanceBase, StorageOpener
from omniq.testing._records import make_task

__all__ = ["MultiProcessConformance"]

CHILDREN = 4
PUSH_WAIT = 10.0
PUSH_DEADLINE = 3.0
"""As in the in-process wake-up tests: the wait is told 10 s and must return within 3 s."""


class MultiProcessConformance(ConformanceBase):
    """Claims, tick firings and result writes raced from several processes (``test_process_``)."""

    children: int = CHILDREN

    def _job(self, options: Mapping[str, Any] | None, **job: Any) -> dict[str, Any]:
        if options is None:
            pytest.fail(
                f"backend {self.backend_name!r} declares multi_process: override the "
                "backend_options fixture, so that other processes can open the store under test"
            )
        return {"backend": self.backend_name, "options": dict(options), **job}

    async def _race(self, jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run one child per job; start them together once all opened the store."""
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "omniq.testing._child",
                json.dumps(job),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for job in jobs
        ]
        try:
            for child in children:
                assert child.stdout is not None and child.stderr is not None
                line = await asyncio.wait_for(child.stdout.readline(), 120)
                if line.strip() != b"ready":
                    error = (await child.stderr.read()).decode(errors="replace")
                    pytest.fail(f"a child process could not open the store:\n{error}")
            outputs = await asyncio.gather(
                *(asyncio.wait_for(child.communicate(b"go\n"), 240) for child in children)
            )
        finally:
            for child in children:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
        done: list[dict[str, Any]] = []
        for child, (out, err) in zip(children, outputs, strict=True):
            assert child.returncode == 0, f"a child process failed:\n{err.decode(errors='replace')}"
            done.append(json.loads(out.decode().strip().splitlines()[-1]))
        return done

    @pytest.mark.asyncio
    @pytest.mark.timeout(300)
    async def test_process_claims_are_disjoint_across_processes(
        self, opener: StorageOpener, backend_options: Mapping[str, Any] | None, queue_name: str
    ) -> None:
        self.require(opener, Role.TASK_QUEUE, Capability.MULTI_PROCESS)
        queue = await opener.task_queue()
        tasks = [make_task(queue_name) for _ in range(self.scaled(200))]
        await queue.enqueue_many(tasks)
        job = self._job(backend_options, do="claim", queue=queue_name)
        runs = await self._race([job] * self.children)
        won = [task_id for run in runs for task_id in run["outcome"]]
        twice = sorted({t for t in won if won.count(t) > 1})
        assert not twice, f"{len(twice)} tasks were claimed by two processes: {twice[:5]}"
        assert sorted(won) == sorted(t.id for t in tasks)
        (stats,) = await queue.stats([queue_name])
        assert (stats.pending, stats.active) == (0, 0)

    @pytest.mark.asyncio
    @pytest.mark.timeout(300)
    async def test_process_a_tick_fires_once_across_processes(
        self, opener: StorageOpener, backend_options: Mapping[str, Any] | None, queue_name: str
    ) -> None:
        self.require(opener, Role.SCHEDULE_STORAGE, Capability.MULTI_PROCESS)
        schedules = await opener.schedule_storage()
        start, ticks = utcnow().replace(microsecond=0), 30
        await schedules.add(
            Schedule(name=queue_name, func="m:f", kind="interval", interval=1.0, next_fire_at=start)
        )
        job = self._job(
            backend_options, do="tick", schedule=queue_name, start=start.isoformat(), ticks=ticks
        )
        runs = await self._race([job] * self.children)
        fired = sorted(n for run in runs for n in run["outcome"])
        assert fired == list(range(ticks)), "every tick fires exactly once over all processes"
        stored = await schedules.get(queue_name)
        assert stored is not None and stored.next_fire_at == start + timedelta(seconds=ticks)

    @pytest.mark.asyncio
    @pytest.mark.timeout(300)
    async def test_process_results_keep_the_highest_delivery_across_processes(
        self, opener: StorageOpener, backend_options: Mapping[str, Any] | None, queue_name: str
    ) -> None:
        self.require(opener, Role.RESULT_STORAGE, Capability.MULTI_PROCESS)
        results = await opener.result_storage()
        task_ids = [f"{queue_name}-{n}" for n in range(10)]
        rounds, n = 5, self.children
        jobs = [
            self._job(
                backend_options,
                do="results",
                task_ids=task_ids,
                deliveries=[r * n + (child if r % 2 else n - 1 - child) for r in range(rounds)],
            )
            for child in range(n)
        ]
        await self._race(jobs)
        for task_id in task_ids:
            stored = await results.get(task_id)
            assert stored is not None and stored.delivery == rounds * n - 1, (
                f"{task_id}: a lower delivery replaced the highest one across processes"
            )

    @pytest.mark.asyncio
    @pytest.mark.timeout(120)
    async def test_process_enqueue_in_another_process_wakes_wait_for_work(
        self, opener: StorageOpener, backend_options: Mapping[str, Any] | None, queue_name: str
    ) -> None:
        self.require(opener, Role.TASK_QUEUE, Capability.MULTI_PROCESS)
        self.require(opener, Role.TASK_QUEUE, Capability.PUSH_WAKEUP)
        queue = await opener.task_queue()
        task_id = f"{queue_name}-woken"
        job = self._job(backend_options, do="enqueue", queue=queue_name, task_id=task_id, delay=0.5)

        async def wait_for_it() -> float:
            while not await queue.claim([queue_name], limit=1, lease_seconds=30, worker_id="w"):
                await asyncio.wait_for(queue.wait_for_work([queue_name], PUSH_WAIT), PUSH_WAIT)
            return time.time()

        waiting = asyncio.create_task(wait_for_it())
        (run,) = await self._race([job])
        woken = await asyncio.wait_for(waiting, PUSH_WAIT + 5)
        assert run["outcome"] is True
        assert woken - run["at"] < PUSH_DEADLINE

    @pytest.mark.asyncio
    @pytest.mark.timeout(120)
    async def test_process_result_stored_in_another_process_wakes_wait(
        self, opener: StorageOpener, backend_options: Mapping[str, Any] | None, queue_name: str
    ) -> None:
        self.require(opener, Role.RESULT_STORAGE, Capability.MULTI_PROCESS)
        self.require(opener, Role.RESULT_STORAGE, Capability.PUSH_WAKEUP)
        results = await opener.result_storage()
        task_id = f"{queue_name}-result"
        job = self._job(backend_options, do="store_result", task_id=task_id, delay=0.5)

        async def wait_for_it() -> tuple[TaskResult, float]:
            # waits again while the child starts: on a busy machine that alone took over 10 s
            while (result := await results.wait(task_id, PUSH_WAIT)) is None:
                pass
            return result, time.time()

        waiting = asyncio.create_task(wait_for_it())
        (run,) = await self._race([job])
        result, woken = await asyncio.wait_for(waiting, PUSH_WAIT + 5)
        assert result.payload == b"pushed"
        # timed when the wait returned, not after the child's exit (its own shutdown)
        assert woken - run["at"] < PUSH_DEADLINE
