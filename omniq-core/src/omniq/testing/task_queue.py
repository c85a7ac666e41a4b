"""Conformance tests of the task queue contract (:class:`omniq.storage.TaskQueueStorage`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta

import attrs
import pytest
import pytest_asyncio

from omniq._time import utcnow
from omniq.models.task import (
    CancelOutcome,
    ClaimedTask,
    Lease,
    QueueStats,
    TaskState,
    expired_reason,
)
from omniq.names import MAX_NAME_LENGTH, validate_task_id
from omniq.storage import Capability, Role, SyncTaskProducer, TaskQueueStorage
from omniq.testing._base import ConformanceBase, StorageOpener
from omniq.testing._records import ODD_BYTES, make_task, soon

__all__ = ["TaskQueueConformance"]

LEASE = 0.3
"""A lease short enough to watch expire."""
PAST_LEASE = 0.6
RETRY_DELAY = 1.5
"""A retry delay that outlasts a nack, a get and a claim even on a store of HTTP round trips
(S3 through moto: 0.37 s for the nack and the get alone)."""
PUSH_WAIT = 10.0
"""How long a pushed wait is told to wait; it must return long before."""
PUSH_DEADLINE = 3.0
_FORGED = "not-a-token-anyone-issued"


class TaskQueueConformance(ConformanceBase):
    """The task queue contract: ordering, delays, leases and fencing, retries, dead letters."""

    @pytest_asyncio.fixture
    async def task_queue(self, opener: StorageOpener) -> AsyncIterator[TaskQueueStorage]:
        yield await opener.task_queue()

    async def _claim_one(self, queue: TaskQueueStorage, name: str, **kw: float) -> ClaimedTask:
        claimed = await queue.claim(
            [name], limit=1, lease_seconds=kw.get("lease", 30.0), worker_id="w-1"
        )
        assert len(claimed) == 1, f"expected one ready task in {name!r}, claimed {claimed}"
        return claimed[0]

    # -- enqueue -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_queue_enqueue_then_get_round_trips_the_task(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name, payload=ODD_BYTES, priority=7, serializer="msgpack")
        assert await task_queue.enqueue(task) is True
        info = await task_queue.get(task.id)
        assert info is not None
        assert info.task == task
        assert info.state is TaskState.PENDING
        assert info.attempt == 0

    @pytest.mark.asyncio
    async def test_queue_enqueue_is_idempotent_in_every_state(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name)
        assert await task_queue.enqueue(task) is True
        assert await task_queue.enqueue(attrs.evolve(task, priority=50)) is False
        claimed = await self._claim_one(task_queue, queue_name)
        assert await task_queue.enqueue(task) is False
        assert await task_queue.dead_letter(claimed.lease, reason="test") is True
        assert await task_queue.enqueue(task) is False
        info = await task_queue.get(task.id)
        assert info is not None and info.state is TaskState.DEAD and info.task.priority == 0

    @pytest.mark.asyncio
    async def test_queue_enqueue_many_counts_only_new_tasks(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        tasks = [make_task(queue_name) for _ in range(5)]
        assert await task_queue.enqueue(tasks[0]) is True
        assert await task_queue.enqueue_many(tasks) == 4
        assert await task_queue.enqueue_many(tasks) == 0
        assert await task_queue.enqueue_many([]) == 0
        (stats,) = await task_queue.stats([queue_name])
        assert stats.ready == 5

    @pytest.mark.asyncio
    async def test_queue_large_batch_keeps_claim_order(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        count, limit = self.scaled(2500), self.scaled(1000)
        tasks = [make_task(queue_name, priority=i % 3) for i in range(count)]
        assert await task_queue.enqueue_many(tasks) == count
        claimed = await task_queue.claim([queue_name], limit=limit, lease_seconds=30, worker_id="w")
        expected = sorted(tasks, key=lambda t: (-t.priority, t.eta, t.id))[:limit]
        assert [c.task.id for c in claimed] == [t.id for t in expected]

    @pytest.mark.asyncio
    async def test_queue_payload_bytes_survive_exactly(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        payloads = [b"", b"\x00", ODD_BYTES, "ünïcødé ✓".encode(), b"x" * 100_000]
        tasks = [make_task(queue_name, payload=p) for p in payloads]
        await task_queue.enqueue_many(tasks)
        claimed = await task_queue.claim([queue_name], limit=10, lease_seconds=30, worker_id="w")
        assert sorted(c.task.payload for c in claimed) == sorted(payloads)

    # -- claim order -------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_queue_claims_by_priority_then_eta_then_id(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        base = utcnow()
        tasks = [
            make_task(queue_name, priority=0, enqueued_at=base),
            make_task(queue_name, priority=5, enqueued_at=base),
            make_task(queue_name, priority=-3, enqueued_at=base),
            make_task(queue_name, priority=5, enqueued_at=base),
            make_task(queue_name, priority=0, enqueued_at=base, eta=base - _seconds(5)),
            make_task(queue_name, priority=100, enqueued_at=base),
        ]
        for task in tasks:
            await task_queue.enqueue(task)
        claimed = await task_queue.claim([queue_name], limit=10, lease_seconds=30, worker_id="w")
        expected = sorted(tasks, key=lambda t: (-t.priority, t.eta, t.id))
        assert [c.task.id for c in claimed] == [t.id for t in expected]

    @pytest.mark.asyncio
    async def test_queue_claims_queues_in_the_order_listed(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        high, low = f"{queue_name}-high", f"{queue_name}-low"
        low_tasks = [make_task(low, priority=100) for _ in range(2)]
        high_tasks = [make_task(high, priority=-100) for _ in range(2)]
        await task_queue.enqueue_many(low_tasks + high_tasks)
        claimed = await task_queue.claim([high, low], limit=3, lease_seconds=30, worker_id="w")
        assert [c.task.id for c in claimed] == [t.id for t in high_tasks] + [low_tasks[0].id]

    @pytest.mark.asyncio
    async def test_queue_claim_honours_limit_and_never_waits(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        assert await task_queue.claim([queue_name], limit=5, lease_seconds=30, worker_id="w") == []
        await task_queue.enqueue_many([make_task(queue_name) for _ in range(5)])
        first = await task_queue.claim([queue_name], limit=2, lease_seconds=30, worker_id="w")
        rest = await task_queue.claim([queue_name], limit=10, lease_seconds=30, worker_id="w")
        assert (len(first), len(rest)) == (2, 3)
        assert not {c.task.id for c in first} & {c.task.id for c in rest}

    @pytest.mark.asyncio
    async def test_queue_delayed_task_waits_for_its_eta(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name, eta=soon(LEASE))
        await task_queue.enqueue(task)
        assert await task_queue.claim([queue_name], limit=1, lease_seconds=30, worker_id="w") == []
        (stats,) = await task_queue.stats([queue_name])
        assert (stats.ready, stats.delayed) == (0, 1)
        await asyncio.sleep(PAST_LEASE)
        claimed = await self._claim_one(task_queue, queue_name)
        assert claimed.task.id == task.id

    # -- leases ------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_queue_claim_gives_a_lease(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name)
        await task_queue.enqueue(task)
        before = utcnow()
        claimed = await task_queue.claim([queue_name], limit=1, lease_seconds=60, worker_id="w-9")
        lease = claimed[0].lease
        assert claimed[0].task == task
        assert (lease.task_id, lease.attempt, lease.worker_id) == (task.id, 1, "w-9")
        assert lease.delivery == 1
        assert lease.token
        assert before + _seconds(59) <= lease.expires_at <= utcnow() + _seconds(61)
        info = await task_queue.get(task.id)
        assert info is not None
        assert (info.state, info.attempt, info.worker_id) == (TaskState.ACTIVE, 1, "w-9")
        assert info.deliveries == 1

    @pytest.mark.asyncio
    async def test_queue_ack_removes_the_task_once(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        tasks = [make_task(queue_name) for _ in range(3)]
        await task_queue.enqueue_many(tasks)
        claimed = await task_queue.claim([queue_name], limit=3, lease_seconds=30, worker_id="w")
        leases = [c.lease for c in claimed]
        assert await task_queue.ack(leases) == [True, True, True]
        assert await task_queue.ack(leases[:1]) == [False]
        assert [await task_queue.get(t.id) for t in tasks] == [None, None, None]

    @pytest.mark.asyncio
    async def test_queue_nack_returns_the_task_at_its_retry_time(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name)
        await task_queue.enqueue(task)
        first = await self._claim_one(task_queue, queue_name)
        retry_at = soon(RETRY_DELAY)
        assert await task_queue.nack(first.lease, retry_at=retry_at, error="boom") is True
        info = await task_queue.get(task.id)
        assert info is not None
        assert (info.state, info.attempt, info.last_error) == (TaskState.PENDING, 1, "boom")
        assert await task_queue.claim([queue_name], limit=1, lease_seconds=30, worker_id="w") == []
        await asyncio.sleep(max((retry_at - utcnow()).total_seconds(), 0.0) + 0.1)
        second = await self._claim_one(task_queue, queue_name)
        assert second.lease.attempt == 2
        assert second.lease.token != first.lease.token

    @pytest.mark.asyncio
    async def test_queue_nack_can_give_the_attempt_back(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        await task_queue.enqueue(make_task(queue_name))
        first = await self._claim_one(task_queue, queue_name)
        assert await task_queue.nack(first.lease, retry_at=utcnow(), count_attempt=False)
        again = await self._claim_one(task_queue, queue_name)
        assert again.lease.attempt == 1

    @pytest.mark.asyncio
    async def test_queue_extend_keeps_the_lease_alive(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        await task_queue.enqueue(make_task(queue_name))
        claimed = await self._claim_one(task_queue, queue_name, lease=LEASE)
        (renewed,) = await task_queue.extend([claimed.lease], 30)
        assert renewed is not None
        assert renewed.token == claimed.lease.token
        assert renewed.expires_at > claimed.lease.expires_at
        await asyncio.sleep(PAST_LEASE)
        assert await task_queue.recover_expired() == []
        assert await task_queue.ack([renewed]) == [True]

    @pytest.mark.asyncio
    async def test_queue_stale_lease_is_fenced_off(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        await task_queue.enqueue(make_task(queue_name, max_retries=0))  # the default
        stale = (await self._claim_one(task_queue, queue_name, lease=LEASE)).lease
        await asyncio.sleep(PAST_LEASE)
        recovered = await task_queue.recover_expired()
        assert [(r.task_id, r.dead, r.delivery) for r in recovered] == [(stale.task_id, False, 1)]
        fresh = (await self._claim_one(task_queue, queue_name)).lease
        assert (stale.delivery, fresh.delivery) == (1, 2)
        assert fresh.attempt == stale.attempt == 1  # the crash did not count as a failure
        assert await task_queue.ack([stale]) == [False]
        assert await task_queue.nack(stale, retry_at=utcnow()) is False
        assert await task_queue.extend([stale], 30) == [None]
        assert await task_queue.dead_letter(stale, reason="stale") is False
        forged = Lease(task_id=fresh.task_id, token=_FORGED, expires_at=soon(30), attempt=2)
        assert await task_queue.ack([forged]) == [False]
        info = await task_queue.get(fresh.task_id)
        assert info is not None and info.state is TaskState.ACTIVE
        assert await task_queue.ack([fresh]) == [True]

    @pytest.mark.asyncio
    async def test_queue_an_expired_lease_is_not_a_failed_attempt(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name, max_retries=0)  # the default: one failure is its last
        await task_queue.enqueue(task)
        for delivery in (1, 2, 3):
            claimed = await self._claim_one(task_queue, queue_name, lease=LEASE)
            assert (claimed.lease.attempt, claimed.lease.delivery) == (1, delivery)
            await asyncio.sleep(PAST_LEASE)
            (recovered,) = await task_queue.recover_expired()
            assert (recovered.task_id, recovered.queue, recovered.dead) == (
                task.id,
                queue_name,
                False,
            )
            assert recovered.delivery == delivery
            info = await task_queue.get(task.id)
            assert info is not None and info.state is TaskState.PENDING
            assert (info.attempt, info.deliveries) == (0, delivery)

    @pytest.mark.asyncio
    async def test_queue_a_task_delivered_max_deliveries_times_goes_dead(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name, max_retries=5)
        await task_queue.enqueue(task)
        await self._claim_one(task_queue, queue_name, lease=LEASE)
        await asyncio.sleep(PAST_LEASE)
        (first,) = await task_queue.recover_expired(max_deliveries=2)
        assert (first.delivery, first.dead) == (1, False)
        await self._claim_one(task_queue, queue_name, lease=LEASE)
        await asyncio.sleep(PAST_LEASE)
        (second,) = await task_queue.recover_expired(max_deliveries=2)
        assert (second.delivery, second.dead) == (2, True)
        info = await task_queue.get(task.id)
        assert info is not None and info.state is TaskState.DEAD
        assert info.last_error and "max_deliveries" in info.last_error
        assert await task_queue.recover_expired() == []

    @pytest.mark.asyncio
    async def test_queue_deliveries_only_grow(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        """The delivery number fences results, so nothing may reset it: not a release, not a
        retry, not a requeue of the dead letter."""
        await task_queue.enqueue(make_task(queue_name, max_retries=1))
        first = await self._claim_one(task_queue, queue_name)
        assert await task_queue.nack(first.lease, retry_at=utcnow(), count_attempt=False)
        second = await self._claim_one(task_queue, queue_name)
        assert await task_queue.nack(second.lease, retry_at=utcnow(), error="boom")
        third = await self._claim_one(task_queue, queue_name)
        assert await task_queue.dead_letter(third.lease, reason="test")
        assert await task_queue.requeue_dead(queue_name) == 1
        fourth = await self._claim_one(task_queue, queue_name)
        deliveries = [c.lease.delivery for c in (first, second, third, fourth)]
        assert deliveries == [1, 2, 3, 4]
        assert [c.lease.attempt for c in (first, second, third, fourth)] == [1, 1, 2, 1]

    @pytest.mark.asyncio
    async def test_queue_concurrent_claimers_get_disjoint_tasks(
        self, opener: StorageOpener, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        count = self.scaled(300)
        tasks = [make_task(queue_name) for _ in range(count)]
        await task_queue.enqueue_many(tasks)
        handles = [task_queue]
        if Capability.MULTI_PROCESS in opener.capabilities(Role.TASK_QUEUE):
            for _ in range(3):
                handles.append(await opener.task_queue(fresh=True))

        async def drain(queue: TaskQueueStorage, worker: str) -> list[str]:
            taken: list[str] = []
            while batch := await queue.claim(
                [queue_name], limit=7, lease_seconds=30, worker_id=worker
            ):
                taken.extend(c.task.id for c in batch)
                await asyncio.sleep(0)
            return taken

        runs = await asyncio.gather(*(drain(handles[i % len(handles)], f"w-{i}") for i in range(8)))
        taken = [task_id for run in runs for task_id in run]
        assert len(taken) == len(set(taken)) == count

    # -- dead letters, cancel, management ----------------------------------------------------

    @pytest.mark.asyncio
    async def test_queue_dead_letters_are_kept_and_requeued(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name)
        await task_queue.enqueue(task)
        claimed = await self._claim_one(task_queue, queue_name)
        assert await task_queue.dead_letter(claimed.lease, reason="poison") is True
        info = await task_queue.get(task.id)
        assert info is not None
        assert (info.state, info.last_error) == (TaskState.DEAD, "poison")
        assert await task_queue.claim([queue_name], limit=1, lease_seconds=30, worker_id="w") == []
        dead = await task_queue.list_tasks(queue_name, state=TaskState.DEAD)
        assert [d.task.id for d in dead] == [task.id]
        (stats,) = await task_queue.stats([queue_name])
        assert (stats.ready, stats.dead) == (0, 1)
        assert await task_queue.requeue_dead(queue_name) == 1
        again = await self._claim_one(task_queue, queue_name)
        assert (again.task.id, again.lease.attempt) == (task.id, 1)

    @pytest.mark.asyncio
    async def test_queue_requeue_dead_can_pick_tasks(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        tasks = [make_task(queue_name) for _ in range(3)]
        await task_queue.enqueue_many(tasks)
        for claimed in await task_queue.claim(
            [queue_name], limit=3, lease_seconds=30, worker_id="w"
        ):
            await task_queue.dead_letter(claimed.lease, reason="x")
        assert await task_queue.requeue_dead(queue_name, [tasks[1].id, "unknown-id"]) == 1
        states = [(await task_queue.get(t.id)) for t in tasks]
        assert [s.state if s else None for s in states] == [
            TaskState.DEAD,
            TaskState.PENDING,
            TaskState.DEAD,
        ]

    @pytest.mark.asyncio
    async def test_queue_cancel_pending_active_and_unknown(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        pending, running = make_task(queue_name, priority=-1), make_task(queue_name, priority=1)
        await task_queue.enqueue_many([pending, running])
        claimed = await self._claim_one(task_queue, queue_name)
        assert claimed.task.id == running.id
        assert await task_queue.cancel(pending.id) is CancelOutcome.CANCELLED
        assert await task_queue.get(pending.id) is None
        assert await task_queue.cancel(running.id) is CancelOutcome.REQUESTED
        (renewed,) = await task_queue.extend([claimed.lease], 30)
        assert renewed is not None and renewed.cancel_requested is True
        info = await task_queue.get(running.id)
        assert info is not None and info.cancel_requested is True
        assert await task_queue.cancel("no-such-task") is CancelOutcome.NOT_FOUND
        assert await task_queue.ack([claimed.lease]) == [True]
        assert await task_queue.cancel(running.id) is CancelOutcome.NOT_FOUND

    @pytest.mark.asyncio
    async def test_queue_stats_count_each_state(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        other = f"{queue_name}-other"
        await task_queue.enqueue_many(
            [make_task(queue_name) for _ in range(4)]
            + [make_task(queue_name, eta=soon(60)) for _ in range(2)]
            + [make_task(other)]
        )
        claimed = await task_queue.claim([queue_name], limit=2, lease_seconds=30, worker_id="w")
        await task_queue.dead_letter(claimed[0].lease, reason="x")
        (stats,) = await task_queue.stats([queue_name])
        assert (stats.queue, stats.ready, stats.delayed, stats.active, stats.dead) == (
            queue_name,
            2,
            2,
            1,
            1,
        )
        assert stats.pending == 4
        every = {s.queue: s for s in await task_queue.stats()}
        assert every[other].ready == 1 and every[queue_name] == stats
        names = [s.queue for s in await task_queue.stats()]
        assert names == sorted(names)

    @pytest.mark.asyncio
    async def test_queue_list_tasks_in_claim_order(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        tasks = [make_task(queue_name, priority=p) for p in (1, 3, 2, 3, 0)]
        await task_queue.enqueue_many(tasks)
        listed = await task_queue.list_tasks(queue_name, state=TaskState.PENDING, limit=3)
        expected = sorted(tasks, key=lambda t: (-t.priority, t.eta, t.id))[:3]
        assert [i.task.id for i in listed] == [t.id for t in expected]
        assert await task_queue.list_tasks(queue_name, state=TaskState.ACTIVE) == []

    @pytest.mark.asyncio
    async def test_queue_purge_spares_active_tasks(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        await task_queue.enqueue_many([make_task(queue_name) for _ in range(4)])
        claimed = await task_queue.claim([queue_name], limit=2, lease_seconds=30, worker_id="w")
        await task_queue.dead_letter(claimed[0].lease, reason="x")
        assert await task_queue.purge(queue_name) == 2
        assert await task_queue.purge(queue_name, states=[TaskState.DEAD]) == 1
        assert await task_queue.purge(queue_name, states=list(TaskState)) == 0
        (stats,) = await task_queue.stats([queue_name])
        assert (stats.pending, stats.active, stats.dead) == (0, 1, 0)
        assert await task_queue.ack([claimed[1].lease]) == [True]

    @pytest.mark.asyncio
    async def test_queue_stats_of_an_empty_queue_are_zeros(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        """A queue asked for by name gets a row of zeros; unnamed, only queues holding a task."""
        assert await task_queue.stats([queue_name]) == [QueueStats(queue=queue_name)]
        assert queue_name not in [s.queue for s in await task_queue.stats()]

    @pytest.mark.asyncio
    async def test_queue_cancel_of_a_dead_task_is_not_found(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name)
        await task_queue.enqueue(task)
        claimed = await self._claim_one(task_queue, queue_name)
        assert await task_queue.dead_letter(claimed.lease, reason="poison")
        assert await task_queue.cancel(task.id) is CancelOutcome.NOT_FOUND
        info = await task_queue.get(task.id)
        assert info is not None and (info.state, info.last_error) == (TaskState.DEAD, "poison")

    @pytest.mark.asyncio
    async def test_queue_recovery_says_why_in_last_error(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        task = make_task(queue_name)
        await task_queue.enqueue(task)
        await self._claim_one(task_queue, queue_name, lease=LEASE)
        await asyncio.sleep(PAST_LEASE)
        assert [r.task_id for r in await task_queue.recover_expired()] == [task.id]
        info = await task_queue.get(task.id)
        assert info is not None and info.last_error == expired_reason(1, False)

    # -- unknown ids -------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_queue_unknown_ids_touch_nothing(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        """Ids reach a backend only after the core validated them (``omniq.names``), so the
        suite sends only valid ones: unknown, a prefix of a stored id, of the longest length."""
        task = make_task(queue_name)
        await task_queue.enqueue(task)
        longest = "A" * MAX_NAME_LENGTH
        for unknown in ("no-such-task", task.id[:-1], f"{task.id}0", "x", longest):
            validate_task_id(unknown)
            lease = Lease(task_id=unknown, token=_FORGED, expires_at=soon(30), attempt=1)
            assert await task_queue.get(unknown) is None
            assert await task_queue.cancel(unknown) is CancelOutcome.NOT_FOUND
            assert await task_queue.ack([lease]) == [False]
            assert await task_queue.extend([lease], 30) == [None]
        info = await task_queue.get(task.id)
        assert info is not None and info.task == task

    # -- waking ------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_queue_wait_for_work_returns_after_its_timeout(
        self, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        await asyncio.wait_for(task_queue.wait_for_work([queue_name], 0.05), PUSH_DEADLINE)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("after_a_claim", [False, True], ids=["alone", "after-a-claim"])
    async def test_queue_wait_for_work_is_woken_by_enqueue(
        self,
        opener: StorageOpener,
        task_queue: TaskQueueStorage,
        queue_name: str,
        after_a_claim: bool,
    ) -> None:
        """Also right after an empty claim, as a worker waits (a backend may prepare that wait
        in the claim)."""
        self.require(opener, Role.TASK_QUEUE, Capability.PUSH_WAKEUP)
        if after_a_claim:
            claimed = await task_queue.claim([queue_name], limit=4, lease_seconds=30, worker_id="w")
            assert claimed == []
        waiting = asyncio.create_task(task_queue.wait_for_work([queue_name], PUSH_WAIT))
        await asyncio.sleep(0.1)
        await task_queue.enqueue(make_task(queue_name))
        await asyncio.wait_for(waiting, PUSH_DEADLINE)

    @pytest.mark.asyncio
    async def test_queue_wait_for_work_returns_at_once_when_a_task_is_ready(
        self, opener: StorageOpener, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        """A worker that claimed fewer tasks than it asked for waits here next, trusting this
        to return for a task enqueued in between (its wake-up may have come before the wait)."""
        self.require(opener, Role.TASK_QUEUE, Capability.PUSH_WAKEUP)
        await task_queue.enqueue(make_task(queue_name))
        await asyncio.wait_for(task_queue.wait_for_work([queue_name], PUSH_WAIT), PUSH_DEADLINE)

    @pytest.mark.asyncio
    async def test_queue_wait_for_work_wakes_when_a_delay_ends(
        self, opener: StorageOpener, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        self.require(opener, Role.TASK_QUEUE, Capability.PUSH_WAKEUP)
        await task_queue.enqueue(make_task(queue_name, eta=soon(LEASE)))
        await asyncio.wait_for(task_queue.wait_for_work([queue_name], PUSH_WAIT), PUSH_DEADLINE)

    # A worker waits right after a claim that gave it fewer tasks than it asked for. A backend
    # may prepare that wait in the claim (a wake-up registered first, what was left): these
    # hold it to the same promises as the waits above.

    @pytest.mark.asyncio
    async def test_queue_wait_after_a_claim_sees_a_task_enqueued_before_the_wait(
        self, opener: StorageOpener, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        """The enqueue's wake-up arrives between the claim and the wait: it must not be lost."""
        self.require(opener, Role.TASK_QUEUE, Capability.PUSH_WAKEUP)
        assert await task_queue.claim([queue_name], limit=4, lease_seconds=30, worker_id="w") == []
        await task_queue.enqueue(make_task(queue_name))
        await asyncio.sleep(0.2)
        await asyncio.wait_for(task_queue.wait_for_work([queue_name], PUSH_WAIT), PUSH_DEADLINE)

    @pytest.mark.asyncio
    async def test_queue_wait_after_a_claim_that_left_tasks_returns_at_once(
        self, opener: StorageOpener, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        self.require(opener, Role.TASK_QUEUE, Capability.PUSH_WAKEUP)
        for _ in range(3):
            await task_queue.enqueue(make_task(queue_name))
        claimed = await task_queue.claim([queue_name], limit=1, lease_seconds=30, worker_id="w")
        assert len(claimed) == 1
        await asyncio.wait_for(task_queue.wait_for_work([queue_name], PUSH_WAIT), PUSH_DEADLINE)

    @pytest.mark.asyncio
    async def test_queue_wait_after_a_claim_wakes_when_a_delay_ends(
        self, opener: StorageOpener, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        self.require(opener, Role.TASK_QUEUE, Capability.PUSH_WAKEUP)
        await task_queue.enqueue(make_task(queue_name))
        await task_queue.enqueue(make_task(queue_name, eta=soon(LEASE)))
        claimed = await task_queue.claim([queue_name], limit=4, lease_seconds=30, worker_id="w")
        assert len(claimed) == 1, "the delayed task was claimed before its eta"
        await asyncio.wait_for(task_queue.wait_for_work([queue_name], PUSH_WAIT), PUSH_DEADLINE)

    # -- optional capabilities ---------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_queue_sync_producer_enqueues_from_other_threads(
        self, opener: StorageOpener, task_queue: TaskQueueStorage, queue_name: str
    ) -> None:
        self.require(opener, Role.TASK_QUEUE, Capability.SYNC_PRODUCER)
        assert isinstance(task_queue, SyncTaskProducer)
        producer: SyncTaskProducer = task_queue
        one, many = make_task(queue_name), [make_task(queue_name) for _ in range(10)]
        outcomes: list[object] = []

        def produce() -> None:
            outcomes.append(producer.enqueue_sync(one))
            outcomes.append(producer.enqueue_many_sync(many))
            outcomes.append(producer.enqueue_sync(one))

        thread = threading.Thread(target=produce)
        thread.start()
        await asyncio.to_thread(thread.join)
        assert outcomes == [True, 10, False]
        claimed = await task_queue.claim([queue_name], limit=20, lease_seconds=30, worker_id="w")
        assert {c.task.id for c in claimed} == {t.id for t in [one, *many]}

    @pytest.mark.asyncio
    async def test_queue_survives_close_and_reopen(
        self, opener: StorageOpener, queue_name: str
    ) -> None:
        first = await opener.task_queue(fresh=True)
        self.require(opener, Role.TASK_QUEUE, Capability.PERSISTENT)
        pending, active = make_task(queue_name), make_task(queue_name, priority=9)
        await first.enqueue_many([pending, active])
        claimed = await self._claim_one(first, queue_name)
        await opener.close_backend(first)
        second = await opener.task_queue(fresh=True)
        info = await second.get(pending.id)
        assert info is not None and info.task == pending
        assert await second.ack([claimed.lease]) == [True]
        (stats,) = await second.stats([queue_name])
        assert (stats.ready, stats.active) == (1, 0)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
