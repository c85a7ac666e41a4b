"""Conformance tests of prompt cancellation: a running task that is cancelled stops within a
few seconds, with the default settings, on every worker type, long before the first lease
extension (``lease_seconds / 3``, 10 s) would have told its worker; and, for queues that offer
:class:`~omniq.storage.CancelPolling`, that its answers follow the contract.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from omniq._time import utcnow
from omniq.backend.base import Backend
from omniq.errors import TaskFailedError
from omniq.models.event import EventType
from omniq.models.task import CancelOutcome
from omniq.runtime.async_app import AsyncOmniQ
from omniq.storage import CancelPolling, TaskQueueStorage
from omniq.testing import _cancel_tasks
from omniq.testing._base import ConformanceBase, StorageOpener
from omniq.testing._records import make_task

__all__ = ["CancellationConformance"]

CANCEL_DEADLINE = 5.0
"""Seconds from ``cancel()`` to the cancelled result: half the default first lease extension
(a behavioural deadline, not a speed measurement)."""
START_DEADLINE = 60.0
"""Seconds a task may take to start (a ``process_pool`` child is spawned first)."""
_TASKS = _cancel_tasks.__name__
_FUNCTIONS = {
    "async": _cancel_tasks.sleep_async,
    "thread_pool": _cancel_tasks.sleep_cooperatively,
    "process_pool": _cancel_tasks.sleep_blocking,
}


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


async def _events_once_cancelled(oq: AsyncOmniQ, task_id: str) -> list[EventType]:
    """The task's event types, once its ``cancelled`` event is written (just after its result)."""
    for _ in range(200):
        events = [e.event_type for e in await oq.get_events(task_id)]
        if EventType.CANCELLED in events:
            return events
        await asyncio.sleep(0.05)
    return events


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class CancellationConformance(ConformanceBase):
    """Cancelling running tasks, through an app whose roles all use the backend under test."""

    @pytest.mark.asyncio
    @pytest.mark.timeout(120)
    @pytest.mark.parametrize("worker_type", list(_FUNCTIONS))
    async def test_cancel_stops_a_running_task_within_seconds(
        self, backend_factory: Callable[[], Backend], worker_type: str, tmp_path: Path
    ) -> None:
        marker = tmp_path / f"cancel-{worker_type}"
        app = AsyncOmniQ(
            backend=backend_factory(), workers=1, worker_type=worker_type, allowed_modules=_TASKS
        )
        async with app as oq:
            if worker_type == "process_pool":  # a child is up: the task starts at its claim
                warm_up = await oq.enqueue(_FUNCTIONS[worker_type], str(marker), 0.0)
                assert await oq.get_result(warm_up, timeout=START_DEADLINE) == "slept"
                marker.unlink()
            task_id = await oq.enqueue(_FUNCTIONS[worker_type], str(marker), 30.0)
            await _until(marker.exists, START_DEADLINE, "the task's start")
            asked = time.monotonic()
            assert await oq.cancel(task_id) is CancelOutcome.REQUESTED
            with pytest.raises(TaskFailedError) as caught:
                await oq.get_result(task_id, timeout=30)
            took = time.monotonic() - asked
            events = await _events_once_cancelled(oq, task_id)
        assert caught.value.status == "cancelled"
        assert took < CANCEL_DEADLINE, f"cancelled after {took:.1f} s"
        assert events[-1] is EventType.CANCELLED, events
        assert EventType.COMPLETED not in events, events
        if worker_type == "process_pool":
            pid = int(marker.read_text())
            assert not _alive(pid), "the child process running the task is still alive"
        else:
            assert marker.with_name(marker.name + ".stopped").exists(), "the task was not told"

    @pytest.mark.asyncio
    async def test_cancel_requests_read_the_flag_of_current_leases(
        self, opener: StorageOpener, queue_name: str
    ) -> None:
        queue: TaskQueueStorage = await opener.task_queue()
        if not isinstance(queue, CancelPolling):
            pytest.skip("the task queue does not offer CancelPolling (optional)")
        tasks = [make_task(queue_name, priority=p) for p in (3, 2, 1)]
        await queue.enqueue_many(tasks)
        claimed = await queue.claim([queue_name], limit=3, lease_seconds=30, worker_id="w-1")
        leases = [c.lease for c in claimed]
        assert [lease.task_id for lease in leases] == [t.id for t in tasks]
        assert await queue.cancel_requests([]) == []
        assert await queue.cancel_requests(leases) == [False, False, False]
        # the second task is released and claimed again: its first lease is stale
        stale = leases[1]
        assert await queue.nack(stale, retry_at=utcnow(), count_attempt=False)
        (again,) = await queue.claim([queue_name], limit=1, lease_seconds=30, worker_id="w-2")
        assert again.task.id == tasks[1].id
        leases[1] = again.lease
        assert await queue.cancel(tasks[1].id) is CancelOutcome.REQUESTED
        before = await queue.get(tasks[1].id)
        assert await queue.cancel_requests(leases) == [False, True, False]
        assert await queue.cancel_requests([stale]) == [False], "a stale lease read a cancel"
        after = await queue.get(tasks[1].id)
        assert before is not None and after is not None
        assert after.lease_expires_at == before.lease_expires_at, "a poll must not extend"
        assert await queue.ack([leases[1]]) == [True]
        assert await queue.cancel_requests(leases) == [False, False, False]
