"""Retention: purging events older than a time, then those past ``max_events``, and expired
results deletes exactly those, in batches of short writes, found through the time indexes (no
scan of the table)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq import AsyncOmniQ
from omniq._time import utcnow
from omniq.backend.base import Backend
from omniq.models import EventQuery, EventType, TaskEvent
from omniq.testing.results import make_result
from omniq_sqlite import events as sqlite_events
from omniq_sqlite import results as sqlite_results


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    yield backend
    await backend.close()


async def test_events_before_a_time_are_purged_in_batches(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_events, "PURGE_BATCH", 100)
    event_log = backend.event_storage()
    await event_log.connect()
    now = utcnow()
    old = [
        TaskEvent(
            event_type=EventType.COMPLETED,
            task_id=f"old-{i}",
            timestamp=now - timedelta(days=8, seconds=i),
        )
        for i in range(350)
    ]
    recent = [
        TaskEvent(event_type=EventType.ENQUEUED, task_id=f"new-{i}", timestamp=now)
        for i in range(20)
    ]
    await event_log.append_many([*old, *recent])
    writes = _count_writes(event_log, monkeypatch)
    assert await event_log.purge(now - timedelta(days=7)) == 350
    assert len(writes) == 4  # 100 + 100 + 100 + 50 rows
    left = await event_log.query(EventQuery(limit=1000))
    assert sorted(e.id for e in left) == sorted(e.id for e in recent)
    assert await event_log.purge(now - timedelta(days=7)) == 0


async def test_expired_results_are_purged_and_the_others_kept(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_results, "PURGE_BATCH", 10)
    results = backend.result_storage()
    await results.connect()
    now = utcnow()
    expired = [make_result(expires_at=now - timedelta(seconds=1 + i)) for i in range(25)]
    kept = [make_result(expires_at=now + timedelta(hours=1)), make_result(expires_at=None)]
    await results.store_many([*expired, *kept])
    assert await results.purge_expired() == 25
    path = results.db.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as conn:
        stored = {row[0] for row in conn.execute("SELECT task_id FROM omniq_results")}
    assert stored == {r.task_id for r in kept}


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        (sqlite_events.PURGE, "omniq_events_time"),
        (sqlite_results.PURGE, "omniq_results_expiry"),
    ],
)
async def test_purges_find_their_rows_through_an_index(
    backend: Backend, statement: str, index: str
) -> None:
    for storage in (backend.event_storage(), backend.result_storage()):
        await storage.connect()
    path = backend.event_storage().db.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {statement}", (1, 10)).fetchall()
    details = [row[-1] for row in plan]
    assert any(f"USING COVERING INDEX {index}" in d for d in details), details
    assert not [d for d in details if d.startswith("SCAN")], details


async def test_events_past_max_events_go_after_the_old_ones_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_events, "PURGE_BATCH", 100)
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "db"), max_events=50)
    event_log = backend.event_storage()
    await event_log.connect()
    try:
        now = utcnow()
        old = [
            TaskEvent(
                event_type=EventType.ENQUEUED,
                task_id=f"old-{i}",
                timestamp=now - timedelta(days=8),
            )
            for i in range(30)
        ]
        recent = [
            TaskEvent(
                event_type=EventType.COMPLETED,
                task_id=f"t-{i % 7}",
                timestamp=now - timedelta(seconds=300 - i // 2),  # pairs share a time
            )
            for i in range(300)
        ]
        await event_log.append_many([*old, *recent])
        writes = _count_writes(event_log, monkeypatch)
        assert await event_log.purge(now - timedelta(days=7)) == 30 + 250
        assert len(writes) == 4  # 30 old; then 100 + 100 + 50 past the cap
        newest = sorted(recent, key=lambda e: (e.timestamp, e.id))[-50:]
        assert await event_log.query(EventQuery(limit=1000)) == newest
        for task in ("t-0", "t-3"):
            mine = [e for e in newest if e.task_id == task]
            assert await event_log.query(EventQuery(task_id=task)) == mine
        assert await event_log.purge(now - timedelta(days=7)) == 0
        assert len(writes) == 5  # the age purge's write; nothing past the cap
    finally:
        await backend.close()


def _count_writes(event_log: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    writes: list[str] = []
    db = event_log.db
    real_write = db.write

    def counted_write():  # type: ignore[no-untyped-def]
        writes.append("write")
        return real_write()

    monkeypatch.setattr(db, "write", counted_write)
    return writes


async def test_the_cap_finds_its_cut_and_rows_through_the_time_index(backend: Backend) -> None:
    await backend.event_storage().connect()
    path = backend.event_storage().db.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as conn:
        over = conn.execute(f"EXPLAIN QUERY PLAN {sqlite_events.LAST_OVER}", (5,)).fetchall()
        trim = conn.execute(f"EXPLAIN QUERY PLAN {sqlite_events.TRIM}", (1, "a", 5)).fetchall()
    assert [row[-1] for row in over] == ["SCAN omniq_events USING COVERING INDEX omniq_events_time"]
    details = [row[-1] for row in trim]
    assert any("USING COVERING INDEX omniq_events_time ((ts,id)<" in d for d in details), details
    assert not [d for d in details if d.startswith("SCAN")], details


def test_max_events_defaults_to_a_million() -> None:
    from omniq_sqlite.options import SQLiteOptions

    assert SQLiteOptions().max_events == 1_000_000


def triple(n: int) -> int:
    return n * 3


async def test_a_worker_keeps_max_events_with_no_call_from_the_user(tmp_path: Path) -> None:
    """The worker's own purge applies the cap (its interval shortened from a minute to a
    fifth of a second, so the test need not wait; retention is the default)."""
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "db"), max_events=5)
    async with AsyncOmniQ(backend=backend, workers=1, worker_options={"purge_interval": 0.2}) as oq:
        ids = await oq.enqueue_many([(triple, (i,)) for i in range(10)])
        assert [await oq.get_result(task_id, timeout=30) for task_id in ids] == [
            3 * i for i in range(10)
        ]
        events = oq._stores.events  # type: ignore[union-attr]
        for _ in range(100):
            stored = await events.query(EventQuery(limit=1000))
            if len(stored) <= 5:
                break
            await asyncio.sleep(0.05)
        assert len(stored) == 5
        assert await oq.get_events(ids[0]) == []
