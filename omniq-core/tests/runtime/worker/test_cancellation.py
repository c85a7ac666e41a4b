"""Cancelling running tasks with the default settings: how each worker type stops, what a
function that ignores its flag gets, and the parts (flag, poll, settings) on their own.

The conformance suite (``omniq.testing.cancellation``) proves the prompt cancel on every backend;
these tests run on the memory backend.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq import AsyncOmniQ, TaskFailedError
from omniq.errors import ConfigurationError
from omniq.models import CancelOutcome, EventType, TaskState
from omniq.runtime.cancellation import Cancellation
from omniq.runtime.worker import Worker, WorkerSettings
from omniq.testing import _cancel_tasks

pytestmark = pytest.mark.timeout(60)

DEADLINE = 5.0
"""Seconds from cancel() to the cancelled result: half the default 10 s lease extension."""
release = threading.Event()
"""Set at the end of each test: functions that ignore their flag block on it."""


@pytest.fixture(autouse=True)
def _release_blocked_threads() -> Any:
    release.clear()
    yield
    release.set()


def app(worker_type: str = "async", **options: Any) -> AsyncOmniQ:
    """An app with the default worker settings, unless ``options`` say otherwise."""
    return AsyncOmniQ(
        task_queue_url="memory://",
        workers=1,
        worker_type=worker_type,
        allowed_modules=_cancel_tasks.__name__,
        worker_options=options,
    )


def checks_the_flag(marker: str) -> str:
    Path(marker).write_text("started")
    for _ in range(3000):
        if omniq.cancellation_requested():
            Path(marker + ".stopped").write_text("flag")
            return "stopped early"
        time.sleep(0.01)
    return "ran 30 s"


def ignores_the_flag(marker: str, seconds: float) -> str:
    Path(marker).write_text("started")
    time.sleep(seconds)
    Path(marker + ".returned").write_text("returned")
    return "finished"


def blocks_until_released(marker: str) -> str:
    Path(marker).write_text("started")
    release.wait(30)
    return "released"


def mark(path: str) -> None:
    Path(path).write_text("started")


async def swallows_its_cancel(marker: str) -> str:
    mark(marker)
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        return "swallowed"
    return "slept"


async def until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def cancel_once_started(oq: AsyncOmniQ, task_id: str, marker: Path) -> float:
    """Cancel ``task_id`` once its function wrote ``marker``; when the cancel was asked."""
    await until(marker.exists)
    asked = time.monotonic()
    assert await oq.cancel(task_id) is CancelOutcome.REQUESTED
    return asked


async def cancelled_result(oq: AsyncOmniQ, task_id: str) -> TaskFailedError:
    with pytest.raises(TaskFailedError) as caught:
        await oq.get_result(task_id, timeout=40)
    assert caught.value.status == "cancelled"
    return caught.value


async def event_types(oq: AsyncOmniQ, task_id: str) -> list[EventType]:
    for _ in range(200):  # the terminal event is written just after the result
        kinds = [e.event_type for e in await oq.get_events(task_id)]
        if kinds and kinds[-1] is not EventType.STARTED:
            return kinds
        await asyncio.sleep(0.02)
    return kinds


@pytest.mark.parametrize("worker_type", ["async", "thread_pool"])
async def test_a_plain_function_checking_its_flag_stops_within_seconds(
    worker_type: str, tmp_path: Path
) -> None:
    marker = tmp_path / "task"
    async with app(worker_type) as oq:
        task_id = await oq.enqueue(checks_the_flag, str(marker))
        asked = await cancel_once_started(oq, task_id, marker)
        await cancelled_result(oq, task_id)
        took = time.monotonic() - asked
        kinds = await event_types(oq, task_id)
    assert took < DEADLINE, f"cancelled after {took:.1f} s"
    assert marker.with_name("task.stopped").exists()
    assert kinds[-1] is EventType.CANCELLED and EventType.COMPLETED not in kinds


async def test_a_thread_that_ignores_its_flag_ends_cancelled_once_it_returned(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "task"
    async with app("thread_pool") as oq:
        task_id = await oq.enqueue(ignores_the_flag, str(marker), 1.5)
        await cancel_once_started(oq, task_id, marker)
        await cancelled_result(oq, task_id)
        # the outcome waited for the function: nothing of the task runs any more
        assert marker.with_name("task.returned").exists()
        kinds = await event_types(oq, task_id)
    assert kinds[-1] is EventType.CANCELLED and EventType.COMPLETED not in kinds


async def test_a_coroutine_that_swallows_its_cancel_still_ends_cancelled(tmp_path: Path) -> None:
    marker = tmp_path / "task"
    async with app("async") as oq:
        task_id = await oq.enqueue(swallows_its_cancel, str(marker))
        asked = await cancel_once_started(oq, task_id, marker)
        await cancelled_result(oq, task_id)
        took = time.monotonic() - asked
        kinds = await event_types(oq, task_id)
    assert took < DEADLINE, f"cancelled after {took:.1f} s"
    assert kinds[-1] is EventType.CANCELLED and EventType.COMPLETED not in kinds


async def test_a_shutdown_keeps_the_cancelled_outcome_of_a_thread_it_abandons(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "task"
    async with app("thread_pool") as oq:
        task_id = await oq.enqueue(blocks_until_released, str(marker))
        await cancel_once_started(oq, task_id, marker)
        await asyncio.sleep(1.0)  # the worker saw the cancel and waits for the thread
        await oq.worker.stop(grace=0.2)
        info = await oq.get_task(task_id)
        result = await oq.stores.results.get(task_id)
    assert info is None, f"the cancelled task went back to its queue: {info}"
    assert result is not None and result.status.value == "cancelled"


async def test_a_timed_out_thread_is_told_through_its_flag(tmp_path: Path) -> None:
    marker = tmp_path / "task"
    async with app("thread_pool") as oq:
        task_id = await oq.enqueue(
            _cancel_tasks.sleep_cooperatively, str(marker), 30.0, timeout=0.3
        )
        with pytest.raises(TaskFailedError) as caught:
            await oq.get_result(task_id, timeout=30)
        await until(marker.with_name("task.stopped").exists, DEADLINE)
    assert caught.value.error_type == "TimeoutError"


async def test_a_killed_process_pool_child_is_replaced(tmp_path: Path) -> None:
    marker = tmp_path / "task"
    async with app("process_pool") as oq:
        task_id = await oq.enqueue(_cancel_tasks.sleep_blocking, str(marker), 30.0)
        await cancel_once_started(oq, task_id, marker)
        await cancelled_result(oq, task_id)
        pid = int(marker.read_text())
        after = await oq.enqueue(_cancel_tasks.sleep_blocking, str(tmp_path / "after"), 0.0)
        assert await oq.get_result(after, timeout=30) == "slept"
    assert int((tmp_path / "after").read_text()) != pid


class WithoutCancelPolling:
    """The memory queue without ``cancel_requests``, as a third-party queue may be."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        self.extends = 0

    def __getattr__(self, name: str) -> Any:
        if name == "cancel_requests":
            raise AttributeError(name)
        return getattr(self._queue, name)

    async def extend(self, leases: Any, lease_seconds: float) -> Any:
        self.extends += 1
        return await self._queue.extend(leases, lease_seconds)


async def test_a_queue_without_cancel_polling_is_asked_through_extend(tmp_path: Path) -> None:
    marker = tmp_path / "task"
    async with AsyncOmniQ(task_queue_url="memory://", workers=0) as oq:
        queue = WithoutCancelPolling(oq.stores.task_queue)
        worker = Worker(queue, oq.stores.results, oq.event_sink, oq.registry, WorkerSettings())  # type: ignore[arg-type]
        await worker.start()
        try:
            task_id = await oq.enqueue(_cancel_tasks.sleep_async, str(marker), 30.0)
            asked = await cancel_once_started(oq, task_id, marker)
            await cancelled_result(oq, task_id)
            took = time.monotonic() - asked
        finally:
            await worker.stop(1)
    assert took < DEADLINE, f"cancelled after {took:.1f} s"
    assert queue.extends >= 2  # the first extension, then the cancel poll's


async def test_a_cancel_poll_does_not_extend_a_queue_that_offers_reads(tmp_path: Path) -> None:
    marker = tmp_path / "task"
    async with app("async") as oq:
        task_id = await oq.enqueue(_cancel_tasks.sleep_async, str(marker), 30.0)
        await until(marker.exists)
        first = await oq.get_task(task_id)
        await asyncio.sleep(1.5)  # three polls
        later = await oq.get_task(task_id)
        assert await oq.cancel(task_id) is CancelOutcome.REQUESTED
        await cancelled_result(oq, task_id)
    assert first is not None and later is not None and later.state is TaskState.ACTIVE
    assert later.lease_expires_at == first.lease_expires_at


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, "0.5", True])
def test_cancel_poll_interval_must_be_finite_positive_seconds(value: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"cancel_poll_interval .*finite number"):
        WorkerSettings(cancel_poll_interval=value)


def test_the_default_poll_is_well_inside_a_second() -> None:
    assert WorkerSettings().cancel_poll_interval == 0.5


def test_the_flag_outside_a_task() -> None:
    assert omniq.cancellation_requested() is False
    started = time.monotonic()
    assert omniq.wait_for_cancellation(0.05) is False
    assert time.monotonic() - started >= 0.04
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="timeout"):
            omniq.wait_for_cancellation(bad)


def test_a_cancellation_is_requested_once_and_wakes_its_waiters() -> None:
    cancellation = Cancellation()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(cancellation.wait(10)))
    waiter.start()
    time.sleep(0.05)
    assert cancellation.requested is False
    assert cancellation.request("cancelled") is True
    assert cancellation.request("shutdown") is False
    waiter.join(5)
    assert woke == [True]
    assert (cancellation.reason, cancellation.wait(0)) == ("cancelled", True)
