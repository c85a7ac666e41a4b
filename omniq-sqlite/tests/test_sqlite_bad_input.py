"""Bad locations and foreign or newer databases give clear errors naming the file and the fix,
and leave the file as it was; an older schema is upgraded without losing rows."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import omniq
import pytest
from omniq.errors import ConfigurationError, StorageError
from omniq.models import Task
from omniq_sqlite.schema import SCHEMA_VERSION


async def connect(path: Path) -> tuple[object, object]:
    backend = omniq.load_backend("sqlite", database_path=str(path))
    queue = backend.task_queue()
    try:
        await queue.connect()
    except BaseException:
        await backend.close()
        raise
    return backend, queue


async def test_a_path_in_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "omniq.db"
    with pytest.raises(ConfigurationError, match="does not exist") as caught:
        await connect(path)
    assert str(path) in str(caught.value)
    assert not path.parent.exists()


async def test_a_file_that_is_not_sqlite_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my precious notes\n" * 10)
    with pytest.raises(StorageError, match="not an SQLite database") as caught:
        await connect(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == b"my precious notes\n" * 10


UNPRIVILEGED = 65534  # nobody: root may write read-only files, so root checks as this user


def connect_error(path: Path) -> str:
    """The error connecting to ``path`` raises (or "connected"), as this user or, for root, in
    a forked child that dropped to an unprivileged user first."""

    def attempt() -> str:
        async def run() -> str:
            try:
                backend, _queue = await connect(path)
            except StorageError as exc:
                return str(exc)
            await backend.close()  # type: ignore[attr-defined]
            return "connected"

        return asyncio.run(run())

    if os.geteuid() != 0:
        return attempt()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child process)
        code = 1
        try:
            os.close(reader)
            os.setgid(UNPRIVILEGED)
            os.setuid(UNPRIVILEGED)
            os.write(writer, attempt().encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0, message
    return message


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory any user may enter (pytest's own are private to their owner)."""
    directory = Path(tempfile.mkdtemp(prefix="omniq-ro-"))
    directory.chmod(0o755)
    yield directory
    for inner in directory.rglob("*"):
        if inner.is_dir():
            inner.chmod(0o755)
    shutil.rmtree(directory)


def test_a_read_only_file(shared_tmp: Path) -> None:
    path = shared_tmp / "omniq.db"

    async def create() -> None:
        backend, _queue = await connect(path)
        await backend.close()  # type: ignore[attr-defined]

    asyncio.run(create())
    path.chmod(0o444)
    before = path.read_bytes()
    message = connect_error(path)
    assert "not readable and writable" in message and str(path) in message
    assert path.read_bytes() == before


def test_a_read_only_directory(shared_tmp: Path) -> None:
    directory = shared_tmp / "ro"
    directory.mkdir()
    directory.chmod(0o555)
    message = connect_error(directory / "omniq.db")
    assert "not writable" in message and str(directory) in message
    assert list(directory.iterdir()) == []


async def test_a_database_from_a_newer_omniq_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "omniq.db"
    backend, queue = await connect(path)
    task = Task(func="m:f")
    await queue.enqueue(task)  # type: ignore[attr-defined]
    await backend.close()  # type: ignore[attr-defined]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE omniq_schema SET version = ? WHERE role = 'task_queue'", (99,))
    before = path.read_bytes()
    with pytest.raises(StorageError, match="newer OmniQ") as caught:
        await connect(path)
    assert "pip install -U omniq-sqlite" in str(caught.value)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT id FROM omniq_tasks").fetchall() == [(task.id,)]
    assert len(path.read_bytes()) == len(before)


async def test_an_unversioned_older_schema_is_adopted_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "omniq.db"
    backend, queue = await connect(path)
    tasks = [Task(func="m:f") for _ in range(3)]
    await queue.enqueue_many(tasks)  # type: ignore[attr-defined]
    await backend.close()  # type: ignore[attr-defined]
    with sqlite3.connect(path) as db:  # as written before versioning existed
        db.execute("DELETE FROM omniq_schema")
    backend, queue = await connect(path)
    try:
        found = [await queue.get(t.id) for t in tasks]  # type: ignore[attr-defined]
        assert all(info is not None for info in found)
        with sqlite3.connect(path) as db:
            versions = dict(db.execute("SELECT role, version FROM omniq_schema").fetchall())
        assert versions["task_queue"] == SCHEMA_VERSION
    finally:
        await backend.close()  # type: ignore[attr-defined]


async def test_a_version_1_queue_is_upgraded_in_place_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "omniq.db"
    backend, queue = await connect(path)
    tasks = [Task(func="m:f", priority=p) for p in (0, 5, 1)]
    await queue.enqueue_many(tasks)  # type: ignore[attr-defined]
    await backend.close()  # type: ignore[attr-defined]
    with sqlite3.connect(path) as db:  # the indexes version 1 had
        db.execute("DROP INDEX omniq_tasks_pending")
        db.execute("DROP INDEX omniq_tasks_leased")
        db.execute(
            "CREATE INDEX omniq_tasks_claim ON omniq_tasks (queue, state, priority DESC, eta, id)"
        )
        db.execute("CREATE INDEX omniq_tasks_lease ON omniq_tasks (state, lease_expires)")
        db.execute("UPDATE omniq_schema SET version = 1 WHERE role = 'task_queue'")
    backend, queue = await connect(path)
    try:
        claimed = await queue.claim(  # type: ignore[attr-defined]
            ["default"], limit=10, lease_seconds=30, worker_id="w"
        )
        assert [c.task.priority for c in claimed] == [5, 1, 0]
        with sqlite3.connect(path) as db:
            indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            version = db.execute(
                "SELECT version FROM omniq_schema WHERE role = 'task_queue'"
            ).fetchone()[0]
        assert {"omniq_tasks_pending", "omniq_tasks_leased"} <= indexes
        assert not {"omniq_tasks_claim", "omniq_tasks_lease"} & indexes
        assert version == SCHEMA_VERSION
    finally:
        await backend.close()  # type: ignore[attr-defined]
