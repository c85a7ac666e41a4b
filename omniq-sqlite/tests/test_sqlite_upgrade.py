"""A database written by an older omniq-sqlite is upgraded in place: every row kept, every
role readable, and a second upgrade of the same file finds nothing to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import omniq
import pytest
from omniq.models import EventQuery, EventType, ResultStatus, TaskEvent
from omniq_sqlite.database import SchemaVersionError
from omniq_sqlite.rebuild import AddColumn, Rebuild
from omniq_sqlite.schema import SCHEMA_VERSION, UPGRADES

VERSION_2_DUMP = Path(__file__).parent / "data" / "schema_v2.sql"
VERSION_3_DUMP = Path(__file__).parent / "data" / "schema_v3.sql"
TABLES = ("omniq_tasks", "omniq_results", "omniq_events")


def version_2_database(path: Path, dump: Path = VERSION_2_DUMP) -> dict[str, int]:
    """Write the version 2 database (or another dump); the number of rows in each table."""
    with sqlite3.connect(path) as db:
        db.executescript(dump.read_text())
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
        assert [c.lease.delivery for c in claimed] == [1, 1, 1]
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
        await backend.close()


def test_the_version_3_dump_holds_no_time_that_can_run_out(tmp_path: Path) -> None:
    """Its one lease ran out in 2020 (so it stays run out); no result expires."""
    path = tmp_path / "omniq.db"
    version_2_database(path, VERSION_3_DUMP)
    with sqlite3.connect(path) as db:
        expiries = db.execute("SELECT expires_at FROM omniq_results").fetchall()
        (lease,) = db.execute("SELECT max(lease_expires) FROM omniq_tasks").fetchone()
    assert expiries and all(value is None for (value,) in expiries)
    assert lease == 1577836800000000


async def test_a_version_3_database_gets_delivery_counts_without_losing_anything(
    tmp_path: Path,
) -> None:
    """Version 4 adds the delivery columns in place: claims made before count as the attempts
    (their lower bound), results as delivery 0, so any later delivery's result replaces them."""
    path = tmp_path / "omniq.db"
    counts = version_2_database(path, VERSION_3_DUMP)
    assert counts == {"omniq_tasks": 4, "omniq_results": 1, "omniq_events": 1}
    rootpages = dict(table_roots(path))
    backend = omniq.load_backend("sqlite", database_path=str(path))
    queue, results = backend.task_queue(), backend.result_storage()
    try:
        for storage in (queue, results, backend.event_storage()):
            await storage.connect()
        with sqlite3.connect(path) as db:
            after = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
            versions = dict(db.execute("SELECT role, version FROM omniq_schema"))
        assert after == counts
        assert set(versions.values()) == {SCHEMA_VERSION} and SCHEMA_VERSION == 5
        assert dict(table_roots(path)) == rootpages  # altered in place, not rebuilt

        infos = {t: await queue.get(t) for t in ("crashed", "retried", "dead", "waiting")}
        assert {t: (i.attempt, i.deliveries) for t, i in infos.items() if i} == {
            "crashed": (2, 2),
            "retried": (1, 1),
            "dead": (1, 1),
            "waiting": (0, 0),
        }
        (recovered,) = await queue.recover_expired()  # the 2020 lease
        assert (recovered.task_id, recovered.delivery, recovered.dead) == ("crashed", 2, False)
        claimed = await queue.claim(["default"], limit=10, lease_seconds=30, worker_id="w")
        assert [(c.task.id, c.lease.attempt, c.lease.delivery) for c in claimed] == [
            ("crashed", 2, 3),
            ("retried", 2, 2),
            ("waiting", 1, 1),
        ]
        old = await results.get("done")
        assert old is not None and old.delivery == 0 and old.payload == b"2"
        assert await results.store(attrs.evolve(old, delivery=1, payload=b"3"))
        assert not await results.store(attrs.evolve(old, delivery=0, payload=b"4"))
        again = await results.get("done")
        assert again is not None and again.payload == b"3"
    finally:
        await backend.close()


def table_roots(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT name, rootpage FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()


def test_adding_the_version_4_columns_twice_changes_nothing(tmp_path: Path) -> None:
    """What another process upgrading the same file at the same time would do."""
    path = tmp_path / "omniq.db"
    version_2_database(path, VERSION_3_DUMP)
    steps = [step for steps in UPGRADES[4].values() for step in steps]
    with sqlite3.connect(path) as db:
        for step in steps:
            assert isinstance(step, AddColumn)
            step(db)
        first = table_sql(path)
        db.execute("UPDATE omniq_tasks SET deliveries = 7 WHERE id = 'waiting'")
        for step in steps:
            assert isinstance(step, AddColumn)
            step(db)  # must not fill the column again
        (deliveries,) = db.execute(
            "SELECT deliveries FROM omniq_tasks WHERE id = 'waiting'"
        ).fetchone()
        assert table_sql(path) == first and deliveries == 7


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
        await backend.close()
