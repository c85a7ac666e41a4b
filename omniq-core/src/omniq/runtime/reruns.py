"""A task id run again starts without its old result.

Deliveries (the result fence) count per task id *in the queue*: once a task finished and left
the queue, an enqueue of the same id starts again from delivery 1. Its old result would then be
returned at once by ``get_result`` and, if it was of a later delivery (a crash re-delivered the
first run), would refuse the new run's result. So before a caller-chosen id is enqueued, its
result is deleted when the queue does not hold the id (the enqueue will add a new run); a queued
id is left alone (the enqueue changes nothing). Ids OmniQ generates are new: nothing to check.

Dead letters moved back to the queue (``retry_dead``) lose their old result the same way, just
before they are requeued.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from omniq.models.task import TaskState
from omniq.runtime.stores import Stores

__all__ = ["chooses_id", "supersede_dead_results", "supersede_results"]

_LISTED = 10_000
"""Dead letters listed per page when ``retry_dead`` moves a whole queue's back."""


def chooses_id(options: Mapping[str, Any]) -> bool:
    """Whether a call's options name its task id (``task_id=``)."""
    return options.get("task_id") is not None


def call_chooses_id(item: Any) -> bool:
    """Whether an ``enqueue_many`` item (a ``Call`` or a tuple) names its task id."""
    options = getattr(item, "options", None)
    if options is None and isinstance(item, tuple) and len(item) > 3:
        options = item[3]
    return isinstance(options, Mapping) and chooses_id(options)


async def supersede_results(stores: Stores, task_ids: Iterable[str]) -> None:
    """Delete the results of those of ``task_ids`` that the queue does not hold."""
    for task_id in dict.fromkeys(task_ids):
        if await stores.task_queue.get(task_id) is None:
            await stores.results.delete(task_id)


async def supersede_dead_results(
    stores: Stores, queue: str, task_ids: Sequence[str] | None
) -> None:
    """Delete the results of the dead letters of ``queue`` that ``retry_dead`` is to requeue."""
    if task_ids is None:
        dead = await stores.task_queue.list_tasks(queue, state=TaskState.DEAD, limit=_LISTED)
        ids = [info.task.id for info in dead]
    else:
        ids = []
        for task_id in task_ids:
            info = await stores.task_queue.get(task_id)
            if info is not None and info.state is TaskState.DEAD and info.task.queue == queue:
                ids.append(task_id)
    for task_id in ids:
        await stores.results.delete(task_id)
