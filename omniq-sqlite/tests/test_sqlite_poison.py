"""Poison records: a task row that cannot be decoded goes to the dead letters as a corrupt
record (kept as it is) while every other task is claimed; an event row that cannot be decoded
is left out of queries and follows with a warning. The rows are damaged by hand, with sqlite3,
as someone with write access to the file could."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import omniq
import pytest
from omniq import AsyncOmniQ
from omniq.backend.base import Backend
from omniq.models import EventQuery, EventType, TaskEvent, TaskState
from omniq.models.task import CORRUPT_RECORD
from omniq.storage import EventStorage, TaskQueueStorage
from omniq.testing._records import make_task
from omniq_sqlite.rows import CorruptRowError

QUEUE = "poison"

DAMAGE = {
    "headers that are not JSON": "headers = '{not json'",
    "headers that are not an object": "headers = '[1, 2]'",
    "a text priority": "priority = 'high'",
    "a text eta": "eta = 'tomorrow'",
    "a real enqueued_at": "enqueued_at = 1.5",
    "a text payload": "payload = 'not bytes'",
    "a blob function": "func = X'00FF'",
    "a text max_retries": "max_retries = 'many'",
    "a text timeout": "timeout = 'soon'",
    "an enqueued_at past the year 9999": "enqueued_at = 9223372036854775807",
}


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    yield backend
    await backend.close()


@pytest.fixture
async def queue(backend: Backend) -> TaskQueueStorage:
    storage = backend.task_queue()
    await storage.connect()
    return storage


def damage(path: Path, table: str, change: str, row_id: str) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute(f"UPDATE {table} SET {change} WHERE id = ?", (row_id,)).rowcount == 1


def db_path(backend: Backend) -> Path:
    return Path(backend.task_queue().db.path)  # type: ignore[attr-defined]


def warnings_naming(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and text in r.getMessage()
    ]


@pytest.mark.parametrize("change", DAMAGE.values(), ids=DAMAGE.keys())
async def test_a_task_row_that_cannot_be_decoded_is_set_aside_and_the_others_claimed(
    backend: Backend, queue: TaskQueueStorage, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = [make_task(QUEUE, priority=p) for p in (0, 1, 2)]
    bad = make_task(QUEUE, priority=1)
    await queue.enqueue_many([*good, bad])
    damage(db_path(backend), "omniq_tasks", change, bad.id)
    with caplog.at_level(logging.WARNING, logger="omniq_sqlite"):
        claimed = await queue.claim([QUEUE], limit=10, lease_seconds=30, worker_id="w")
    assert sorted(c.task.id for c in claimed) == sorted(t.id for t in good)
    assert [c.task.priority for c in claimed] == [2, 1, 0]
    assert warnings_naming(caplog, bad.id), "no warning names the corrupt task"
    assert (await queue.stats([QUEUE]))[0].dead == 1
    with sqlite3.connect(db_path(backend)) as db:
        state, error = db.execute(
            "SELECT state, last_error FROM omniq_tasks WHERE id = ?", (bad.id,)
        ).fetchone()
    assert (state, error) == ("dead", CORRUPT_RECORD)
    # kept for inspection: reading it says what is wrong, listing the dead letters skips it
    with pytest.raises(CorruptRowError, match=bad.id):
        await queue.get(bad.id)
    assert await queue.list_tasks(QUEUE, state=TaskState.DEAD) == []
    assert await queue.ack([c.lease for c in claimed]) == [True] * 3


async def test_a_poison_row_does_not_cost_the_claim_its_places(
    backend: Backend, queue: TaskQueueStorage
) -> None:
    """A claim of 2 whose first row is corrupt still returns 2 tasks."""
    bad = make_task(QUEUE, priority=9)
    good = [make_task(QUEUE) for _ in range(3)]
    await queue.enqueue_many([bad, *good])
    damage(db_path(backend), "omniq_tasks", "headers = '{not json'", bad.id)
    claimed = await queue.claim([QUEUE], limit=2, lease_seconds=30, worker_id="w")
    assert len(claimed) == 2 and bad.id not in {c.task.id for c in claimed}


async def test_a_queued_good_task_is_not_dead_lettered_with_the_bad_one(
    backend: Backend, queue: TaskQueueStorage
) -> None:
    tasks = [make_task(QUEUE) for _ in range(40)]
    await queue.enqueue_many(tasks)
    for task in tasks[::7]:
        damage(db_path(backend), "omniq_tasks", "priority = 'x'", task.id)
    seen: list[str] = []
    while batch := await queue.claim([QUEUE], limit=8, lease_seconds=30, worker_id="w"):
        seen.extend(c.task.id for c in batch)
    assert sorted(seen) == sorted(t.id for t in tasks if t not in tasks[::7])
    stats = (await queue.stats([QUEUE]))[0]
    assert (stats.dead, stats.active, stats.ready) == (len(tasks[::7]), len(seen), 0)


def double(n: int) -> int:
    return n * 2


async def test_a_worker_goes_on_past_a_corrupt_task_and_a_corrupt_event(tmp_path: Path) -> None:
    """The end-to-end check: with the defaults, one corrupt task and one corrupt event; every
    other task completes and get_events works."""
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    async with AsyncOmniQ(backend=backend, workers=0) as producer:
        bad = await producer.enqueue(double, 0)
        ids = await producer.enqueue_many([(double, (i,)) for i in range(1, 21)])
        with sqlite3.connect(tmp_path / "omniq.db") as db:
            db.execute("UPDATE omniq_tasks SET headers = '{not json' WHERE id = ?", (bad,))
            db.execute("UPDATE omniq_events SET details = '{not json' WHERE task_id = ?", (ids[0],))
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    async with AsyncOmniQ(backend=backend, workers=2) as oq:
        values = [await oq.get_result(task_id, timeout=30) for task_id in ids]
        assert values == [2 * i for i in range(1, 21)]
        events = await oq.get_events(ids[0])
        info = await oq._stores.task_queue.get(ids[1])  # type: ignore[union-attr]
    assert EventType.ENQUEUED not in [e.event_type for e in events]  # the damaged one
    assert EventType.COMPLETED in [e.event_type for e in events]
    assert info is None  # done and acked


EVENT_DAMAGE = {
    "details that are not JSON": "details = '{not json'",
    "details that are not an object": "details = '3'",
    "an unknown event type": "event_type = 'exploded'",
    "a text timestamp": "ts = 'noon'",
    "a text attempt": "attempt = 'first'",
    "a blob worker id": "worker_id = X'01'",
}


@pytest.fixture
async def event_log(backend: Backend) -> EventStorage:
    storage = backend.event_storage()
    await storage.connect()
    return storage


def trail(task_id: str, count: int) -> list[TaskEvent]:
    kinds = [EventType.ENQUEUED, EventType.STARTED, EventType.COMPLETED]
    return [
        TaskEvent(event_type=kinds[i % 3], task_id=task_id, queue=QUEUE, details={"n": i})
        for i in range(count)
    ]


@pytest.mark.parametrize("change", EVENT_DAMAGE.values(), ids=EVENT_DAMAGE.keys())
async def test_an_event_row_that_cannot_be_decoded_is_skipped_with_a_warning(
    backend: Backend,
    event_log: EventStorage,
    change: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = trail("t-1", 6)
    await event_log.append_many(events)
    bad = events[2]
    damage(db_path(backend), "omniq_events", change, bad.id)
    with caplog.at_level(logging.WARNING, logger="omniq_sqlite"):
        found = await event_log.query(EventQuery(task_id="t-1"))
    assert [e.id for e in found] == [e.id for e in events if e is not bad]
    assert warnings_naming(caplog, bad.id), "no warning names the corrupt event"


async def test_a_query_limit_counts_only_decoded_events(
    backend: Backend, event_log: EventStorage
) -> None:
    events = trail("t-2", 10)
    await event_log.append_many(events)
    for event in events[:4]:
        damage(db_path(backend), "omniq_events", "details = '{'", event.id)
    found = await event_log.query(EventQuery(task_id="t-2", limit=3))
    assert [e.id for e in found] == [e.id for e in events[4:7]]


async def test_a_follow_skips_a_corrupt_event(backend: Backend, event_log: EventStorage) -> None:
    events = trail("t-3", 4)
    await event_log.append_many(events)
    damage(db_path(backend), "omniq_events", "details = '{not json'", events[1].id)
    received: list[TaskEvent] = []

    async def follow() -> None:
        async for event in event_log.subscribe(EventQuery(task_id="t-3", after_id="")):
            received.append(event)
            if len(received) == 3:
                return

    await asyncio.wait_for(follow(), 30)
    assert [e.id for e in received] == [events[0].id, events[2].id, events[3].id]


async def test_a_waiting_worker_is_not_stopped_by_a_damaged_eta(
    backend: Backend, queue: TaskQueueStorage
) -> None:
    """The only pending task's eta is text: waiting for work returns at once (no error), and the
    next claim sets the row aside."""
    bad = make_task(QUEUE)
    await queue.enqueue(bad)
    damage(db_path(backend), "omniq_tasks", "eta = 'tomorrow'", bad.id)
    await asyncio.wait_for(queue.wait_for_work([QUEUE], timeout=20), 10)
    assert await queue.claim([QUEUE], limit=5, lease_seconds=30, worker_id="w") == []
    assert (await queue.stats([QUEUE]))[0].dead == 1
