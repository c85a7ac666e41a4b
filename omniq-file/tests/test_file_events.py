"""File events: an undecodable event is skipped with a warning and the rest go on; a purge
drops batches by their names and reads only the one that spans its moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import omniq
import orjson
import pytest
import structlog
from omniq.models import EventType, TaskEvent
from omniq.models.event import EventQuery
from structlog.testing import capture_logs


@pytest.fixture(autouse=True)
def unconfigured_structlog() -> Iterator[None]:
    """capture_logs leaves structlog marked as configured: put it back as it was."""
    was_configured = structlog.is_configured()
    yield
    if not was_configured:
        structlog.reset_defaults()


@pytest.fixture
async def events(tmp_path: Path) -> AsyncIterator[Any]:
    backend = omniq.load_backend("file", base_dir=str(tmp_path))
    storage = backend.event_storage()
    await storage.connect()
    yield storage
    await backend.close()


def _event(task_id: str, at: datetime, kind: EventType = EventType.ENQUEUED) -> TaskEvent:
    return TaskEvent(event_type=kind, task_id=task_id, queue="default", timestamp=at)


def _batches(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "events/hours").rglob("*.events"))


async def test_an_undecodable_event_is_skipped_and_its_batch_still_read(
    events: Any, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    good = [_event("t1", now), _event("t1", now + timedelta(microseconds=5), EventType.STARTED)]
    await events.append_many(good)
    (batch,) = _batches(tmp_path)
    doc = orjson.loads(batch.read_bytes())
    doc["events"].insert(1, {**doc["events"][0], "event_type": "no-such-type", "id": "bad"})
    batch.write_bytes(orjson.dumps(doc))
    with capture_logs() as logs:
        assert await events.query(EventQuery(task_id="t1")) == good
        assert await events.query(EventQuery(since=now - timedelta(seconds=1))) == good
    warnings = [entry for entry in logs if entry["event"] == "undecodable event skipped"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"  # once, not per read
    assert warnings[0]["position"] == 1 and str(batch) == warnings[0]["path"]

    later = _event("t1", datetime.now(UTC), EventType.COMPLETED)

    async def follow() -> TaskEvent:
        async for event in events.subscribe(EventQuery(task_id="t1")):
            return event
        raise AssertionError("the subscription ended")

    following = asyncio.create_task(follow())
    await asyncio.sleep(0.3)  # subscribed, polling past the bad event
    await events.append_many([later])
    assert await asyncio.wait_for(following, 10) == later


async def test_a_batch_that_is_not_a_document_is_quarantined(events: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    await events.append_many([_event("t2", now)])
    await events.append_many([_event("t2", now, EventType.STARTED)])
    broken = _batches(tmp_path)[0]
    broken.write_bytes(b"\x00garbage")
    with capture_logs() as logs:
        assert len(await events.query(EventQuery(task_id="t2"))) == 1
    assert any(entry["event"] == "unreadable file quarantined" for entry in logs)
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


async def test_purge_drops_batches_by_name_and_reads_only_the_one_spanning_its_moment(
    events: Any, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(minute=30)
    before = now - timedelta(minutes=10)
    old_hour = now - timedelta(hours=5)
    await events.append_many([_event("a", old_hour), _event("b", old_hour)])
    await events.append_many([_event("c", before - timedelta(minutes=1))])
    spanning = [_event("d", before - timedelta(seconds=1)), _event("d", before, EventType.STARTED)]
    await events.append_many(spanning)
    await events.append_many([_event("e", before + timedelta(minutes=1))])
    by_task: dict[str, Path] = {}
    for path in _batches(tmp_path):
        by_task[orjson.loads(path.read_bytes())["events"][0]["task_id"]] = path
    assert sorted(by_task) == ["a", "c", "d", "e"]
    # the batches wholly before and wholly after are never read: garbage in them shows it
    for task in ("a", "c", "e"):
        by_task[task].write_bytes(b"not read")
    assert await events.purge(before) == 4  # a, b and c by their names, d's first by reading
    assert not (tmp_path / "quarantine").exists()
    assert not (tmp_path / "events/hours" / old_hour.strftime("%Y%m%d%H")).exists()
    assert by_task["e"].exists() and not by_task["d"].exists()
    assert await events.query(EventQuery(task_id="d")) == spanning[1:]  # rewritten, indexed
    assert await events.purge(before) == 0


async def test_purge_keeps_the_newest_max_events_reading_only_the_batch_holding_the_cut(
    tmp_path: Path,
) -> None:
    backend = omniq.load_backend("file", base_dir=str(tmp_path), max_events=3)
    storage: Any = backend.event_storage()
    await storage.connect()
    try:
        # half past an hour that is over: the events below stay in one hour's folder whenever
        # the test runs (at 18:05 the cut batch straddled 17:59-18:00 and was split in two)
        now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)
        at = [now - timedelta(minutes=10 - i) for i in range(5)]
        await storage.append_many([_event("a", now - timedelta(hours=3)), _event("a", at[0])])
        await storage.append_many([_event("b", at[1])])
        cut = [_event("c", at[2]), _event("c", at[3], EventType.STARTED)]
        await storage.append_many(cut)
        newest = [_event("d", at[3] + timedelta(seconds=30)), _event("d", at[4])]
        await storage.append_many(newest)
        by_task = {}
        for path in _batches(tmp_path):
            by_task[orjson.loads(path.read_bytes())["events"][0]["task_id"]] = path
        for task in ("a", "b"):  # dropped by their names: garbage in them shows they are unread
            by_task[task].write_bytes(b"not read")
        assert await storage.purge(now - timedelta(days=7)) == 4  # a (2), b, and c's first
        assert not (tmp_path / "quarantine").exists()
        assert not by_task["a"].exists() and not by_task["b"].exists()
        assert by_task["d"].exists() and not by_task["c"].exists()
        assert await storage.query(EventQuery()) == [cut[1], *newest]
        assert await storage.query(EventQuery(task_id="c")) == cut[1:]  # rewritten, indexed
        assert await storage.query(EventQuery(task_id="a")) == []
        assert await storage.purge(now - timedelta(days=7)) == 0
    finally:
        await backend.close()


def test_max_events_defaults_to_a_million() -> None:
    from omniq_file.options import FileOptions

    assert FileOptions().max_events == 1_000_000
