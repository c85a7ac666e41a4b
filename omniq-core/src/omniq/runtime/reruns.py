"""A task id run again starts without its old result.

Deliveries (the result fence) count per task id *in the queue*: once a task finished and left
the queue, an enqueue of the same id starts again from delivery 1. Its old result would then be
returned at once by ``get_result`` and, if it was of a later delivery (a crash re-delivered the
first run), would refuse the new run's result. So before a caller-chosen id is enqueued, its
result is deleted when the queue does not hold the id (the enqueue will add a new run); a queued
id is left alone (the enqueue changes nothing). A run that is over but not yet acknowledged (a
queue without atomic completion stores the result, then the events, then acks) is waited for a
moment, so a caller woken by the result can run the id again at once. Ids OmniQ generates are
new: nothing to check.

Dead letters moved back to the queue (``retry_dead``) lose their old result the same way, just
before they are requeued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from omniq.models.task import TaskState
from omniq.runtime.stores import Stores

__all__ = ["chooses_id", "supersede_dead_results", "supersede_results"]

_ACK_WAIT = 5.0
"""Seconds a finished run's acknowledgement is awaited before its id counts as still queued."""

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
        if not await _queued_for_a_run(stores, task_id):
            await stores.results.delete(task_id)


async def _queued_for_a_run(stores: Stores, task_id: str) -> bool:
    """Whether the queue holds ``task_id`` for a run still to come or under way: not when it
    holds an active task whose current delivery's result is already stored (only its ack is on
    the way), once that ack lands within :data:`_ACK_WAIT`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _ACK_WAIT
    while True:
        info = await stores.task_queue.get(task_id)
        if info is None:
            return False
        if info.state is not TaskState.ACTIVE or loop.time() >= deadline:
            return True
        result = await stores.results.get(task_id)
        if result is None or result.delivery < info.deliveries:
            return True
        await asyncio.sleep(0.01)


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
