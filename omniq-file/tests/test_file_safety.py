"""The file backend keeps names inside base_dir, dead-letters undecodable task files and goes
on, and gives clear errors for bad locations."""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq.errors import BackendOptionError, ConfigurationError, InvalidNameError, StorageError
from omniq.models import Task, TaskState


@pytest.mark.parametrize("hostile", ["../escape", "/etc/passwd", "a/b", "..", "x.y", "é", ""])
async def test_names_cannot_leave_base_dir(tmp_path: Path, hostile: str) -> None:
    base = tmp_path / "data"
    backend = omniq.load_backend("file", base_dir=str(base))
    queue, results = backend.task_queue(), backend.result_storage()
    try:
        await queue.connect()
        with pytest.raises(InvalidNameError, match="file backend"):
            await queue.get(hostile)
        with pytest.raises(InvalidNameError):
            await results.get(hostile)
        with pytest.raises(InvalidNameError):
            await queue.stats([hostile])
    finally:
        await backend.close()
    every = await asyncio.to_thread(lambda: list(tmp_path.rglob("*")))
    assert {p for p in every if base not in p.parents and p != base} == set()


@pytest.mark.parametrize("where", ["local", "memory"])
async def test_a_corrupt_task_file_is_dead_lettered_and_the_rest_still_run(
    tmp_path: Path, where: str
) -> None:
    location = (
        {"base_dir": str(tmp_path)}
        if where == "local"
        else {"fsspec_uri": f"memory://corrupt-{uuid.uuid4().hex[:8]}"}
    )
    backend = omniq.load_backend("file", **location)
    queue: Any = backend.task_queue()
    try:
        await queue.connect()
        blobs = queue.files.blobs
        good = [Task(func="m:f", priority=0) for _ in range(3)]
        bad = Task(func="m:f", priority=50)
        await queue.enqueue_many([bad, *good])
        (name,) = [n for n in blobs.list("queues/default/pending") if bad.id in n]
        garbage = b'{"task": {"func": "m:f", "trunc'  # a truncated write
        blobs.write(f"queues/default/pending/{name}", garbage)
        claimed = await queue.claim(["default"], limit=10, lease_seconds=30, worker_id="w")
        assert sorted(c.task.id for c in claimed) == sorted(t.id for t in good)
        # a dead letter with reason CORRUPT_RECORD, its bytes kept as they were
        assert blobs.list("queues/default/dead") == [f"{bad.id}.0.corrupt"]
        assert blobs.read(f"queues/default/dead/{bad.id}.0.corrupt") == garbage
        (stats,) = await queue.stats(["default"])
        assert (stats.dead, stats.active, stats.pending) == (1, 3, 0)
        assert await queue.ack([c.lease for c in claimed]) == [True, True, True]
        assert await queue.list_tasks("default", state=TaskState.DEAD) == []  # nothing to show
        with pytest.raises(StorageError, match=f"{bad.id}.*corrupt record.*{bad.id}.0.corrupt"):
            await queue.get(bad.id)  # not "no such task": it is kept, and where is said
        assert await queue.requeue_dead("default") == 0  # it would only fail again
        assert await queue.enqueue(bad) is False  # the id is taken, as by any dead letter
        assert await queue.purge("default", states=[TaskState.DEAD]) == 1
        assert await queue.enqueue(bad) is True
    finally:
        await backend.close()


def test_a_base_dir_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    backend = omniq.load_backend("file", base_dir=str(tmp_path / "missing" / "data"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        backend.task_queue().files.blobs  # type: ignore[attr-defined]


def test_a_base_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    # os.makedirs raised a bare FileExistsError
    existing = tmp_path / "data"
    existing.write_text("not a directory")
    for options in ({"base_dir": str(existing)}, {"url": f"file://{existing}"}):
        app = omniq.OmniQ(backend=omniq.load_backend("file", **options), workers=0)
        with pytest.raises(ConfigurationError) as caught:
            app.start()
        assert "it is a file, not a directory" in str(caught.value)
        assert str(existing) in str(caught.value)
    assert existing.read_text() == "not a directory"  # left as it was


def test_a_base_dir_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    existing = tmp_path / "data"
    existing.write_text("")
    backend = omniq.load_backend("file", base_dir=str(existing / "sub"))
    with pytest.raises(ConfigurationError, match="is not a directory"):
        backend.task_queue().files.blobs  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(math.nan, "nan"), (math.inf, "inf"), (0, "0.0"), (-1, "-1.0"), (61, "61.0")],
)
def test_poll_interval_is_range_checked(value: float, shown: str) -> None:
    with pytest.raises(BackendOptionError) as caught:
        omniq.load_backend("file", poll_interval=value)
    assert f"Invalid poll_interval {shown}: use a number of seconds from 0.0001 to 60" in str(
        caught.value
    )


def test_pickle_is_only_used_when_chosen(tmp_path: Path) -> None:
    default = omniq.load_backend("file", base_dir=str(tmp_path / "a"))
    assert default.options.serialization_format == "json"
    with pytest.raises(ConfigurationError, match="pickle runs code"):
        omniq.load_backend("file", base_dir=str(tmp_path), serialization_format="yaml")


async def test_get_result_never_reports_a_task_unknown_while_it_is_claimed(tmp_path: Path) -> None:
    """Listings are not snapshots: a task renamed from pending/ to active/ between listing and
    reading must still be found (a miss made get_result raise TaskNotFoundError)."""
    backend = omniq.load_backend("file", base_dir=str(tmp_path / "data"))
    async with omniq.AsyncOmniQ(backend=backend, workers=4, scheduler=False) as oq:
        for i in range(300):
            assert await oq.get_result(await oq.enqueue(abs, -i), timeout=30) == i


async def test_an_expired_task_whose_file_is_corrupt_is_dead_lettered_by_recovery(
    tmp_path: Path,
) -> None:
    backend = omniq.load_backend("file", base_dir=str(tmp_path))
    queue: Any = backend.task_queue()
    try:
        await queue.connect()
        task, other = Task(func="m:f", priority=9), Task(func="m:f")
        await queue.enqueue_many([task, other])
        held = await queue.claim(["default"], limit=2, lease_seconds=0.05, worker_id="w")
        assert [c.task.id for c in held] == [task.id, other.id]
        (active,) = [p for p in (tmp_path / "queues/default/active").glob(f"{task.id}.*.task")]
        active.write_bytes(b"\xff not a task")  # same inode as index/<id>: both unreadable
        await asyncio.sleep(0.1)
        recovered = await queue.recover_expired()
        assert [r.task_id for r in recovered] == [other.id]  # the readable one goes back
        assert [p.name for p in (tmp_path / "queues/default/dead").iterdir()] == [
            f"{task.id}.1.corrupt"
        ]
        assert list((tmp_path / "queues/default/active").iterdir()) == []  # lease removed too
        assert await queue.recover_expired() == []
        with pytest.raises(StorageError, match="corrupt record"):
            await queue.get(task.id)
    finally:
        await backend.close()
