"""The scheduler fires each tick once, even with several schedulers, and follows its misfire
policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import omniq
import pytest
from omniq.backend.base import Backend
from omniq.models.schedule import MisfirePolicy
from omniq.runtime.events_sink import EventSink
from omniq.scheduling import Scheduler, build_schedule, tick_task_id

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        opened = omniq.load_backend("sqlite", database_path=str(tmp_path / "s.db"))
    else:
        opened = omniq.load_backend("memory")
    for role in ("task_queue", "schedule_storage", "event_storage"):
        await opened.storage(role).connect()
    yield opened
    await opened.close()


def make_scheduler(backend: Backend) -> Scheduler:
    return Scheduler(
        backend.schedule_storage(), backend.task_queue(), EventSink(backend.event_storage())
    )


async def queued_ids(backend: Backend) -> list[str]:
    infos = await backend.task_queue().list_tasks("default", state=omniq.models.TaskState.PENDING)
    return sorted(i.task.id for i in infos)


async def test_two_schedulers_fire_each_tick_once(backend: Backend) -> None:
    schedule = build_schedule(name="every-minute", func="m:f", cron="* * * * *", now=T0)
    await backend.schedule_storage().add(schedule)
    first, second = make_scheduler(backend), make_scheduler(backend)
    fired = 0
    for minute in range(1, 6):
        now = T0 + timedelta(minutes=minute, seconds=1)
        fired += sum(await asyncio.gather(first.run_once(now), second.run_once(now)))
    assert fired == 5
    expected = sorted(tick_task_id("every-minute", T0 + timedelta(minutes=m)) for m in range(1, 6))
    assert await queued_ids(backend) == expected


async def test_paused_schedules_do_not_fire(backend: Backend) -> None:
    schedule = build_schedule(name="paused", func="m:f", interval=60, now=T0, paused=True)
    await backend.schedule_storage().add(schedule)
    assert await make_scheduler(backend).run_once(T0 + timedelta(hours=1)) == 0
    assert await queued_ids(backend) == []


@pytest.mark.parametrize(
    ("policy", "expected_ticks"), [(MisfirePolicy.SKIP, [10]), (MisfirePolicy.CATCH_UP, [9, 10])]
)
async def test_misfire_policy(
    backend: Backend, policy: MisfirePolicy, expected_ticks: list[int]
) -> None:
    schedule = build_schedule(
        name="late", func="m:f", interval=60, now=T0, misfire_policy=policy, misfire_grace=90
    )
    await backend.schedule_storage().add(schedule)
    # down for ten minutes: ticks 1..10 missed; only those within 90 s of now may still fire
    now = T0 + timedelta(minutes=10, seconds=30)
    assert await make_scheduler(backend).run_once(now) == len(expected_ticks)
    expected = sorted(tick_task_id("late", T0 + timedelta(minutes=m)) for m in expected_ticks)
    assert await queued_ids(backend) == expected
    stored = await backend.schedule_storage().get("late")
    assert stored is not None and stored.next_fire_at == T0 + timedelta(minutes=11)


async def test_one_shot_fires_once_then_stops(backend: Backend) -> None:
    schedule = build_schedule(name="once", func="m:f", at=T0 + timedelta(seconds=5), now=T0)
    await backend.schedule_storage().add(schedule)
    scheduler = make_scheduler(backend)
    assert await scheduler.run_once(T0 + timedelta(seconds=6)) == 1
    assert await scheduler.run_once(T0 + timedelta(days=1)) == 0
    stored = await backend.schedule_storage().get("once")
    assert stored is not None and stored.next_fire_at is None


async def test_fired_tasks_carry_the_schedule_template(backend: Backend) -> None:
    schedule = build_schedule(
        name="tmpl", func="pkg.mod:report", cron="0 * * * *", now=T0, priority=7, max_retries=3
    )
    schedule = attrs.evolve(schedule, payload=b'[[1],{"x":2}]', headers={"team": "ops"})
    await backend.schedule_storage().add(schedule)
    await make_scheduler(backend).run_once(T0 + timedelta(hours=1))
    (info,) = await backend.task_queue().list_tasks("default", state=omniq.models.TaskState.PENDING)
    task = info.task
    assert (task.func, task.payload, task.priority, task.max_retries) == (
        "pkg.mod:report",
        b'[[1],{"x":2}]',
        7,
        3,
    )
    assert task.headers["schedule"] == "tmpl" and task.headers["team"] == "ops"
