"""Retention: a purge deletes the events older than its moment, then the oldest past
``max_events``, in batches, and counts both; the cut is found down the ``(ts, id)`` index."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import omniq
import psycopg
import pytest
from omniq._time import utcnow
from omniq.models import EventQuery, EventType, TaskEvent
from omniq_postgres import events as postgres_events
from omniq_postgres.testing import PostgresServer


async def test_events_past_max_events_go_after_the_old_ones_in_batches(
    postgres_server: PostgresServer, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_events, "PURGE_BATCH", 100)
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema, max_events=50)
    event_log: Any = backend.event_storage()
    await event_log.connect()
    try:
        now = utcnow()
        old = [
            TaskEvent(
                event_type=EventType.ENQUEUED, task_id=f"old-{i}", timestamp=now - timedelta(days=8)
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
        deletes = _count_deletes(event_log, monkeypatch)
        assert await event_log.purge(now - timedelta(days=7)) == 30 + 250
        assert deletes == [30, 100, 100, 50]  # the old ones; then the oldest past the cap
        newest = sorted(recent, key=lambda e: (e.timestamp, e.id))[-50:]
        assert await event_log.query(EventQuery(limit=1000)) == newest
        for task in ("t-0", "t-3"):
            mine = [e for e in newest if e.task_id == task]
            assert await event_log.query(EventQuery(task_id=task)) == mine
        assert await event_log.purge(now - timedelta(days=7)) == 0
        assert deletes[4:] == [0]  # at the cap: no delete past it
    finally:
        await backend.close()


def _count_deletes(event_log: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows each DELETE the event log runs removes, from now on."""
    deleted: list[int] = []
    db = event_log.db
    real_rowcount = db.rowcount

    async def counted(sql: str, params: Any = None) -> int:
        count: int = await real_rowcount(sql, params)
        if sql.startswith("DELETE"):
            deleted.append(count)
        return count

    monkeypatch.setattr(db, "rowcount", counted)
    return deleted


async def test_the_cut_can_be_read_down_the_time_index_with_no_sort(
    postgres_server: PostgresServer, schema: str
) -> None:
    """With statistics of a large table the planner takes this path (0.3 s for the default
    million, measured); a table this small would be scanned and sorted, so those are penalized."""
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    await backend.event_storage().connect()
    await backend.close()
    async with await psycopg.AsyncConnection.connect(postgres_server.dsn()) as conn:
        await conn.execute(f"SET search_path TO {schema}")
        for kind in ("seqscan", "bitmapscan", "sort"):  # only penalized: still chosen if needed
            await conn.execute(f"SET enable_{kind} = off")
        cursor = await conn.execute(
            f"EXPLAIN (COSTS OFF) {postgres_events._LAST_OVER}".encode(), (1_000_000,)
        )
        plan = "\n".join(row[0] for row in await cursor.fetchall())
    assert "Index Only Scan Backward using omniq_events_time" in plan, plan
    assert "Sort" not in plan, plan


def test_max_events_defaults_to_a_million() -> None:
    from omniq_postgres.options import PostgresOptions

    assert PostgresOptions().max_events == 1_000_000
