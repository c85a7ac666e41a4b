"""Large batches go by COPY through staging tables with a single enqueue's rules: a task whose
id is queued already is skipped and gets no event, every field survives, order is kept; the
sync producer's path does the same. And what the claim path promises about the WAL: a claim's
commit does not wait for the flush, an ack's does."""

from __future__ import annotations

import asyncio
from typing import Any

import omniq
import psycopg
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.storage import Role
from omniq.testing._records import make_task
from omniq_postgres.bulk import COPY_FROM
from omniq_postgres.testing import PostgresServer


def _events(tasks: list[Any]) -> list[TaskEvent]:
    return [TaskEvent(event_type=EventType.ENQUEUED, task_id=t.id, queue=t.queue) for t in tasks]


async def test_a_copied_batch_skips_queued_ids_and_their_events(
    postgres_server: PostgresServer, schema: str
) -> None:
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    queue = backend.task_queue()
    events = backend.event_storage()
    await queue.connect()
    await events.connect()
    try:
        tasks = [make_task("bulk", priority=n % 3) for n in range(COPY_FROM + 20)]
        queued = tasks[:10]
        assert await queue.enqueue_with_events(queued, _events(queued)) == 10
        added = await queue.enqueue_with_events(tasks, _events(tasks))
        again = await asyncio.to_thread(queue.enqueue_with_events_sync, tasks, _events(tasks))
        more = [make_task("bulk") for _ in range(COPY_FROM)]
        added_sync = await asyncio.to_thread(queue.enqueue_many_sync, more + more[:5])
        stored = await events.query(EventQuery(queue="bulk", limit=1000))
        claimed = await queue.claim(["bulk"], limit=1000, lease_seconds=30, worker_id="w")
    finally:
        await backend.close()
    assert (added, again, added_sync) == (len(tasks) - 10, 0, COPY_FROM)
    assert sorted(e.task_id for e in stored) == sorted(t.id for t in tasks)
    by_id = {c.task.id: c.task for c in claimed}
    assert set(by_id) == {t.id for t in tasks + more}
    assert all(by_id[t.id] == t for t in tasks + more)
    order = [(-c.task.priority, c.task.eta, c.task.id) for c in claimed]
    assert order == sorted(order)


async def test_claims_leave_the_wal_unflushed_and_acks_flush_it(
    postgres_server: PostgresServer, schema: str
) -> None:
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    queue = backend.storage(Role.TASK_QUEUE)
    await queue.connect()
    probe = await psycopg.AsyncConnection.connect(postgres_server.dsn(), autocommit=True)
    behind = "SELECT pg_current_wal_insert_lsn() > pg_current_wal_flush_lsn()"
    written = "SELECT pg_current_wal_insert_lsn()"
    flushed_past = "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn"
    claims_unflushed = acks_unflushed = 0
    try:
        await queue.enqueue_many([make_task("wal") for _ in range(20)])
        leases = []
        for _ in range(20):
            (claimed,) = await queue.claim(["wal"], limit=1, lease_seconds=30, worker_id="w")
            leases.append(claimed.lease)
            claims_unflushed += (await (await probe.execute(behind)).fetchone() or (0,))[0]
        for lease in leases:
            await queue.extend([lease], 30)  # an unflushed write just before the ack
            (before,) = await (await probe.execute(written)).fetchone() or ("0/0",)
            assert await queue.ack([lease]) == [True]
            (past,) = await (await probe.execute(flushed_past, (before,))).fetchone() or (0,)
            acks_unflushed += not past
    finally:
        await probe.close()
        await backend.close()
    # the WAL writer flushes within 200 ms: most claims are still unflushed when looked at;
    # an ack returns only once the WAL up to its commit (past what was written before) is flushed
    assert claims_unflushed >= 10, claims_unflushed
    assert acks_unflushed == 0, acks_unflushed
