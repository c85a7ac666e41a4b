"""get_result: values, failures, timeouts, dead letters, unknown ids, expiry; status."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from omniq import TaskFailedError
from omniq._time import utcnow
from omniq.errors import InvalidNameError, TaskNotFoundError
from omniq.models import ClaimedTask, ResultStatus, TaskError, TaskResult
from omniq.runtime.async_app import AsyncOmniQ, TaskStatus
from omniq.runtime.codec import encode_value
from omniq.runtime.sync_app import OmniQ


def add(a: int, b: int) -> int:
    return a + b


def success(task_id: str, value: Any, **extra: Any) -> TaskResult:
    return TaskResult(
        task_id=task_id, status=ResultStatus.SUCCESS, payload=encode_value("json", value), **extra
    )


async def claim_one(stores: dict[str, Any]) -> ClaimedTask:
    claimed = await stores["task_queue"].claim(
        ["default"], limit=1, lease_seconds=30, worker_id="w1"
    )
    return claimed[0]  # type: ignore[no-any-return]


async def test_get_result_waits_for_the_value(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(add, 1, 2)
        assert await oq.status(task_id) is TaskStatus.PENDING
        waiter = asyncio.create_task(oq.get_result(task_id, timeout=10))
        claimed = await claim_one(plain_stores)
        assert await oq.status(task_id) is TaskStatus.ACTIVE
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await plain_stores["result_storage"].store(success(task_id, {"sum": 3}))
        await plain_stores["task_queue"].ack([claimed.lease])
        assert await waiter == {"sum": 3}
        assert await oq.status(task_id) is TaskStatus.COMPLETED


async def test_failure_raises_task_failed_error(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(add, 1, "x")
        claimed = await claim_one(plain_stores)
        await plain_stores["result_storage"].store(
            TaskResult(
                task_id=task_id,
                status=ResultStatus.FAILURE,
                error=TaskError(
                    type="builtins.TypeError",
                    message="unsupported operand",
                    traceback="Traceback (most recent call last): ...",
                ),
            )
        )
        await plain_stores["task_queue"].ack([claimed.lease])
        with pytest.raises(TaskFailedError) as caught:
            await oq.get_result(task_id, timeout=1)
        assert await oq.status(task_id) is TaskStatus.FAILED
    error = caught.value
    assert (error.task_id, error.error_type) == (task_id, "builtins.TypeError")
    assert error.error_message == "unsupported operand"
    assert error.traceback.startswith("Traceback")
    assert "builtins.TypeError: unsupported operand" in str(error)


async def test_timeout_raises_timeout_error(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(add, 1, 2)
        with pytest.raises(TimeoutError, match=task_id):
            await oq.get_result(task_id, timeout=0.05)
        with pytest.raises(TimeoutError):
            await oq.get_result(task_id, timeout=0)


async def test_dead_letter_without_result_raises(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(add, 1, 2)
        claimed = await claim_one(plain_stores)
        await plain_stores["task_queue"].dead_letter(claimed.lease, reason="not allowed")
        with pytest.raises(TaskFailedError, match="not allowed") as caught:
            await oq.get_result(task_id)
        assert await oq.status(task_id) is TaskStatus.DEAD
    assert caught.value.status == "dead"


async def test_unknown_or_expired_results(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        with pytest.raises(TaskNotFoundError):
            await oq.get_result("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        with pytest.raises(InvalidNameError):
            await oq.get_result("no such/id")
        await plain_stores["result_storage"].store(
            success("old-task", 1, expires_at=utcnow() - timedelta(seconds=1))
        )
        with pytest.raises(TaskNotFoundError):
            await oq.get_result("old-task", timeout=1)
        assert await oq.status("old-task") is TaskStatus.UNKNOWN


async def test_delayed_status_and_cancel(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(add, 1, 2, delay=60, result_ttl=120)
        assert await oq.status(task_id) is TaskStatus.DELAYED
        assert await oq.cancel(task_id) == "cancelled"
        assert await oq.status(task_id) is TaskStatus.CANCELLED
        assert await oq.cancel(task_id) == "not_found"
        with pytest.raises(TaskFailedError, match="cancelled") as caught:
            await oq.get_result(task_id)
        record = await oq.get_task_result(task_id)
        events = await oq.get_events(task_id)
    assert caught.value.status == "cancelled"
    assert record is not None
    assert record.expires_at is not None
    assert [e.event_type for e in events] == ["enqueued", "cancelled"]


def test_sync_get_result_from_threads(plain_stores: dict[str, Any]) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        ids = [oq.enqueue(add, i, i) for i in range(5)]
        values: dict[str, Any] = {}

        def wait(task_id: str) -> None:
            values[task_id] = oq.get_result(task_id, timeout=10)

        threads = [threading.Thread(target=wait, args=(t,)) for t in ids]
        for thread in threads:
            thread.start()
        for i, task_id in enumerate(ids):
            future = asyncio.run_coroutine_threadsafe(
                plain_stores["result_storage"].store(success(task_id, i * 2)), oq.loop
            )
            future.result()
        for thread in threads:
            thread.join()
        assert oq.get_result(ids[3]) == 6  # already there: read in this thread
        with pytest.raises(TimeoutError):
            oq.get_result(oq.enqueue(add, 0, 0), timeout=0.01)
    assert values == {t: i * 2 for i, t in enumerate(ids)}
