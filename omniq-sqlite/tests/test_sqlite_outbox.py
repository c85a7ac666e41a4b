"""With tasks and events in one SQLite database, a batch's ``enqueued`` events are written in
the batch's transaction (omniq.storage.EventOutbox): stored when enqueue_many returns, never
for a task that was already in the queue. With events elsewhere, the background writer stores
them as before."""

from __future__ import annotations

from pathlib import Path

import omniq
from omniq import AsyncOmniQ, OmniQ
from omniq.models import EventQuery, EventType
from omniq.storage import EventOutbox


def noop(n: int) -> int:
    return n


async def test_the_queue_offers_its_own_backends_events_only(tmp_path: Path) -> None:
    same = omniq.load_backend("sqlite", database_path=str(tmp_path / "a.db"))
    other = omniq.load_backend("sqlite", database_path=str(tmp_path / "b.db"))
    try:
        queue = same.task_queue()
        assert isinstance(queue, EventOutbox)
        assert queue.shares_events_with(same.event_storage())
        assert not queue.shares_events_with(other.event_storage())
        assert not queue.shares_events_with(omniq.load_backend("memory").event_storage())
    finally:
        await same.close()
        await other.close()


async def test_a_batch_and_its_events_are_stored_together(tmp_path: Path) -> None:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    async with AsyncOmniQ(backend=backend, workers=0) as oq:
        ids = await oq.enqueue_many([(noop, (i,)) for i in range(5)])
        events = oq._stores.events  # type: ignore[union-attr]
        # read straight from the storage: nothing was left in the app's buffer
        assert len(oq._sink) == 0  # type: ignore[arg-type]
        stored = await events.query(EventQuery(event_types=[EventType.ENQUEUED]))
        assert sorted(e.task_id for e in stored) == sorted(ids)


async def test_a_task_already_queued_gets_no_second_enqueued_event(tmp_path: Path) -> None:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    async with AsyncOmniQ(backend=backend, workers=0) as oq:
        await oq.enqueue(noop, 0, task_id="order-1")
        await oq.enqueue_many([(noop, (1,), {}, {"task_id": "order-1"}), (noop, (2,))])
        events = await oq.query_events(event_types=["enqueued"])
        info = await oq._stores.task_queue.get("order-1")  # type: ignore[union-attr]
    assert [e.task_id for e in events].count("order-1") == 1
    assert len(events) == 2
    assert info is not None and info.task.payload == b"[[0],{}]"  # the first enqueue's


async def test_an_id_repeated_within_one_batch_gets_one_task_and_one_event(
    tmp_path: Path,
) -> None:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    async with AsyncOmniQ(backend=backend, workers=0) as oq:
        twice = {"task_id": "order-2"}
        await oq.enqueue_many([(noop, (1,), {}, twice), (noop, (2,), {}, twice), (noop, (3,))])
        events = await oq.query_events(event_types=["enqueued"])
        info = await oq._stores.task_queue.get("order-2")  # type: ignore[union-attr]
    assert [e.task_id for e in events].count("order-2") == 1
    assert len(events) == 2
    assert info is not None and info.task.payload == b"[[1],{}]"  # the first in the batch


def test_the_sync_api_stores_a_batch_with_its_events(tmp_path: Path) -> None:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    with OmniQ(backend=backend, workers=0) as oq:
        ids = oq.enqueue_many([(noop, (i,)) for i in range(3)])
        assert len(oq.async_app._sink) == 0  # type: ignore[arg-type]
        events = oq.query_events(event_types=["enqueued"])
    assert sorted(e.task_id for e in events) == sorted(ids)


async def test_events_in_another_database_are_written_by_the_background_writer(
    tmp_path: Path,
) -> None:
    queue_backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "queue.db"))
    event_backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "events.db"))
    async with AsyncOmniQ(task_queue=queue_backend, event_storage=event_backend, workers=0) as oq:
        assert oq._outbox is None
        ids = await oq.enqueue_many([(noop, (i,)) for i in range(4)])
        events = await oq.query_events(event_types=["enqueued"])
    assert sorted(e.task_id for e in events) == sorted(ids)
