"""A database written by an older omniq-sqlite is upgraded in place: every row kept, every
role readable, and a second upgrade of the same file finds nothing to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import omniq
import pytest
from omniq.models import EventQuery, EventType, ResultStatus, TaskEvent
from omniq_sqlite.database import SchemaVersionError
from omniq_sqlite.rebuild import Rebuild
from omniq_sqlite.schema import SCHEMA_VERSION, UPGRADES

VERSION_2_DUMP = Path(__file__).parent / "data" / "schema_v2.sql"
TABLES = ("omniq_tasks", "omniq_results", "omniq_events")


def version_2_database(path: Path) -> dict[str, int]:
    """Write the version 2 database; the number of rows in each table."""
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_2_DUMP.read_text())
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def table_sql(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))


def test_the_version_2_dump_holds_no_time_that_can_run_out(tmp_path: Path) -> None:
    """A fixture with an expiry or lease time stops passing on the day it passes (the result
    in this dump expired on 2026-11-30 once, and CI was red from then on)."""
    path = tmp_path / "omniq.db"
    version_2_database(path)
    with sqlite3.connect(path) as db:
        expiries = db.execute("SELECT expires_at FROM omniq_results").fetchall()
        leases = db.execute("SELECT lease_expires FROM omniq_tasks").fetchall()
    assert expiries and all(value is None for (value,) in expiries)
    assert leases and all(value is None for (value,) in leases)


async def test_a_version_2_database_is_rebuilt_without_losing_anything(tmp_path: Path) -> None:
    path = tmp_path / "omniq.db"
    counts = version_2_database(path)
    assert counts == {"omniq_tasks": 3, "omniq_results": 1, "omniq_events": 6}
    backend = omniq.load_backend("sqlite", database_path=str(path))
    queue, results, event_log = (
        backend.task_queue(),
        backend.result_storage(),
        backend.event_storage(),
    )
    try:
        for storage in (queue, results, event_log):
            await storage.connect()
        with sqlite3.connect(path) as db:
            after = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
            versions = dict(db.execute("SELECT role, version FROM omniq_schema"))
        assert after == counts
        assert versions == {  # schedules were not opened, so not upgraded
            "task_queue": SCHEMA_VERSION,
            "result_storage": SCHEMA_VERSION,
            "event_storage": SCHEMA_VERSION,
            "schedule_storage": 2,
        }
        sql = table_sql(path)
        assert all("WITHOUT ROWID" in sql[t] for t in TABLES)
        assert not [name for name in sql if name.endswith("_rebuilt")]

        claimed = await queue.claim(["default"], limit=10, lease_seconds=30, worker_id="w")
        assert [c.task.priority for c in claimed] == [5, 1, 0]
        done = (await event_log.query(EventQuery(event_types=[EventType.COMPLETED])))[0]
        result = await results.get(done.task_id)
        assert result is not None and result.status is ResultStatus.SUCCESS
        trail = await event_log.query(EventQuery(task_id=done.task_id))
        assert [e.event_type for e in trail] == [
            EventType.ENQUEUED,
            EventType.STARTED,
            EventType.COMPLETED,
        ]
        started, completed = trail[1], trail[2]
        assert started.worker_id and started.attempt == 1 and started.details == {}
        assert completed.worker_id == started.worker_id
        assert isinstance(completed.details["duration"], float)
        assert trail[0].worker_id is None and trail[0].attempt is None
    finally:
        await backend.close()  # type: ignore[attr-defined]


def test_a_second_rebuild_changes_nothing(tmp_path: Path) -> None:
    """What another process upgrading the same file at the same time would do."""
    path = tmp_path / "omniq.db"
    version_2_database(path)
    rebuilds = [step for steps in UPGRADES[3].values() for step in steps]
    with sqlite3.connect(path) as db:
        for rebuild in rebuilds:
            assert isinstance(rebuild, Rebuild) and not rebuild.is_current(db)
            rebuild(db)
        first = table_sql(path), db.execute("SELECT name, rootpage FROM sqlite_master").fetchall()
        rows = db.execute("SELECT * FROM omniq_events ORDER BY id").fetchall()
        for rebuild in rebuilds:
            assert isinstance(rebuild, Rebuild) and rebuild.is_current(db)
            rebuild(db)
        again = table_sql(path), db.execute("SELECT name, rootpage FROM sqlite_master").fetchall()
        assert again == first
        assert db.execute("SELECT * FROM omniq_events ORDER BY id").fetchall() == rows


async def test_a_process_whose_file_a_newer_omniq_upgraded_gets_a_clear_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "omniq.db"
    backend = omniq.load_backend("sqlite", database_path=str(path))
    event_log = backend.event_storage()
    try:
        await event_log.connect()
        event = TaskEvent(event_type=EventType.ENQUEUED, task_id="t1")
        await event_log.append(event)
        with sqlite3.connect(path) as db:  # what a later schema version might do
            db.execute("ALTER TABLE omniq_events RENAME COLUMN details TO details_v4")
            db.execute("UPDATE omniq_schema SET version = 99")
        with pytest.raises(SchemaVersionError, match="upgraded to schema version 99") as caught:
            await event_log.append(TaskEvent(event_type=EventType.STARTED, task_id="t1"))
        assert "pip install -U omniq-sqlite" in str(caught.value)
        assert str(path) in str(caught.value)
    finally:
        await backend.close()  # type: ignore[attr-defined]
