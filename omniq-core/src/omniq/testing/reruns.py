"""Conformance tests of a task id run again: ``get_result`` after a re-enqueue of a finished id
(or a ``retry_dead``) waits for the new run, and the new run's result is stored even when the
old one was of a later delivery. They run an app whose roles all use the backend under test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from omniq.backend.base import Backend
from omniq.errors import TaskFailedError
from omniq.models.result import ResultStatus, TaskResult
from omniq.models.task import TaskState
from omniq.runtime.async_app import AsyncOmniQ
from omniq.runtime.codec import encode_value
from omniq.testing import _rerun_tasks
from omniq.testing._base import ConformanceBase

__all__ = ["RerunConformance"]

_TASKS = _rerun_tasks.__name__
SLOW_RUN = 0.3
"""Seconds the second run takes: an old result returned at once would come first."""


def _app(backend: Backend) -> AsyncOmniQ:
    return AsyncOmniQ(backend=backend, workers=1, allowed_modules=_TASKS)


class RerunConformance(ConformanceBase):
    """Running a task id again, through an app on the backend under test."""

    @pytest.mark.asyncio
    @pytest.mark.timeout(60)
    async def test_get_result_after_a_re_enqueue_waits_for_the_new_run(
        self, backend_factory: Callable[[], Backend], queue_name: str
    ) -> None:
        async with _app(backend_factory()) as oq:
            task_id = f"rerun-{queue_name}"
            first = await oq.enqueue(_rerun_tasks.echo, 1, task_id=task_id)
            assert await oq.get_result(first, timeout=30) == 1
            again = await oq.enqueue(_rerun_tasks.echo, 2, SLOW_RUN, task_id=task_id)
            assert again == first
            assert await oq.get_result(again, timeout=30) == 2, "the old result came back"
            result = await oq.get_task_result(task_id)
            assert result is not None and result.delivery == 1

    @pytest.mark.asyncio
    @pytest.mark.timeout(60)
    async def test_a_re_run_is_stored_over_an_old_result_of_a_later_delivery(
        self, backend_factory: Callable[[], Backend], queue_name: str
    ) -> None:
        """The first run was delivered three times (two crashes): the second run, delivery 1 of
        the new enqueue, still stores its result."""
        async with _app(backend_factory()) as oq:
            task_id = f"redelivered-{queue_name}"
            old = TaskResult(
                task_id=task_id,
                status=ResultStatus.SUCCESS,
                payload=encode_value("json", "old"),
                serializer="json",
                delivery=3,
            )
            stores = await oq._ready()
            assert await stores.results.store(old)
            await oq.enqueue(_rerun_tasks.echo, 7, task_id=task_id)
            assert await oq.get_result(task_id, timeout=30) == 7

    @pytest.mark.asyncio
    @pytest.mark.timeout(60)
    async def test_re_enqueue_of_a_queued_id_keeps_its_result_and_changes_nothing(
        self, backend_factory: Callable[[], Backend], queue_name: str
    ) -> None:
        app = AsyncOmniQ(backend=backend_factory(), workers=0, allowed_modules=_TASKS)
        async with app as oq:
            task_id = f"queued-{queue_name}"
            await oq.enqueue(_rerun_tasks.echo, 1, task_id=task_id, queue=queue_name)
            await oq.enqueue(_rerun_tasks.echo, 2, task_id=task_id, queue=queue_name)
            info = await oq.get_task(task_id)
            assert info is not None and info.state is TaskState.PENDING
            listed = await oq.list_tasks(queue_name)
            assert [i.task.id for i in listed] == [task_id]

    @pytest.mark.asyncio
    @pytest.mark.timeout(60)
    async def test_get_result_after_retry_dead_waits_for_the_new_run(
        self, backend_factory: Callable[[], Backend], queue_name: str, tmp_path: Path
    ) -> None:
        fixed = tmp_path / f"fixed-{queue_name}"
        async with _app(backend_factory()) as oq:
            task_id = await oq.enqueue(_rerun_tasks.fails_until, str(fixed))
            with pytest.raises(TaskFailedError):
                await oq.get_result(task_id, timeout=30)
            for _ in range(300):  # the dead letter follows its result
                info = await oq.get_task(task_id)
                if info is not None and info.state is TaskState.DEAD:
                    break
                await asyncio.sleep(0.02)
            fixed.touch()
            assert await oq.retry_dead("default", [task_id]) == 1
            assert await oq.get_result(task_id, timeout=30) == "fixed"
