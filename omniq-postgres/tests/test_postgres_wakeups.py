"""The wake-up path from a stored result to its waiter: a small result rides in its
notification (a waiter in another process returns it without reading it back), a large one
or a large batch is announced by id; a waiter takes only a value offered after it began to
wait, never an expired one; and a backend does not wake its own waiters a second time for
what its own connections announced."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import omniq
import psycopg
from omniq._time import utcnow
from omniq.models.result import ResultStatus, TaskResult
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Role
from omniq_postgres.results import CARRIED, CARRIED_BATCH, usable
from omniq_postgres.task_queue import PostgresTaskQueue
from omniq_postgres.testing import PostgresServer
from omniq_postgres.waiters import NotifiedWaiters


def _result(task_id: str, size: int = 10) -> TaskResult:
    return TaskResult(task_id=task_id, status=ResultStatus.SUCCESS, payload=b"x" * size)


async def _notes(listener: psycopg.AsyncConnection[object], count: int) -> list[str]:
    notes: list[str] = []
    async with asyncio.timeout(10):
        async for note in listener.notifies():
            notes.append(note.payload)
            if len(notes) == count:
                return notes
    return notes


async def test_small_results_ride_in_their_notification_large_ones_by_id(
    postgres_server: PostgresServer, schema: str
) -> None:
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    results = backend.storage(Role.RESULT_STORAGE)
    await results.connect()
    listener = await psycopg.AsyncConnection.connect(postgres_server.dsn(), autocommit=True)
    try:
        await listener.execute(f'LISTEN "omniq_{schema}"')
        small, large = _result("small-1"), _result("large-1", size=CARRIED)
        await results.store(small)
        await results.store(large)
        batch = [_result(f"many-{n}") for n in range(CARRIED_BATCH + 1)]
        await results.store_many(batch)
        notes = await _notes(listener, 3)
    finally:
        await listener.close()
        await backend.close()
    kind, task_id, data = notes[0].split(" ", 2)
    assert (kind, task_id) == ("R", "small-1")
    assert loads_record(base64.b64decode(data), TaskResult) == small
    assert notes[1] == "r large-1"
    assert notes[2].split(" ")[0] == "r"
    assert sorted(notes[2].split(" ")[1:]) == sorted(r.task_id for r in batch)


async def test_a_waiter_returns_the_result_its_notification_carries(
    postgres_server: PostgresServer, schema: str
) -> None:
    """No row is stored: the waiter can only have the result from the notification."""
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    results = backend.storage(Role.RESULT_STORAGE)
    await results.connect()
    sender = await psycopg.AsyncConnection.connect(postgres_server.dsn(), autocommit=True)
    sent = _result("carried-1")
    try:
        wait = asyncio.create_task(results.wait("carried-1", 30))
        await asyncio.sleep(0.3)  # the listener is up and the waiter's first read found none
        note = "R carried-1 " + base64.b64encode(dumps_record(sent)).decode()
        await sender.execute("SELECT pg_notify(%s, %s)", (f"omniq_{schema}", note))
        got = await asyncio.wait_for(wait, 5)
        stored = await results.get("carried-1")
    finally:
        await sender.close()
        await backend.close()
    assert got == sent
    assert stored is None


def test_a_waiter_takes_only_a_fresh_offer() -> None:
    async def scenario() -> tuple[object, object, object]:
        waiters = NotifiedWaiters()
        early = waiters.register(("r:a",))
        waiters.offer("r:a", "first")  # offered to the waiter registered before it
        since = waiters.mark()
        late = waiters.register(("r:a",))
        seen_by_early = waiters.offered("r:a", 0)
        seen_by_late = waiters.offered("r:a", since)  # offered before it began: not its
        waiters.offer("r:a", "second")
        fresh = waiters.offered("r:a", since)
        waiters.unregister(("r:a",), early)
        waiters.unregister(("r:a",), late)
        assert early.done() and late.done()
        return seen_by_early, seen_by_late, fresh

    assert asyncio.run(scenario()) == ("first", None, "second")


def test_an_offer_nobody_waits_for_is_dropped_and_an_expired_one_is_not_used() -> None:
    waiters = NotifiedWaiters()
    waiters.offer("r:b", "nobody waits")
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
