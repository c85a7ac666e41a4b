"""The wake-up path from a stored result to its waiter: a waiter in the process that stored it
gets the record handed over (no read back), other processes are told the ids; a waiter takes
only what a statement begun after it stored, never an expired record; and a backend does not
wake its own waiters a second time for what its own connections announced."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import omniq
import psycopg
from omniq._time import utcnow
from omniq.models.result import ResultStatus, TaskResult
from omniq.storage import Role
from omniq_postgres.results import usable
from omniq_postgres.task_queue import PostgresTaskQueue
from omniq_postgres.testing import PostgresServer
from omniq_postgres.waiters import NotifiedWaiters


def _result(task_id: str, size: int = 10) -> TaskResult:
    return TaskResult(task_id=task_id, status=ResultStatus.SUCCESS, payload=b"x" * size)


async def test_a_waiter_here_gets_the_result_this_process_stored(
    postgres_server: PostgresServer, schema: str
) -> None:
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    results = backend.storage(Role.RESULT_STORAGE)
    await results.connect()
    sent = _result("handed-1")
    try:
        wait = asyncio.create_task(results.wait("handed-1", 30))
        await asyncio.sleep(0.2)  # the waiter's first read found none
        assert await results.store(sent)
        got = await asyncio.wait_for(wait, 5)
    finally:
        await backend.close()
    assert got is sent  # handed over, not read back and decoded


async def test_results_are_announced_by_id(postgres_server: PostgresServer, schema: str) -> None:
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    results = backend.storage(Role.RESULT_STORAGE)
    await results.connect()
    listener = await psycopg.AsyncConnection.connect(postgres_server.dsn(), autocommit=True)
    try:
        await listener.execute(f'LISTEN "omniq_{schema}"')
        await results.store_many([_result(f"many-{n}") for n in range(60)])
        notes: list[str] = []
        async with asyncio.timeout(10):
            async for note in listener.notifies():
                notes.append(note.payload)
                if len(notes) == 2:
                    break
    finally:
        await listener.close()
        await backend.close()
    ids = [key for note in notes for key in note.split(" ")[1:]]
    assert [note.split(" ")[0] for note in notes] == ["r", "r"]
    assert sorted(ids) == sorted(f"many-{n}" for n in range(60))


def test_a_waiter_takes_only_what_a_statement_begun_after_it_stored() -> None:
    async def scenario() -> tuple[object, ...]:
        waiters = NotifiedWaiters()
        first = waiters.ticket()
        early = waiters.register(("r:a",))
        stamp = waiters.stamp()  # a statement begins, after the first waiter
        second = waiters.ticket()
        late = waiters.register(("r:a",))  # a second waiter, after that statement began
        waiters.offer("r:a", "old run", stamp)
        seen = (waiters.offered("r:a", first), waiters.offered("r:a", second))
        woken = early.done() and late.done()
        waiters.unregister(("r:a",), early)
        waiters.unregister(("r:a",), late)
        again = waiters.ticket()  # the second waiter, having read nothing, waits again
        future = waiters.register(("r:a",))
        waiters.offer("r:a", "new run", waiters.stamp())
        fresh = waiters.offered("r:a", again)
        waiters.unregister(("r:a",), future)
        left = waiters.offered("r:a", 0)  # dropped with its last waiter
        return *seen, woken, fresh, future.done(), left

    assert asyncio.run(scenario()) == ("old run", None, True, "new run", True, None)


def test_an_offer_nobody_waits_for_is_dropped_and_an_expired_one_is_not_used() -> None:
    waiters = NotifiedWaiters()
    waiters.offer("r:b", "nobody waits", waiters.stamp())
    assert waiters.offered("r:b", 0) is None
    expired = TaskResult(
        task_id="b", status=ResultStatus.SUCCESS, expires_at=utcnow() - timedelta(seconds=1)
    )
    assert usable(expired) is None
    assert usable("not a result") is None
    fine = _result("b")
    assert usable(fine) is fine


async def test_a_backend_skips_only_its_own_connections_notifications(
    postgres_server: PostgresServer, schema: str
) -> None:
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    queue = backend.storage(Role.TASK_QUEUE)
    await queue.connect()
    other = await psycopg.AsyncConnection.connect(postgres_server.dsn(), autocommit=True)
    try:
        assert isinstance(queue, PostgresTaskQueue)
        db = queue.db

        async def pid(conn: psycopg.AsyncConnection[object]) -> int:
            return conn.info.backend_pid

        own = await db.run(pid)
        sync_own = db.run_sync(lambda conn: conn.info.backend_pid)
        outsider = other.info.backend_pid
        woken = db.waiters.register(("q:w",))
        db._dispatch("q w", own)
        db._dispatch("q w", sync_own)
        skipped = woken.done()
        db._dispatch("c some-task", own)  # cancel requests are never skipped
        db._dispatch("q w", outsider)
        await asyncio.sleep(0)
        db.waiters.unregister(("q:w",), woken)
    finally:
        await other.close()
        await backend.close()
    assert not skipped
    assert "some-task" in db.notified_cancels
    assert woken.done()
