"""A schedule tick whose claimer died between its claim and its enqueue: another scheduler
takes the unconfirmed entry over, enqueues the tick's task once and writes its ``enqueued``
event; of two schedulers taking it over at once, one does; a claimer that stalled past the
takeover time hands the events to the scheduler that took over."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import attrs
import omniq_nats.schedules as nats_schedules
import pytest
from omniq import AsyncOmniQ, load_backend
from omniq._time import utcnow
from omniq.models.event import EventType
from omniq.models.schedule import Schedule
from omniq.models.task import TaskState
from omniq.scheduling.scheduler import Scheduler
from omniq_nats.schedules import NATSScheduleStorage

NAME = "hourly"


def tick_task() -> None:
    return None


async def _app(nats_server: Any, prefix: str) -> AsyncOmniQ:
    backend = load_backend("nats", url=nats_server.url, prefix=prefix)
    return AsyncOmniQ(backend=backend, workers=0, scheduler=False)


async def _due_schedule(oq: AsyncOmniQ) -> Schedule:
    await oq.schedule(tick_task, interval=3600.0, name=NAME)
    storage = oq.stores.schedules
    stored = await storage.get(NAME)
    assert stored is not None
    due = attrs.evolve(stored, next_fire_at=utcnow() - timedelta(seconds=1))
    await storage.add(due)
    return due


def _scheduler(oq: AsyncOmniQ) -> Scheduler:
    return Scheduler(oq.stores.schedules, oq.stores.task_queue, oq.event_sink)


async def _enqueued_events(oq: AsyncOmniQ) -> list[Any]:
    await oq.event_sink.flush()
    return await oq.query_events(event_types=[EventType.ENQUEUED], limit=100)


async def _claim_and_die(oq: AsyncOmniQ, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claim the due tick with the queue failing, as a scheduler killed before its enqueue."""
    queue = oq.stores.task_queue

    async def dies(*_: Any, **__: Any) -> int:
        raise RuntimeError("the scheduler died here")

    with monkeypatch.context() as patched:
        patched.setattr(queue, "enqueue_many", dies)
        with pytest.raises(RuntimeError, match="died here"):
            await _scheduler(oq).run_once()


async def _claimer_presumed_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorten the takeover time to 0.5 s and wait past it."""
    monkeypatch.setattr(nats_schedules, "TAKEOVER_SECONDS", 0.5)
    await asyncio.sleep(0.6)


@pytest.mark.timeout(60)
async def test_a_dead_claimers_tick_is_enqueued_once_with_its_event(
    nats_server: Any, nats_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await _app(nats_server, nats_prefix) as oq:
        await _due_schedule(oq)
        await _claim_and_die(oq, monkeypatch)
        assert await oq.list_tasks("default", state=TaskState.PENDING) == []
        assert await _scheduler(oq).run_once() == 0, "taken over before its claimer is gone"

        await _claimer_presumed_dead(monkeypatch)
        assert await _scheduler(oq).run_once() == 1
        assert await _scheduler(oq).run_once() == 0, "the entry was left after the takeover"

        queued = await oq.list_tasks("default", state=TaskState.PENDING)
        events = await _enqueued_events(oq)
    assert [i.task.headers["schedule"] for i in queued] == [NAME]
    assert [(e.task_id, e.details.get("taken_over")) for e in events] == [(queued[0].task.id, True)]


@pytest.mark.timeout(60)
async def test_of_two_schedulers_taking_over_one_writes_the_events(
    nats_server: Any, nats_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await _app(nats_server, nats_prefix) as oq:
        await _due_schedule(oq)
        await _claim_and_die(oq, monkeypatch)
        await _claimer_presumed_dead(monkeypatch)
        async with await _app(nats_server, nats_prefix) as second:  # another scheduler's
            takers = [oq.stores.schedules, second.stores.schedules]
            for app, storage in zip((oq, second), takers, strict=True):
                assert isinstance(storage, NATSScheduleStorage)
                assert storage.enqueues_into(app.stores.task_queue)
            taken = await asyncio.gather(*(s.take_over_ticks() for s in takers))  # type: ignore[attr-defined]
        queued = await oq.list_tasks("default", state=TaskState.PENDING)
    assert sorted(len(t) for t in taken) == [0, 1]
    assert len(queued) == 1


@pytest.mark.timeout(60)
async def test_a_stalled_claimer_leaves_the_events_to_the_scheduler_that_took_over(
    nats_server: Any, nats_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await _app(nats_server, nats_prefix) as oq:
        schedule = await _due_schedule(oq)
        storage = oq.stores.schedules
        assert isinstance(storage, NATSScheduleStorage)
        queue = oq.stores.task_queue
        enqueue = queue.enqueue_many
        taken: list[int] = []

        async def stalls(tasks: Any) -> int:
            monkeypatch.setattr(queue, "enqueue_many", enqueue)  # the taker's is not stalled
            await _claimer_presumed_dead(monkeypatch)
            taken.append(len(await storage.take_over_ticks()))  # another scheduler, meanwhile
            return await enqueue(tasks)

        monkeypatch.setattr(queue, "enqueue_many", stalls)
        assert await _scheduler(oq).run_once() == 0, "the stalled claimer wrote events"
        queued = await oq.list_tasks("default", state=TaskState.PENDING)
        stored = await storage.get(NAME)
        events = await _enqueued_events(oq)
    assert taken == [1]
    # the taker here is the storage call alone (its scheduler writes the events it returns)
    assert events == [], "the stalled claimer wrote an enqueued event"
    assert len(queued) == 1
    assert stored is not None and stored.last_fired_at == schedule.next_fire_at
