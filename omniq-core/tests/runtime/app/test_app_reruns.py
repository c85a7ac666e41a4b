"""A re-enqueued finished id through every enqueue path of the sync and async APIs: the old
result is gone before the new run, so get_result waits for it (the backends prove the same in
omniq.testing.RerunConformance)."""

from __future__ import annotations

import time

from omniq import AsyncOmniQ, OmniQ
from omniq.runtime.task_function import call


def slow_echo(value: int) -> int:
    time.sleep(0.2)
    return value


def test_sync_enqueue_and_enqueue_many_of_a_finished_id_wait_for_the_new_run() -> None:
    with OmniQ(task_queue_url="memory://", workers=1) as oq:
        assert oq.get_result(oq.enqueue(slow_echo, 1, task_id="same"), timeout=10) == 1
        oq.enqueue(slow_echo, 2, task_id="same")
        assert oq.get_result("same", timeout=10) == 2
        oq.enqueue_many([call(slow_echo, 3, task_id="same"), (slow_echo, (9,))])
        assert oq.get_result("same", timeout=10) == 3
        oq.enqueue_many([(slow_echo, (4,), {}, {"task_id": "same"})])
        assert oq.get_result("same", timeout=10) == 4


async def test_async_enqueue_many_of_a_finished_id_waits_for_the_new_run() -> None:
    async with AsyncOmniQ(task_queue_url="memory://", workers=1) as oq:
        await oq.enqueue(slow_echo, 1, task_id="same")
        assert await oq.get_result("same", timeout=10) == 1
        await oq.enqueue_many([call(slow_echo, 2, task_id="same")])
        assert await oq.get_result("same", timeout=10) == 2


def test_generated_ids_are_not_looked_up() -> None:
    """No old result can exist for an id OmniQ makes: the enqueue asks the queue nothing."""
    with OmniQ(task_queue_url="memory://", workers=0) as oq:
        stores = oq._core._stores
        assert stores is not None
        asked: list[str] = []
        original = stores.results.delete

        async def delete(task_id: str) -> bool:
            asked.append(task_id)
            return await original(task_id)

        stores.results.delete = delete  # type: ignore[method-assign]
        oq.enqueue(slow_echo, 1)
        oq.enqueue_many([(slow_echo, (2,))])
        assert asked == []
        oq.enqueue(slow_echo, 3, task_id="chosen")
        assert asked == ["chosen"]
