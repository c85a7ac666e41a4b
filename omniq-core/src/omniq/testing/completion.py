"""Conformance tests of fenced completion: a worker whose lease is no longer current can neither
store its result, nor add a terminal event, nor move the task.

They finish tasks through the runtime's :class:`~omniq.runtime.completion.Finisher` on the
backend's own task queue, result storage and event storage, so they prove whichever path the
backend takes: its :class:`~omniq.storage.AtomicCompletion` when it offers one for these
storages, the step-by-step path otherwise (lease check, result compare-and-set, events, queue).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from attrs import frozen

from omniq._time import utcnow
from omniq.models.completion import Completion, CompletionAction
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.result import ResultStatus, TaskError, TaskResult
from omniq.models.task import ClaimedTask, TaskState
from omniq.models.unchecked import unchecked_event
from omniq.runtime.completion import Finisher, PendingCompletion
from omniq.runtime.events_sink import EventSink
from omniq.storage import EventStorage, ResultStorage, TaskQueueStorage
from omniq.testing._base import ConformanceBase, StorageOpener
from omniq.testing._records import make_task

__all__ = ["FencedCompletionConformance"]

LEASE = 0.3
PAST_LEASE = 0.6


@frozen
class _Stores:
    queue: TaskQueueStorage
    results: ResultStorage
    events: EventStorage
    finisher: Finisher


def _event(event_type: EventType, claimed: ClaimedTask, worker: str) -> TaskEvent:
    return unchecked_event(
        event_type,
        claimed.task.id,
        queue=claimed.task.queue,
        worker_id=worker,
        attempt=claimed.lease.attempt,
    )


def _result(claimed: ClaimedTask, worker: str, status: ResultStatus) -> TaskResult:
    error = None if status is ResultStatus.SUCCESS else TaskError(type="E", message=worker)
    return TaskResult(
        task_id=claimed.task.id,
        status=status,
        payload=worker.encode() if error is None else None,
        error=error,
        attempt=claimed.lease.attempt,
        worker_id=worker,
        delivery=claimed.lease.delivery,
    )


def _ack(claimed: ClaimedTask, worker: str) -> Completion:
    return Completion(
        lease=claimed.lease,
        action=CompletionAction.ACK,
        result=_result(claimed, worker, ResultStatus.SUCCESS),
        events=(_event(EventType.COMPLETED, claimed, worker),),
    )


def _dead(claimed: ClaimedTask, worker: str) -> Completion:
    return Completion(
        lease=claimed.lease,
        action=CompletionAction.DEAD_LETTER,
        result=_result(claimed, worker, ResultStatus.FAILURE),
        events=(
            _event(EventType.FAILED, claimed, worker),
            _event(EventType.DEAD_LETTERED, claimed, worker),
        ),
        reason=f"failed on {worker}",
    )


def _retry(claimed: ClaimedTask, worker: str) -> Completion:
    return Completion(
        lease=claimed.lease,
        action=CompletionAction.RETRY,
        events=(
            _event(EventType.FAILED, claimed, worker),
            _event(EventType.RETRYING, claimed, worker),
        ),
        retry_at=utcnow() + timedelta(seconds=60),
        error=f"E: {worker}",
    )


class FencedCompletionConformance(ConformanceBase):
    """Fenced completion across the task queue, result and event storages of one backend."""

    @pytest_asyncio.fixture
    async def stores(self, opener: StorageOpener) -> AsyncIterator[_Stores]:
        queue = await opener.task_queue()
        results = await opener.result_storage()
        events = await opener.event_storage()
        sink = EventSink(events)
        yield _Stores(queue, results, events, Finisher(queue, results, sink, lease_seconds=30))
        await sink.close()

    async def _finish(self, stores: _Stores, completion: Completion) -> bool:
        pending = PendingCompletion(completion)
        await stores.finisher.finish([pending])
        await stores.finisher.events.flush()
        assert pending.applied is not None
        return pending.applied

    async def _stale_and_fresh(
        self, stores: _Stores, queue_name: str
    ) -> tuple[ClaimedTask, ClaimedTask]:
        """A task claimed twice: ``stale``'s lease ran out and was recovered, ``fresh`` holds it."""
        queue = stores.queue
        await queue.enqueue(make_task(queue_name))
        (stale,) = await queue.claim([queue_name], limit=1, lease_seconds=LEASE, worker_id="old")
        await asyncio.sleep(PAST_LEASE)
        assert [r.task_id for r in await queue.recover_expired()] == [stale.task.id]
        (fresh,) = await queue.claim([queue_name], limit=1, lease_seconds=30, worker_id="new")
        assert fresh.lease.delivery > stale.lease.delivery
        return stale, fresh

    async def _trail(self, stores: _Stores, task_id: str) -> list[EventType]:
        return [e.event_type for e in await stores.events.query(EventQuery(task_id=task_id))]

    @pytest.mark.asyncio
    async def test_completion_under_the_current_lease_is_applied(
        self, stores: _Stores, queue_name: str
    ) -> None:
        await stores.queue.enqueue(make_task(queue_name))
        (claimed,) = await stores.queue.claim(
            [queue_name], limit=1, lease_seconds=30, worker_id="w"
        )
        assert await self._finish(stores, _ack(claimed, "w")) is True
        assert await stores.queue.get(claimed.task.id) is None
        result = await stores.results.get(claimed.task.id)
        assert result is not None and result.worker_id == "w" and result.delivery == 1
        assert await self._trail(stores, claimed.task.id) == [EventType.COMPLETED]

    @pytest.mark.asyncio
    async def test_completion_stale_result_is_refused(
        self, stores: _Stores, queue_name: str
    ) -> None:
        """The stale worker wakes after the new owner finished: the newer result stays."""
        stale, fresh = await self._stale_and_fresh(stores, queue_name)
        assert await self._finish(stores, _ack(fresh, "new")) is True
        assert await self._finish(stores, _ack(stale, "old")) is False
        result = await stores.results.get(fresh.task.id)
        assert result is not None and result.worker_id == "new"
        assert await self._trail(stores, fresh.task.id) == [EventType.COMPLETED]

    @pytest.mark.asyncio
    async def test_completion_stale_terminal_event_is_refused(
        self, stores: _Stores, queue_name: str
    ) -> None:
        """The stale worker finishes while the new owner still runs the task: it stores no
        result and no event, and the task stays with its new owner."""
        stale, fresh = await self._stale_and_fresh(stores, queue_name)
        assert await self._finish(stores, _ack(stale, "old")) is False
        assert await stores.results.get(fresh.task.id) is None
        assert await self._trail(stores, fresh.task.id) == []
        info = await stores.queue.get(fresh.task.id)
        assert info is not None and info.state is TaskState.ACTIVE and info.worker_id == "new"
        assert await self._finish(stores, _ack(fresh, "new")) is True
        assert await self._trail(stores, fresh.task.id) == [EventType.COMPLETED]

    @pytest.mark.asyncio
    async def test_completion_stale_dead_letter_is_refused(
        self, stores: _Stores, queue_name: str
    ) -> None:
        stale, fresh = await self._stale_and_fresh(stores, queue_name)
        assert await self._finish(stores, _dead(stale, "old")) is False
        assert await stores.results.get(fresh.task.id) is None
        assert await self._trail(stores, fresh.task.id) == []
        info = await stores.queue.get(fresh.task.id)
        assert info is not None and info.state is TaskState.ACTIVE
        assert await self._finish(stores, _dead(fresh, "new")) is True
        info = await stores.queue.get(fresh.task.id)
        assert info is not None and info.state is TaskState.DEAD
        result = await stores.results.get(fresh.task.id)
        assert result is not None and result.status is ResultStatus.FAILURE
        assert await self._trail(stores, fresh.task.id) == [
            EventType.FAILED,
            EventType.DEAD_LETTERED,
        ]

    @pytest.mark.asyncio
    async def test_completion_stale_retry_is_refused(
        self, stores: _Stores, queue_name: str
    ) -> None:
        stale, fresh = await self._stale_and_fresh(stores, queue_name)
        assert await self._finish(stores, _retry(stale, "old")) is False
        assert await self._trail(stores, fresh.task.id) == []
        info = await stores.queue.get(fresh.task.id)
        assert info is not None and info.state is TaskState.ACTIVE
        assert await self._finish(stores, _retry(fresh, "new")) is True
        info = await stores.queue.get(fresh.task.id)
        assert info is not None and info.state is TaskState.PENDING
        assert info.last_error == "E: new"
        assert await self._trail(stores, fresh.task.id) == [EventType.FAILED, EventType.RETRYING]

    @pytest.mark.asyncio
    async def test_completion_batch_applies_the_current_and_refuses_the_stale(
        self, stores: _Stores, queue_name: str
    ) -> None:
        stale, _ = await self._stale_and_fresh(stores, queue_name)
        await stores.queue.enqueue(make_task(queue_name))
        (other,) = await stores.queue.claim([queue_name], limit=1, lease_seconds=30, worker_id="w")
        batch = [PendingCompletion(_ack(stale, "old")), PendingCompletion(_ack(other, "w"))]
        await stores.finisher.finish(batch)
        assert [p.applied for p in batch] == [False, True]
        assert await stores.results.get(stale.task.id) is None
        done = await stores.results.get(other.task.id)
        assert done is not None and done.worker_id == "w"
