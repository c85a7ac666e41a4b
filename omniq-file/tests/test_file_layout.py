"""The second layout on a local disk: one file per enqueue (index entry hard-linked into
pending/), events indexed per hour and task, cached pending listings, and data dirs of the
first layout still read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import omniq
import orjson
import pytest
from omniq.errors import InvalidNameError, StorageError
from omniq.models import EventType, Task, TaskEvent, TaskState
from omniq.models.event import EventQuery
from omniq.models.task import Lease
from omniq.serialization.records import record_converter
from omniq.storage import EventStorage, TaskQueueStorage
from omniq_file import listing
from omniq_file.blobs import LocalBlobs
from omniq_file.event_index import shard_of
from omniq_file.layout import LAYOUT, LAYOUT_FILE, LayoutVersionError
from omniq_file.store import EventBatch, StoredTask


@pytest.fixture
async def storages(tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    backend = omniq.load_backend("file", base_dir=str(tmp_path))
    queue, events = backend.task_queue(), backend.event_storage()
    await queue.connect()
    await events.connect()
    yield queue, events
    await backend.close()


async def test_an_enqueue_makes_one_file_named_twice(
    storages: tuple[Any, Any], tmp_path: Path
) -> None:
    queue, _ = storages
    task = Task(func="m:f")
    assert await queue.enqueue(task) is True
    index = tmp_path / "index" / task.id
    (pending,) = (tmp_path / "queues/default/pending").iterdir()
    assert index.samefile(pending) and index.stat().st_nlink == 2
    assert queue.files.codec.loads(index.read_bytes(), StoredTask).task == task
    (claimed,) = await queue.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    assert await queue.ack([claimed.lease]) == [True]
    assert not index.exists() and list((tmp_path / "queues/default/active").iterdir()) == []


async def test_two_stores_on_one_dir_enqueue_an_id_once(tmp_path: Path) -> None:
    """Two backends have separate stores, as two processes would: O_EXCL decides."""
    one = omniq.load_backend("file", base_dir=str(tmp_path)).task_queue()
    two = omniq.load_backend("file", base_dir=str(tmp_path)).task_queue()
    task = Task(func="m:f")
    outcomes = await asyncio.gather(*(q.enqueue(task) for q in (one, two, one, two)))
    assert sorted(outcomes) == [False, False, False, True]
    assert len(list((tmp_path / "queues/default/pending").iterdir())) == 1


async def test_a_lease_token_names_its_queue_and_forged_ones_match_nothing(
    storages: tuple[Any, Any],
) -> None:
    queue, _ = storages
    task = Task(func="m:f", queue="mail")
    await queue.enqueue(task)
    (claimed,) = await queue.claim(["mail"], limit=1, lease_seconds=30, worker_id="w")
    assert claimed.lease.token.endswith("mail") and len(claimed.lease.token) == 28
    forged = [
        Lease(task_id=task.id, token=token, expires_at=claimed.lease.expires_at, attempt=1)
        for token in ("0" * 24 + "other", "../../etc", claimed.lease.token[:24] + "x/y")
    ]
    assert await queue.ack(forged) == [False, False, False]
    assert await queue.ack([claimed.lease]) == [True]


async def test_claims_see_tasks_another_store_adds_after_a_cached_listing(
    tmp_path: Path,
) -> None:
    worker = omniq.load_backend("file", base_dir=str(tmp_path)).task_queue()
    other = omniq.load_backend("file", base_dir=str(tmp_path)).task_queue()
    low = [Task(func="m:f", priority=1) for _ in range(3)]
    await worker.enqueue_many(low)
    first = await worker.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    assert [c.task.id for c in first] == [low[0].id]  # the other two stay in the listing
    await asyncio.sleep(0.02)  # past a coarse timestamp tick
    high = Task(func="m:f", priority=9)
    assert await other.enqueue(high) is True
    (next_one,) = await worker.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    assert next_one.task.id == high.id
    # Taken behind the worker's back: the cached names fail to rename, and a claim the cache
    # cannot fill lists again.
    (stolen,) = await other.claim(["default"], limit=1, lease_seconds=30, worker_id="o")
    late = Task(func="m:f", priority=0)
    await other.enqueue(late)
    rest = await worker.claim(["default"], limit=10, lease_seconds=30, worker_id="w")
    assert {c.task.id for c in rest} | {stolen.task.id} == {low[1].id, low[2].id, late.id}


def _event(task_id: str, kind: EventType = EventType.ENQUEUED) -> TaskEvent:
    return TaskEvent(event_type=kind, task_id=task_id, queue="default")


async def test_task_queries_read_only_the_batches_the_index_names(
    storages: tuple[Any, Any], tmp_path: Path
) -> None:
    _, events = storages
    a, b = _event("task-a"), _event("task-b")
    await events.append_many([a])
    await events.append_many([b, _event("task-b", EventType.STARTED)])
    folder = tmp_path / "events/hours" / a.timestamp.strftime("%Y%m%d%H")  # task-a's hour
    index = (folder / f"tasks-{shard_of('task-a')}.idx").read_text()
    assert index.startswith("task-a ") and index.endswith(".events\n")
    # A batch the index does not name for task-a is not read: a broken one stays unquarantined.
    (folder / "0-zz.batch").write_bytes(b"{not json")
    # A torn line (a writer died mid-append) and a line naming a missing batch are skipped.
    idx = folder / f"tasks-{shard_of('task-a')}.idx"
    idx.write_text(idx.read_text() + "task-a gone-1.batch\ntask-a ../../x")
    assert [e.id for e in await events.query(EventQuery(task_id="task-a"))] == [a.id]
    assert not (tmp_path / "quarantine").exists()
    assert [e.task_id for e in await events.query(EventQuery())] == ["task-a", "task-b", "task-b"]
    assert (tmp_path / "quarantine").exists()  # a time query reads every batch of the hour
    assert not (tmp_path / "events/tasks").exists()  # no per-event files any more


async def test_a_data_dir_of_the_first_layout_is_still_read(tmp_path: Path) -> None:
    """First layout: index/<id> held the queue's name, each event also had a file of its own in
    events/tasks/<id>/, and lease tokens were the nonce alone."""
    backend = omniq.load_backend("file", base_dir=str(tmp_path))
    queue: Any = backend.task_queue()
    events: EventStorage = backend.event_storage()
    waiting, running = Task(func="m:f"), Task(func="m:f")
    files = queue.files
    for task in (waiting, running):
        (tmp_path / "index").mkdir(exist_ok=True)
        (tmp_path / "index" / task.id).write_text("default")
    pending = tmp_path / "queues/default/pending"
    active = tmp_path / "queues/default/active"
    pending.mkdir(parents=True)
    active.mkdir()
    eta = int(waiting.eta.timestamp() * 1_000_000)
    name = f"{100 - waiting.priority:03d}-{eta:017d}-{waiting.id}.0.task"
    (pending / name).write_bytes(files.dump(StoredTask(task=waiting)))
    nonce = "ab" * 12
    (active / f"{running.id}.1.{nonce}.task").write_bytes(files.dump(StoredTask(task=running)))
    expires = int((datetime.now(UTC).timestamp() + 60) * 1_000_000)
    (active / f"{running.id}.1.{nonce}.lease").write_text(f'{{"expires": {expires}}}')
    old = _event(waiting.id)
    legacy = tmp_path / "events/tasks" / waiting.id
    legacy.mkdir(parents=True)
    (legacy / f"{old.id}.event").write_bytes(files.dump(old))
    hour = tmp_path / "events/hours" / old.timestamp.strftime("%Y%m%d%H")
    hour.mkdir(parents=True)
    (hour / f"{old.id}-legacy.batch").write_bytes(files.dump(EventBatch(events=[old])))
    try:
        task_queue: TaskQueueStorage = queue
        info = await task_queue.get(waiting.id)
        assert info is not None and info.state is TaskState.PENDING and info.task == waiting
        assert await task_queue.enqueue(waiting) is False
        running_info = await task_queue.get(running.id)
        assert running_info is not None and running_info.state is TaskState.ACTIVE
        lease = (await task_queue.claim(["default"], limit=1, lease_seconds=30, worker_id="w"))[0]
        assert lease.task.id == waiting.id
        # the lease a first-layout worker holds: its token is the nonce alone
        held = Lease(task_id=running.id, token=nonce, expires_at=datetime.now(UTC), attempt=1)
        assert await task_queue.ack([held, lease.lease]) == [True, True]
        new = _event(waiting.id, EventType.COMPLETED)
        await events.append_many([new])
        found = await events.query(EventQuery(task_id=waiting.id))
        assert [e.id for e in found] == [old.id, new.id]  # the old event once, not twice
        assert await events.purge(datetime.now(UTC).replace(year=2100)) == 2
        assert list(legacy.iterdir()) == []
    finally:
        await backend.close()


async def test_a_task_added_during_a_claim_waits_at_most_the_listing_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = omniq.load_backend("file", base_dir=str(tmp_path)).task_queue()
    other = omniq.load_backend("file", base_dir=str(tmp_path)).task_queue()
    low = [Task(func="m:f", priority=1) for _ in range(3)]
    await worker.enqueue_many(low)
    await worker.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    high = Task(func="m:f", priority=9)
    assert await other.enqueue(high) is True
    # as if it had been added while the worker claimed: the worker recorded the folder after it
    cached = worker._listings._cached["queues/default/pending"]
    cached.version = worker.files.blobs.version("queues/default/pending")
    monkeypatch.setattr(listing, "MAX_AGE", 3600.0)
    (hidden,) = await worker.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    assert hidden.task.id == low[1].id  # behind the cached, lower-priority names...
    monkeypatch.setattr(listing, "MAX_AGE", 0.0)
    (next_one,) = await worker.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    assert next_one.task.id == high.id  # ...until the listing is too old to reuse


def _names_under(directory: Path) -> list[str]:
    return [path.name for path in directory.rglob("*")]


async def test_event_ids_that_are_not_one_safe_file_name_are_refused(
    storages: tuple[Any, Any], tmp_path: Path
) -> None:
    _, events = storages
    for bad in ("../../escaped", "a.b", "/abs"):
        with pytest.raises(InvalidNameError, match="event id"):
            await events.append(TaskEvent(event_type=EventType.ENQUEUED, task_id="t1", id=bad))
    assert not [name for name in _names_under(tmp_path.parent) if "escaped" in name]
    assert await events.query(EventQuery(task_id="t1")) == []


def test_a_failed_link_leaves_the_name_free(tmp_path: Path) -> None:
    blobs = LocalBlobs(str(tmp_path / "data"), fsync=False)
    blobs.write("pending/b", b"in the way")
    with pytest.raises(FileExistsError):
        blobs.create_linked("index/a", b"task", "pending/b")
    assert not blobs.exists("index/a")  # the id can be enqueued again
    assert blobs.create_linked("index/a", b"task", "pending/c") is True


async def test_a_data_dir_records_its_layout_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    queue = omniq.load_backend("file", base_dir=str(data)).task_queue()
    await queue.connect()
    await queue.enqueue(Task(func="m:f", id="kept"))
    assert _read(data / LAYOUT_FILE) == f"{LAYOUT}\n"
    _write(data / LAYOUT_FILE, f"{LAYOUT + 1}\n")
    newer = omniq.load_backend("file", base_dir=str(data)).task_queue()
    with pytest.raises(LayoutVersionError, match="newer omniq-file") as caught:
        await newer.connect()
    assert "pip install -U omniq-file" in str(caught.value) and str(data) in str(caught.value)
    _write(data / LAYOUT_FILE, "not a number")
    with pytest.raises(StorageError, match="layout number"):
        await omniq.load_backend("file", base_dir=str(data)).task_queue().connect()
    _write(data / LAYOUT_FILE, f"{LAYOUT}\n")
    again = omniq.load_backend("file", base_dir=str(data)).task_queue()
    await again.connect()
    info = await again.get("kept")  # nothing was changed meanwhile
    assert info is not None


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _layout_2_task(task: Task, last_error: str | None = None) -> bytes:
    """A task file as layout 2 wrote it: no delivery count."""
    return orjson.dumps({"task": record_converter().unstructure(task), "last_error": last_error})


async def test_task_files_of_layout_2_count_their_deliveries_from_the_attempt(
    tmp_path: Path,
) -> None:
    """Layout 2 did not count deliveries: its name's attempt (claims so far) is the count, so
    fencing numbers go on growing from there and never start again at 1."""
    (tmp_path / LAYOUT_FILE).write_text("2\n")
    waiting, running, dead = (Task(func="m:f", queue="legacy") for _ in range(3))
    root = tmp_path / "queues/legacy"
    for folder in ("pending", "active", "dead"):
        (root / folder).mkdir(parents=True)
    (tmp_path / "index").mkdir()
    for task in (waiting, running, dead):
        (tmp_path / "index" / task.id).write_bytes(_layout_2_task(task))
    eta = int(waiting.eta.timestamp() * 1_000_000)
    name = f"{100 - waiting.priority:03d}-{eta:017d}-{waiting.id}.2.task"
    (root / "pending" / name).write_bytes(_layout_2_task(waiting, "boom"))
    nonce = "cd" * 12
    (root / "active" / f"{running.id}.3.{nonce}.task").write_bytes(_layout_2_task(running))
    expired = int((datetime.now(UTC).timestamp() - 5) * 1_000_000)
    (root / "active" / f"{running.id}.3.{nonce}.lease").write_text(f'{{"expires": {expired}}}')
    (root / "dead" / f"{dead.id}.1.task").write_bytes(_layout_2_task(dead, "gave up"))
    backend = omniq.load_backend("file", base_dir=str(tmp_path))
    queue: TaskQueueStorage = backend.task_queue()
    try:
        await queue.connect()
        assert _read(tmp_path / LAYOUT_FILE) == f"{LAYOUT}\n"  # an older omniq-file refuses it now
        infos = {t.id: await queue.get(t.id) for t in (waiting, running, dead)}
        counts = {i.task.id: (i.attempt, i.deliveries) for i in infos.values() if i is not None}
        assert counts == {waiting.id: (2, 2), running.id: (3, 3), dead.id: (1, 1)}
        (recovered,) = await queue.recover_expired()
        assert (recovered.task_id, recovered.delivery, recovered.dead) == (running.id, 3, False)
        assert await queue.requeue_dead("legacy") == 1
        claimed = await queue.claim(["legacy"], limit=3, lease_seconds=30, worker_id="w")
        leases = {c.task.id: (c.lease.attempt, c.lease.delivery) for c in claimed}
        # the attempt of the expired run was given back; the requeued one starts again at 1
        assert leases == {waiting.id: (3, 3), running.id: (3, 4), dead.id: (1, 2)}
        assert await queue.ack([c.lease for c in claimed]) == [True, True, True]
    finally:
        await backend.close()


async def test_a_lease_expiry_is_its_file_time_and_a_layout_2_lease_is_converted(
    storages: tuple[Any, Any], tmp_path: Path
) -> None:
    """Extending rewrote the lease file by temp + rename, which ext4 flushes to disk when the
    rename replaces a name (400 µs); it now sets the file's time."""
    queue, _ = storages
    task = Task(func="m:f")
    await queue.enqueue(task)
    (claimed,) = await queue.claim(["default"], limit=1, lease_seconds=30, worker_id="w")
    (lease_file,) = (tmp_path / "queues/default/active").glob("*.lease")
    expires_us = int(claimed.lease.expires_at.timestamp() * 1_000_000)
    assert abs(lease_file.stat().st_mtime_ns // 1000 - expires_us) <= 1
    assert orjson.loads(lease_file.read_bytes()) == {"worker": "w"}
    info = await queue.get(task.id)
    assert info is not None and info.lease_expires_at == claimed.lease.expires_at
    # a lease as layout 2 wrote it: the expiry in the content wins over the file's time
    lease_file.write_text('{"expires": 1, "worker": "w"}')
    # 1 s, not less: a busy machine (CI) took more than 50 ms from here to the next line
    (renewed,) = await queue.extend([claimed.lease], 1.0)
    assert renewed is not None and orjson.loads(lease_file.read_bytes()) == {"worker": "w"}
    assert await queue.recover_expired() == []  # not before its new expiry
    await asyncio.sleep(1.1)
    (recovered,) = await queue.recover_expired()
    assert (recovered.task_id, recovered.delivery) == (task.id, 1)
