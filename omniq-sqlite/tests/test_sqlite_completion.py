"""With the queue, results and events in one SQLite database, a completion is one transaction
under its lease (omniq.storage.AtomicCompletion): a stale worker's completion changes nothing,
and a result of an older delivery refuses the whole completion. Results stored on their own are
compare-and-set on the delivery, in batches too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import attrs
import omniq
import pytest
from omniq import AsyncOmniQ
from omniq._time import utcnow
from omniq.backend.base import Backend
from omniq.models import (
    ClaimedTask,
    Completion,
    CompletionAction,
    EventQuery,
    EventType,
    TaskEvent,
    TaskState,
)
from omniq.storage import AtomicCompletion, EventStorage, ResultStorage, TaskQueueStorage
from omniq.testing._records import make_task
from omniq.testing.results import make_result

QUEUE = "done"
LEASE = 0.2


@attrs.define
class Stores:
    queue: TaskQueueStorage
    results: ResultStorage
    events: EventStorage

    @property
    def completer(self) -> AtomicCompletion:
        assert isinstance(self.queue, AtomicCompletion)
        return self.queue


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    yield backend
    await backend.close()


@pytest.fixture
async def stores(backend: Backend) -> Stores:
    found = Stores(backend.task_queue(), backend.result_storage(), backend.event_storage())
    for storage in (found.queue, found.results, found.events):
        await storage.connect()
    return found


async def claim_one(stores: Stores, lease: float = 30) -> ClaimedTask:
    (claimed,) = await stores.queue.claim([QUEUE], limit=1, lease_seconds=lease, worker_id="w")
    return claimed


def completed(claimed: ClaimedTask, **changes: object) -> Completion:
    lease = claimed.lease
    result = make_result(task_id=lease.task_id, delivery=lease.delivery, worker_id="w")
    event = TaskEvent(event_type=EventType.COMPLETED, task_id=lease.task_id, queue=QUEUE)
    fields: dict[str, object] = {
        "lease": lease,
        "action": CompletionAction.ACK,
        "result": result,
        "events": (event,),
    }
    fields.update(changes)
    return Completion(**fields)  # type: ignore[arg-type]


async def kinds(stores: Stores, task_id: str) -> list[EventType]:
    return [e.event_type for e in await stores.events.query(EventQuery(task_id=task_id))]


async def test_only_the_same_database_completes_atomically(tmp_path: Path) -> None:
    same = omniq.load_backend("sqlite", database_path=str(tmp_path / "a.db"))
    other = omniq.load_backend("sqlite", database_path=str(tmp_path / "b.db"))
    memory = omniq.load_backend("memory")
    try:
        queue = same.task_queue()
        assert isinstance(queue, AtomicCompletion)
        assert queue.completes_with(same.result_storage(), same.event_storage())
        assert not queue.completes_with(other.result_storage(), same.event_storage())
        assert not queue.completes_with(same.result_storage(), other.event_storage())
        assert not queue.completes_with(memory.result_storage(), memory.event_storage())
    finally:
        for backend in (same, other, memory):
            await backend.close()


async def test_a_completion_stores_result_and_events_and_acks(stores: Stores) -> None:
    await stores.queue.enqueue(make_task(QUEUE))
    claimed = await claim_one(stores)
    done = completed(claimed)
    assert await stores.completer.complete([done]) == [True]
    assert await stores.results.get(claimed.task.id) == done.result
    assert await kinds(stores, claimed.task.id) == [EventType.COMPLETED]
    assert await stores.queue.get(claimed.task.id) is None
    assert await stores.completer.complete([done]) == [False]  # once


async def test_a_stale_workers_completion_changes_nothing(stores: Stores) -> None:
    """Paused past its lease, the stale worker wakes after the next delivery completed: its
    result, its terminal event and its dead letter are all refused."""
    await stores.queue.enqueue(make_task(QUEUE))
    stale = await claim_one(stores, lease=LEASE)
    await asyncio.sleep(LEASE + 0.3)
    assert [r.task_id for r in await stores.queue.recover_expired()] == [stale.task.id]
    fresh = await claim_one(stores)
    assert (stale.lease.delivery, fresh.lease.delivery) == (1, 2)
    assert await stores.completer.complete([completed(fresh)]) == [True]
    newer = await stores.results.get(fresh.task.id)
    failure = TaskEvent(event_type=EventType.DEAD_LETTERED, task_id=stale.task.id, queue=QUEUE)
    stale_outcomes = [
        completed(stale),
        completed(stale, action=CompletionAction.DEAD_LETTER, events=(failure,), reason="x"),
        completed(stale, action=CompletionAction.RETRY, result=None, retry_at=utcnow()),
    ]
    assert await stores.completer.complete(stale_outcomes) == [False, False, False]
    assert await stores.results.get(fresh.task.id) == newer
    assert await kinds(stores, fresh.task.id) == [EventType.COMPLETED]
    assert await stores.queue.get(fresh.task.id) is None


async def test_a_refused_result_refuses_the_whole_completion(stores: Stores) -> None:
    """The lease is current, but a result of a later delivery is stored (say, written by a
    newer worker through another path): nothing of the completion is applied."""
    await stores.queue.enqueue(make_task(QUEUE))
    claimed = await claim_one(stores)
    newer = make_result(task_id=claimed.task.id, delivery=claimed.lease.delivery + 1)
    assert await stores.results.store(newer)
    assert await stores.completer.complete([completed(claimed)]) == [False]
    assert await stores.results.get(claimed.task.id) == newer
    assert await kinds(stores, claimed.task.id) == []
    info = await stores.queue.get(claimed.task.id)
    assert info is not None and info.state is TaskState.ACTIVE


async def test_dead_letter_and_retry_completions(stores: Stores) -> None:
    await stores.queue.enqueue_many([make_task(QUEUE, max_retries=1) for _ in range(2)])
    first, second = await stores.queue.claim([QUEUE], limit=2, lease_seconds=30, worker_id="w")
    later = utcnow() + timedelta(hours=1)
    outcomes = [
        completed(first, action=CompletionAction.DEAD_LETTER, result=None, reason="bad input"),
        completed(second, action=CompletionAction.RETRY, result=None, retry_at=later, error="E"),
    ]
    assert await stores.completer.complete(outcomes) == [True, True]
    dead = await stores.queue.get(first.task.id)
    assert dead is not None and (dead.state, dead.last_error) == (TaskState.DEAD, "bad input")
    retried = await stores.queue.get(second.task.id)
    assert retried is not None and retried.state is TaskState.PENDING
    assert (retried.attempt, retried.last_error, retried.task.eta) == (1, "E", later)
    assert retried.worker_id is None and retried.lease_expires_at is None
    for claimed in (first, second):
        assert await kinds(stores, claimed.task.id) == [EventType.COMPLETED]


async def test_a_batch_applies_each_completion_on_its_own_lease(stores: Stores) -> None:
    await stores.queue.enqueue_many([make_task(QUEUE) for _ in range(50)])
    claimed = await stores.queue.claim([QUEUE], limit=50, lease_seconds=30, worker_id="w")
    assert await stores.queue.ack([claimed[7].lease])  # finished by someone else
    outcomes = [completed(c) for c in claimed]
    applied = await stores.completer.complete(outcomes)
    assert applied == [i != 7 for i in range(50)]
    assert await stores.results.get(claimed[7].task.id) is None
    assert (await stores.queue.stats([QUEUE]))[0].active == 0


async def test_results_in_a_large_batch_are_each_compared(stores: Stores) -> None:
    """Past one 32-row statement, and with one task named twice in a batch."""
    held = [make_result(delivery=5) for _ in range(40)]
    assert await stores.results.store_many(held) == [True] * 40
    writes = [
        make_result(task_id=r.task_id, delivery=4 if i % 3 else 6, payload=b"new")
        for i, r in enumerate(held)
    ]
    fresh = [make_result(delivery=1) for _ in range(30)]
    assert await stores.results.store_many([*writes, *fresh]) == [
        *[i % 3 == 0 for i in range(40)],
        *[True] * 30,
    ]
    for i, r in enumerate(held):
        stored = await stores.results.get(r.task_id)
        assert stored is not None and stored.delivery == (6 if i % 3 == 0 else 5)
    task = held[1].task_id
    twice = [make_result(task_id=task, delivery=d, payload=str(d).encode()) for d in (9, 8, 9)]
    assert await stores.results.store_many(twice) == [True, False, True]
    stored = await stores.results.get(task)
    assert stored is not None and stored.payload == b"9"


def triple(n: int) -> int:
    return n * 3


async def test_a_worker_with_results_in_another_file_finishes_step_by_step(
    tmp_path: Path,
) -> None:
    """The queue cannot complete atomically with another file's results: the runtime's fenced
    steps run instead, and every task still gets its result and one completed event."""
    queue_backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "queue.db"))
    store_backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "store.db"))
    async with AsyncOmniQ(
        task_queue=queue_backend,
        result_storage=store_backend,
        event_storage=store_backend,
        workers=2,
    ) as oq:
        queue = oq._stores.task_queue  # type: ignore[union-attr]
        assert isinstance(queue, AtomicCompletion)
        assert not queue.completes_with(oq._stores.results, oq._stores.events)  # type: ignore[union-attr]
        ids = await oq.enqueue_many([(triple, (i,)) for i in range(30)])
        assert [await oq.get_result(t, timeout=30) for t in ids] == [3 * i for i in range(30)]
        for task_id in ids[:5]:
            kinds = [e.event_type for e in await oq.get_events(task_id)]
            assert kinds.count(EventType.COMPLETED) == 1
