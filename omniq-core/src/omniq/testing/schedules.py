"""Conformance tests of the schedule storage contract (:class:`omniq.storage.ScheduleStorage`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import pytest_asyncio

from omniq.models.schedule import MisfirePolicy, Schedule, TriggerKind
from omniq.storage import Capability, Role, ScheduleStorage
from omniq.testing._base import ConformanceBase, StorageOpener

__all__ = ["ScheduleStorageConformance"]

TICK = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_schedule(**changes: Any) -> Schedule:
    fields: dict[str, Any] = {
        "name": f"s-{uuid.uuid4().hex[:12]}",
        "func": "tests.tasks:report",
        "payload": b'{"args":[],"kwargs":{"x":1}}',
        "kind": TriggerKind.CRON,
        "cron": "*/5 * * * *",
        "timezone": "Europe/Berlin",
        "queue": "reports",
        "priority": 3,
        "max_retries": 2,
        "timeout": 10.0,
        "headers": {"team": "ops"},
        "next_fire_at": TICK,
        "misfire_policy": MisfirePolicy.CATCH_UP,
        "misfire_grace": 30.0,
    }
    fields.update(changes)
    return Schedule(**fields)


class ScheduleStorageConformance(ConformanceBase):
    """The schedule storage contract: CRUD, pause, due schedules, one claim per tick."""

    @pytest_asyncio.fixture
    async def schedule_storage(self, opener: StorageOpener) -> AsyncIterator[ScheduleStorage]:
        yield await opener.schedule_storage()

    @pytest.mark.asyncio
    async def test_schedule_add_get_and_replace(self, schedule_storage: ScheduleStorage) -> None:
        schedule = make_schedule()
        once = make_schedule(kind=TriggerKind.ONCE, cron=None, at=TICK, timezone="UTC")
        every = make_schedule(kind=TriggerKind.INTERVAL, cron=None, interval=2.5, paused=True)
        for item in (schedule, once, every):
            await schedule_storage.add(item)
            assert await schedule_storage.get(item.name) == item
        changed = attrs.evolve(schedule, cron="0 * * * *", next_fire_at=TICK + timedelta(hours=1))
        await schedule_storage.add(changed)
        assert await schedule_storage.get(schedule.name) == changed
        assert await schedule_storage.get("no-such-schedule") is None

    @pytest.mark.asyncio
    async def test_schedule_list_and_remove(self, schedule_storage: ScheduleStorage) -> None:
        made = [make_schedule() for _ in range(3)]
        for schedule in made:
            await schedule_storage.add(schedule)
        listed = [s for s in await schedule_storage.list() if s in made]
        assert listed == sorted(made, key=lambda s: s.name)
        assert await schedule_storage.remove(made[0].name) is True
        assert await schedule_storage.remove(made[0].name) is False
        assert await schedule_storage.get(made[0].name) is None

    @pytest.mark.asyncio
    async def test_schedule_pause_and_resume(self, schedule_storage: ScheduleStorage) -> None:
        schedule = make_schedule()
        await schedule_storage.add(schedule)
        assert await schedule_storage.set_paused(schedule.name, True) is True
        paused = await schedule_storage.get(schedule.name)
        assert paused is not None and paused.paused is True
        assert schedule.name not in {s.name for s in await schedule_storage.due(TICK)}
        assert await schedule_storage.claim_tick(schedule.name, TICK, None) is False
        assert await schedule_storage.set_paused(schedule.name, False) is True
        assert schedule.name in {s.name for s in await schedule_storage.due(TICK)}
        assert await schedule_storage.set_paused("no-such-schedule", True) is False

    @pytest.mark.asyncio
    async def test_schedule_due_lists_earliest_first(
        self, schedule_storage: ScheduleStorage
    ) -> None:
        early = make_schedule(next_fire_at=TICK - timedelta(minutes=5))
        now = make_schedule(next_fire_at=TICK)
        later = make_schedule(next_fire_at=TICK + timedelta(seconds=1))
        spent = make_schedule(kind=TriggerKind.ONCE, cron=None, at=TICK, next_fire_at=None)
        for schedule in (later, now, spent, early):
            await schedule_storage.add(schedule)
        mine = {s.name for s in (early, now, later, spent)}
        due = [s.name for s in await schedule_storage.due(TICK, limit=1000) if s.name in mine]
        assert due == [early.name, now.name]
        assert len(await schedule_storage.due(TICK, limit=1)) == 1

    @pytest.mark.asyncio
    async def test_schedule_claim_tick_is_a_compare_and_set(
        self, schedule_storage: ScheduleStorage
    ) -> None:
        schedule = make_schedule()
        await schedule_storage.add(schedule)
        following = TICK + timedelta(minutes=5)
        assert await schedule_storage.claim_tick(schedule.name, following, None) is False
        assert await schedule_storage.claim_tick(schedule.name, TICK, following) is True
        assert await schedule_storage.claim_tick(schedule.name, TICK, following) is False
        stored = await schedule_storage.get(schedule.name)
        assert stored is not None
        assert (stored.next_fire_at, stored.last_fired_at) == (following, TICK)
        assert await schedule_storage.claim_tick(schedule.name, following, None) is True
        spent = await schedule_storage.get(schedule.name)
        assert spent is not None and spent.next_fire_at is None
        assert await schedule_storage.claim_tick("no-such-schedule", TICK, None) is False

    @pytest.mark.asyncio
    async def test_schedule_concurrent_claims_fire_a_tick_once(
        self, opener: StorageOpener, schedule_storage: ScheduleStorage
    ) -> None:
        schedule = make_schedule()
        await schedule_storage.add(schedule)
        handles = [schedule_storage]
        if Capability.MULTI_PROCESS in opener.capabilities(Role.SCHEDULE_STORAGE):
            for _ in range(3):
                handles.append(await opener.schedule_storage(fresh=True))
        following = TICK + timedelta(minutes=5)
        wins = await asyncio.gather(
            *(
                handles[i % len(handles)].claim_tick(schedule.name, TICK, following)
                for i in range(12)
            )
        )
        assert sorted(wins) == [False] * 11 + [True]

    @pytest.mark.asyncio
    async def test_schedule_survives_close_and_reopen(self, opener: StorageOpener) -> None:
        first = await opener.schedule_storage(fresh=True)
        self.require(opener, Role.SCHEDULE_STORAGE, Capability.PERSISTENT)
        schedule = make_schedule()
        await first.add(schedule)
        await opener.close_backend(first)
        second = await opener.schedule_storage(fresh=True)
        assert await second.get(schedule.name) == schedule
