"""Eager mode: an app made with ``eager=True`` (or ``OMNIQ_EAGER=1``) runs each task inline when
it is enqueued, for tests (Celery's ``task_always_eager``).

The task record is built as for a worker (arguments serialized and size-checked, options
validated) and run by the worker's own code: its result and its events (``enqueued``,
``started``, then ``completed``, or ``failed``/``retrying`` per attempt) are stored in the app's
stores before ``enqueue`` returns. The queue is not used: ``delay``/``eta`` are not waited for,
a retry runs at once (its backoff is not waited for either), and a task that fails for good
stores its failure result (``get_result`` raises :class:`~omniq.errors.TaskFailedError`, as with
a worker) but is not put in the dead letters. An error of the task itself never raises from
``enqueue``; bad arguments (not serializable, too large) do, as they always do.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from omniq._time import utcnow
from omniq.ids import new_id
from omniq.models.completion import Completion, CompletionAction
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import ClaimedTask, Lease, Task
from omniq.runtime.app_worker import worker_settings
from omniq.runtime.cancellation import set_current
from omniq.runtime.worker import Worker, _Outcome, _Running

if TYPE_CHECKING:
    from omniq.runtime.async_app import AsyncOmniQ
    from omniq.runtime.events_sink import EventSink
    from omniq.runtime.stores import Stores

__all__ = ["EAGER_WORKER_ID", "EagerRunner"]

EAGER_WORKER_ID = "eager"
"""The ``worker_id`` of an eager run's result and events."""


class EagerRunner:
    """Runs tasks inline with a worker that claims nothing (its loops never start)."""

    def __init__(self, app: AsyncOmniQ, stores: Stores, sink: EventSink) -> None:
        # one task at a time, in this process: coroutines on the loop, functions on a thread
        settings = worker_settings(app, concurrency=1, worker_type="thread_pool")
        self._worker = Worker(
            stores.task_queue,
            stores.results,
            sink,
            app.registry,
            settings,
            worker_id=EAGER_WORKER_ID,
        )
        self._results = stores.results
        self._sink = sink

    async def start(self) -> None:
        await self._worker._executor.start()

    async def close(self) -> None:
        await self._worker._executor.close()

    async def run(self, task: Task, enqueued: TaskEvent) -> None:
        """Run ``task`` to its end (every attempt it is allowed), storing its result and events."""
        self._sink.emit(enqueued)
        attempt = 1
        while True:
            completion = await self._attempt(task, attempt)
            if completion.result is not None:
                await self._results.store(completion.result)
            events = completion.events
            if completion.action is CompletionAction.DEAD_LETTER:
                # no queue holds the task: say it failed, not that it went to the dead letters
                events = tuple(e for e in events if e.event_type is not EventType.DEAD_LETTERED)
            await self._sink.write_now(events)
            if completion.action is not CompletionAction.RETRY:
                return
            attempt += 1

    async def _attempt(self, task: Task, attempt: int) -> Completion:
        worker = self._worker
        lease = Lease(
            task_id=task.id,
            token=new_id(),
            expires_at=utcnow() + timedelta(seconds=worker.settings.lease_seconds),
            attempt=attempt,
            worker_id=EAGER_WORKER_ID,
            delivery=attempt,
        )
        claimed = ClaimedTask(task=task, lease=lease)
        self._sink.emit(worker._event(EventType.STARTED, claimed))
        running = _Running(claimed, time.monotonic())
        # a task of its own, so that the cancellation flag stays in that task's context
        outcome = await asyncio.create_task(self._outcome(running), name=f"omniq-eager-{task.id}")
        completion = worker._completion(outcome)
        assert completion is not None  # success, failure or refused: never lost or shutdown
        return completion

    async def _outcome(self, running: _Running) -> _Outcome:
        set_current(running.cancellation)
        return await self._worker._outcome_of(running)
