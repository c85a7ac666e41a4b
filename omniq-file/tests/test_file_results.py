"""File results: the delivery compare-and-set holds between processes on a local disk, and
purging reads only the results whose expiry minute has begun."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq.ids import new_id
from omniq.models.result import ResultStatus, TaskResult
from omniq_file import result_expiry
from omniq_file.layout import LAYOUT_FILE

_WRITER = """
import asyncio, json, pathlib, sys
import omniq
from omniq.models.result import ResultStatus, TaskResult

async def main(base_dir, ids, deliveries, seed, writers):
    storage = omniq.load_backend("file", base_dir=base_dir).result_storage()
    await storage.connect()
    ready = pathlib.Path(base_dir, "ready")
    ready.mkdir(exist_ok=True)
    (ready / str(seed)).touch()
    while len(list(ready.iterdir())) < writers:  # start together, or they would not overlap
        await asyncio.sleep(0.001)
    writes = [(i, d) for d in deliveries for i in ids]  # rising, as a task's deliveries do
    seen = dict.fromkeys(ids, -1)
    for task_id, delivery in writes:
        payload = str(delivery).encode()
        await storage.store(
            TaskResult(task_id=task_id, status=ResultStatus.SUCCESS, payload=payload,
                       delivery=delivery)
        )
        held = (await storage.get(task_id)).delivery
        if held < max(seen[task_id], delivery):  # the stored delivery went down
            sys.exit(f"{task_id}: {held} after {max(seen[task_id], delivery)}")
        seen[task_id] = held

ids, deliveries = json.loads(sys.argv[2]), json.loads(sys.argv[3])
asyncio.run(main(sys.argv[1], ids, deliveries, int(sys.argv[4]), int(sys.argv[5])))
"""


def _result(task_id: str, **changes: Any) -> TaskResult:
    fields: dict[str, Any] = {"task_id": task_id, "status": ResultStatus.SUCCESS, "payload": b"1"}
    fields.update(changes)
    return TaskResult(**fields)


async def test_writers_in_several_processes_keep_the_highest_delivery(tmp_path: Path) -> None:
    """Four processes store rising, interleaved deliveries of the same three tasks at once,
    each reading back after every write: no one sees a task's stored delivery go down, and
    each ends with its highest. (Without the flock every run saw it go down: a writer that
    read the file before a higher delivery was written replaced it.)"""
    base = tmp_path / "data"
    ids = [new_id() for _ in range(3)]  # few tasks: the writers collide on them all the time
    writers = 4
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 (all started at once, waited for in a thread)
            [
                sys.executable,
                "-c",
                _WRITER,
                str(base),
                json.dumps(ids),
                json.dumps(list(range(n, 2000, writers))),
                str(n),
                str(writers),
            ]
        )
        for n in range(writers)
    ]
    codes = await asyncio.to_thread(lambda: [p.wait(timeout=300) for p in procs])
    assert codes == [0] * writers
    storage = omniq.load_backend("file", base_dir=str(base)).result_storage()
    await storage.connect()
    found = {task_id: await storage.get(task_id) for task_id in ids}
    held = {task_id: (r.delivery, r.payload) for task_id, r in found.items() if r is not None}
    assert held == {task_id: (1999, b"1999") for task_id in ids}


async def test_a_stored_result_that_cannot_be_read_is_replaced(tmp_path: Path) -> None:
    storage: Any = omniq.load_backend("file", base_dir=str(tmp_path)).result_storage()
    await storage.connect()
    (tmp_path / "results").mkdir(exist_ok=True)
    (tmp_path / "results/t1.result").write_bytes(b"{torn")
    assert await storage.store(_result("t1", delivery=1)) is True
    assert (await storage.get("t1")).delivery == 1
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


async def test_purge_reads_only_the_minutes_that_began(tmp_path: Path) -> None:
    storage: Any = omniq.load_backend("file", base_dir=str(tmp_path)).result_storage()
    await storage.connect()
    now = datetime.now(UTC)
    gone = [_result(new_id(), expires_at=now - timedelta(seconds=s)) for s in (1, 90, 7200)]
    later = _result(new_id(), expires_at=now + timedelta(hours=2))
    kept = _result(new_id(), expires_at=None)
    longer = _result(gone[0].task_id, expires_at=now + timedelta(hours=1), delivery=2)
    await storage.store_many([*gone, later, kept])
    assert await storage.store(longer) is True  # its old expiry's entry is only a hint now
    # a result in no expiry file is not looked at: a purge does not read every result
    (tmp_path / "results/unlisted.result").write_bytes(
        storage.files.dump(_result("unlisted", expires_at=now - timedelta(days=1)))
    )
    assert await storage.purge_expired() == 2
    assert [await storage.get(r.task_id) for r in (later, kept)] == [later, kept]
    assert await storage.get(longer.task_id) == longer
    assert (tmp_path / "results/unlisted.result").exists()
    minutes = sorted(p.name for p in (tmp_path / result_expiry.FOLDER).iterdir())
    assert minutes == sorted(
        {f"{result_expiry.minute_of(r.expires_at)}.idx" for r in (later, longer)}
    )
    assert await storage.purge_expired() == 0


async def test_a_dir_of_layout_2_has_its_results_purged_once_by_a_full_read(
    tmp_path: Path,
) -> None:
    (tmp_path / LAYOUT_FILE).write_text("2\n")
    (tmp_path / "results").mkdir()
    storage: Any = omniq.load_backend("file", base_dir=str(tmp_path)).result_storage()
    now = datetime.now(UTC)
    old = _result("old", expires_at=now - timedelta(days=2))
    soon = _result("soon", expires_at=now + timedelta(seconds=0.5))
    for result in (old, soon):
        (tmp_path / f"results/{result.task_id}.result").write_bytes(storage.files.dump(result))
    await storage.connect()
    assert (tmp_path / result_expiry.UNINDEXED).exists()
    assert await storage.purge_expired() == 1
    assert not (tmp_path / result_expiry.UNINDEXED).exists()
    await asyncio.sleep(0.6)  # the one not expired then was indexed: the next purge finds it
    assert await storage.purge_expired() == 1
    assert not (tmp_path / "results/soon.result").exists()


async def test_a_purge_that_died_is_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage: Any = omniq.load_backend("file", base_dir=str(tmp_path)).result_storage()
    await storage.connect()
    expired = _result(new_id(), expires_at=datetime.now(UTC) - timedelta(seconds=5))
    await storage.store(expired)
    folder = tmp_path / result_expiry.FOLDER
    (index,) = folder.iterdir()
    index.rename(folder / f"{index.name.split('.')[0]}.abc.purging")  # taken, then it died
    assert await storage.purge_expired() == 0  # it may still be at work
    monkeypatch.setattr(result_expiry, "STALE", 0.0)
    assert await storage.purge_expired() == 1
    assert list(folder.iterdir()) == []
