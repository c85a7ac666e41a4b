"""The example backend loads through its entry point and keeps the core promises of each role.

The full proof is OmniQ's conformance suite (``test_conformance.py``); these tests check the
plugin wiring and the promises a store most easily gets wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.errors import BackendOptionError, StorageClosedError
from omniq.models.event import EventQuery, TaskEvent
from omniq.models.result import ResultStatus, TaskResult
from omniq.models.schedule import Schedule
from omniq.models.task import CancelOutcome, Task, TaskState
from omniq.storage import Capability, Role


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    async with omniq.load_backend("example") as loaded:
        for role in Role:
            await loaded.storage(role).connect()
        yield loaded


def test_the_entry_point_registers_all_four_roles() -> None:
    backend = omniq.load_backend("example://")
    assert (backend.name, backend.distribution) == ("example", "omniq-example-backend")
    assert backend.roles == set(Role)
    assert backend.options.url == "example://"
    assert Capability.PUSH_WAKEUP in backend.capabilities(Role.TASK_QUEUE)
    with pytest.raises(BackendOptionError, match="Did you mean 'url'"):
        omniq.load_backend("example", ur="example://")
    shared = omniq.load_backend("example-json", path="store.json")
    assert shared.capabilities(Role.TASK_QUEUE) == {
        Capability.PERSISTENT,
        Capability.MULTI_PROCESS,
        Capability.PUSH_WAKEUP,
    }


async def test_claims_follow_priority_then_eta_and_are_fenced(backend: Backend) -> None:
    queue = backend.task_queue()
    now = datetime.now(UTC)
    low = Task(func="m:f", priority=0, enqueued_at=now, max_retries=2)
    high = Task(func="m:f", priority=9, enqueued_at=now, max_retries=2)
    later = Task(func="m:f", priority=9, enqueued_at=now, eta=now + timedelta(hours=1))
    assert await queue.enqueue_many([low, high, later]) == 3
    assert await queue.enqueue(low) is False
    claimed = await queue.claim(["default"], limit=5, lease_seconds=0.0, worker_id="w1")
    assert [c.task.id for c in claimed] == [high.id, low.id]
    # both leases expired at once: recovery returns them; the old tokens are fenced off
    recovered = await queue.recover_expired()
    assert {r.task_id for r in recovered} == {high.id, low.id}
    assert await queue.ack([claimed[0].lease]) == [False]
    again = await queue.claim(["default"], limit=1, lease_seconds=30, worker_id="w2")
    assert again[0].task.id == high.id
    # the expiry gave the attempt back; the delivery number only grows
    assert (again[0].lease.attempt, again[0].lease.delivery) == (1, 2)
    assert again[0].lease.token != claimed[0].lease.token
    assert await queue.ack([again[0].lease]) == [True]
    info = await queue.get(low.id)
    assert info is not None
    assert info.state is TaskState.PENDING


async def test_expiry_dead_letters_only_at_max_deliveries_and_cancel(backend: Backend) -> None:
    queue = backend.task_queue()
    task = Task(func="m:f")  # max_retries=0: a crash must still not cost it
    await queue.enqueue(task)
    await queue.claim(["default"], limit=1, lease_seconds=0.0, worker_id="w")
    (first,) = await queue.recover_expired(max_deliveries=2)
    assert (first.dead, first.delivery) == (False, 1)
    await queue.claim(["default"], limit=1, lease_seconds=0.0, worker_id="w")
    (second,) = await queue.recover_expired(max_deliveries=2)
    assert (second.dead, second.delivery) == (True, 2)
    info = await queue.get(task.id)
    assert info is not None and info.last_error and "max_deliveries" in info.last_error
    assert await queue.cancel(task.id) is CancelOutcome.NOT_FOUND
    assert await queue.requeue_dead("default") == 1
    (claimed,) = await queue.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    assert (claimed.lease.attempt, claimed.lease.delivery) == (1, 3)  # never reset
    assert await queue.nack(claimed.lease, retry_at=datetime.now(UTC)) is True
    assert await queue.cancel(task.id) is CancelOutcome.CANCELLED


async def test_a_stale_result_never_replaces_a_newer_one(backend: Backend) -> None:
    results = backend.result_storage()
    newer = TaskResult(task_id="t", status=ResultStatus.SUCCESS, payload=b"new", delivery=2)
    stale = TaskResult(task_id="t", status=ResultStatus.SUCCESS, payload=b"old", delivery=1)
    assert await results.store(newer) is True
    assert await results.store_many([stale, newer]) == [False, True]
    assert await results.get("t") == newer


async def test_results_expire_and_wait(backend: Backend) -> None:
    results = backend.result_storage()
    past = datetime.now(UTC) - timedelta(seconds=1)
    await results.store(TaskResult(task_id="gone", status=ResultStatus.SUCCESS, expires_at=past))
    assert await results.get("gone") is None
    assert await results.purge_expired() == 1

    async def store_soon() -> None:
        await asyncio.sleep(0.02)
        await results.store(TaskResult(task_id="soon", status=ResultStatus.SUCCESS, payload=b"1"))

    storing = asyncio.create_task(store_soon())
    waited = await results.wait("soon", timeout=5)
    await storing
    assert waited is not None
    assert waited.payload == b"1"


async def test_events_are_queried_in_order_with_a_limit(backend: Backend) -> None:
    events = backend.event_storage()
    start = datetime.now(UTC)
    made = [
        TaskEvent(event_type="enqueued", task_id="t", timestamp=start + timedelta(seconds=i))
        for i in (2, 0, 1)
    ]
    await events.append_many(made)
    found = await events.query(EventQuery(task_id="t", limit=2))
    assert [e.timestamp for e in found] == [start, start + timedelta(seconds=1)]


async def test_a_schedule_tick_is_claimed_once(backend: Backend) -> None:
    schedules = backend.schedule_storage()
    tick = datetime.now(UTC).replace(microsecond=0)
    await schedules.add(
        Schedule(name="nightly", func="m:f", kind="interval", interval=60.0, next_fire_at=tick)
    )
    assert [s.name for s in await schedules.due(tick)] == ["nightly"]
    following = tick + timedelta(minutes=1)
    outcomes = [await schedules.claim_tick("nightly", tick, following) for _ in range(3)]
    assert outcomes == [True, False, False]
    stored = await schedules.get("nightly")
    assert stored is not None
    assert (stored.next_fire_at, stored.last_fired_at) == (following, tick)


async def test_use_after_close_is_refused() -> None:
    backend = omniq.load_backend("example")
    queue = backend.task_queue()
    await backend.close()
    with pytest.raises(StorageClosedError):
        await queue.enqueue(Task(func="m:f"))
