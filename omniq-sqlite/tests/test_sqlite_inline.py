"""Short statements run on the caller's thread while the write lock is free, give way to the
database's thread while another connection holds it (never failing with "database is locked"),
and leave WAL checkpoints to that thread so the WAL stays bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq.models import Task
from omniq_sqlite import database
from omniq_sqlite.database import CHECKPOINT_EVERY, Database
from omniq_sqlite.task_queue import SQLiteTaskQueue


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[SQLiteTaskQueue]:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    storage = backend.task_queue()
    await storage.connect()
    assert isinstance(storage, SQLiteTaskQueue)
    yield storage
    await backend.close()


def _thread_of(db: Database) -> str:
    db.connection().execute("SELECT 1")
    return threading.current_thread().name


async def test_a_short_statement_runs_on_the_callers_thread_when_the_lock_is_free(
    queue: SQLiteTaskQueue,
) -> None:
    assert await queue.db.run_short(_thread_of, queue.db) == threading.current_thread().name


async def test_a_write_waits_on_the_database_thread_while_another_process_writes(
    queue: SQLiteTaskQueue, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "omniq.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    threads: list[str] = []

    def write(task: Task) -> bool:
        threads.append(threading.current_thread().name)
        return queue._insert(task)

    writing = asyncio.ensure_future(queue.db.run_short(write, Task(func="app:f")))
    await asyncio.sleep(0.2)
    assert not writing.done()  # waiting for the lock, not failed
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(writing, 10) is True
    assert threads[0] == threading.current_thread().name  # tried here first
    assert threads[-1].startswith("omniq-sqlite")  # then waited on the database's thread
    assert (await queue.stats())[0].ready == 1


async def test_a_claim_held_up_by_another_writer_claims_once_it_is_done(
    queue: SQLiteTaskQueue, tmp_path: Path
) -> None:
    await queue.enqueue(Task(func="app:f", id="held-up"))
    other = sqlite3.connect(tmp_path / "omniq.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    claiming = asyncio.ensure_future(
        queue.claim(["default"], limit=10, lease_seconds=30, worker_id="w")
    )
    await asyncio.sleep(0.2)
    other.execute("COMMIT")
    other.close()
    claimed = await asyncio.wait_for(claiming, 10)
    assert [c.task.id for c in claimed] == ["held-up"]


async def test_inline_writes_leave_the_wal_bounded(queue: SQLiteTaskQueue, tmp_path: Path) -> None:
    for _ in range(CHECKPOINT_EVERY * 10):
        await queue.enqueue(Task(func="app:f", payload=b"x" * 2000))
    await queue.db.run(lambda: None)  # let a checkpoint in flight finish
    wal = tmp_path / "omniq.db-wal"
    # Each enqueue adds about 6 pages of 4 KiB: 53 MB of WAL unchecked, about 5 MB measured
    # with a checkpoint every CHECKPOINT_EVERY writes (the file keeps its largest size).
    assert wal.stat().st_size < 20_000_000


async def test_full_synchronous_writes_stay_on_the_database_thread(tmp_path: Path) -> None:
    backend = omniq.load_backend(
        "sqlite", database_path=str(tmp_path / "omniq.db"), synchronous="FULL"
    )
    storage: Any = backend.task_queue()
    await storage.connect()
    try:
        thread = await storage.db.run_short(_thread_of, storage.db)
        assert thread.startswith("omniq-sqlite")  # a commit waits for the disk there
    finally:
        await backend.close()


async def test_a_sync_enqueue_waits_out_another_writer_and_then_succeeds(
    queue: SQLiteTaskQueue, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "omniq.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        added = await asyncio.to_thread(queue.enqueue_sync, Task(func="app:f", id="waited"))
    finally:
        release.join()
        other.close()
    assert added is True
    assert (await queue.get("waited")) is not None


class _CountingTime:
    """The database module's ``time``, counting the sleeps of its busy retries."""

    def __init__(self) -> None:
        self.sleeps = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        time.sleep(seconds)


async def test_a_sync_enqueue_queues_behind_this_processs_writer_without_polling(
    queue: SQLiteTaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = _CountingTime()
    monkeypatch.setattr(database, "time", counting)
    db, entered, release = queue.db, threading.Event(), threading.Event()

    def hold_a_write() -> None:
        with db.write():
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold_a_write)
    holder.start()
    try:
        assert entered.wait(5)
        enqueue = asyncio.ensure_future(
            asyncio.to_thread(queue.enqueue_sync, Task(func="app:f", id="queued"))
        )
        await asyncio.sleep(0.1)
        assert not enqueue.done()  # waiting for the writer...
        release.set()
        assert await enqueue is True
    finally:
        release.set()
        holder.join()
    assert counting.sleeps == 0  # ...on the lock, woken as it ended, not in busy sleeps
    assert (await queue.get("queued")) is not None


async def test_a_read_on_the_loop_is_not_held_up_by_a_writer_of_this_process(
    queue: SQLiteTaskQueue, tmp_path: Path
) -> None:
    await queue.enqueue(Task(func="app:f", id="there"))
    other = sqlite3.connect(tmp_path / "omniq.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process writes...
    claim = asyncio.ensure_future(
        queue.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    )
    try:
        await asyncio.sleep(0.1)  # ...so the claim waits on the database's thread, in write()
        assert not claim.done()
        info = await asyncio.wait_for(queue.get("there"), 2)  # WAL: a read need not wait
    finally:
        other.execute("COMMIT")
        other.close()
    assert info is not None and info.task.id == "there"
    assert [c.task.id for c in await claim] == ["there"]
