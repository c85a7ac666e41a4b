"""Poison records are quarantined: with one task record and one event record of the store
damaged in place (SQLite: a pending row's ``headers`` not JSON and another's priority not a
number; Redis: a task hash whose data is garbage; file: a task file of garbage; PostgreSQL: a
pending row's ``headers`` not JSON; NATS: a task's KV state record of garbage; and one event
of each), a worker process completes every other task, the damaged tasks end in the dead
letters as "corrupt record", and reading events skips the damaged one instead of raising."""

from __future__ import annotations

import asyncio
import importlib
import json
import sqlite3
import time
from collections.abc import Callable, Coroutine
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from omniq import OmniQ
from omniq.errors import OmniQError
from omniq.models.config import DEFAULT_WORKERS
from omniq.models.event import EventType, TaskEvent
from omniq.models.result import ResultStatus
from omniq.models.task import CORRUPT_RECORD
from omniq.testing.processes import TASK_MODULE, WorkerProcess

pytestmark = pytest.mark.chaos

GOOD = 50
GARBAGE = "{not json"


def _run(oq: OmniQ, coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, oq.loop).result(timeout=30)


def _damage(env: dict[str, str], tasks: list[str], event_id: str) -> None:
    """Overwrite the stored records of ``tasks`` and of event ``event_id`` with garbage."""
    kind = env["OMNIQ_TASK_QUEUE_TYPE"]
    if kind == "sqlite":
        path = env["OMNIQ_TASK_QUEUE_URL"].removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("UPDATE omniq_tasks SET headers = ? WHERE id = ?", (GARBAGE, tasks[0]))
            db.execute("UPDATE omniq_tasks SET priority = 'high' WHERE id = ?", (tasks[1],))
            db.execute("UPDATE omniq_events SET details = ? WHERE id = ?", (GARBAGE, event_id))
            assert db.total_changes == 3
    elif kind == "file":
        base = Path(json.loads(env["OMNIQ_TASK_QUEUE_OPTIONS"])["base_dir"])
        (task_file,) = base.glob(f"queues/default/pending/*-{tasks[0]}.*.task")
        task_file.write_text(GARBAGE)
        # the batch file the event was appended in, alone, whatever the layout names it
        (batch,) = [
            path
            for path in base.glob("events/hours/*/*")
            if path.suffix in (".events", ".batch") and event_id.encode() in path.read_bytes()
        ]
        batch.write_text(GARBAGE)
    elif kind == "redis":
        import redis

        client = redis.Redis.from_url(env["OMNIQ_TASK_QUEUE_URL"])
        try:
            assert client.hset("{omniq:q:default}:t:" + tasks[0], "data", GARBAGE) == 0
            assert client.hset("{omniq:events}:data", event_id, GARBAGE) == 0
        finally:
            client.close()
    elif kind == "postgres":
        import psycopg

        schema = json.loads(env["OMNIQ_TASK_QUEUE_OPTIONS"])["schema"]
        with psycopg.connect(env["OMNIQ_TASK_QUEUE_URL"], autocommit=True) as db:
            changed = db.execute(
                f"UPDATE {schema}.omniq_tasks SET headers = %s WHERE id = %s", (GARBAGE, tasks[0])
            ).rowcount
            changed += db.execute(
                f"UPDATE {schema}.omniq_events SET details = %s WHERE id = %s", (GARBAGE, event_id)
            ).rowcount
            assert changed == 2
    elif kind == "nats":
        asyncio.run(_damage_nats(env["OMNIQ_TASK_QUEUE_URL"], tasks[0], event_id))
    else:
        raise AssertionError(f"no way to damage records of {kind!r}")


async def _damage_nats(url: str, task_id: str, event_id: str) -> None:
    """The task's KV state record overwritten; the event's message (JetStream messages are
    immutable) deleted and garbage published on its subject in its place."""
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        kv = await js.key_value("omniq_tasks")
        await kv.put(f"t.{task_id}", GARBAGE.encode())
        sub = await js.pull_subscribe("omniq.events.>", stream="omniq_EVENTS")
        found = None
        while found is None:
            for msg in await sub.fetch(100, timeout=5):
                if event_id.encode() in msg.data:
                    found = msg
        await js.delete_msg("omniq_EVENTS", found.metadata.sequence.stream)
        await js.publish(found.subject, GARBAGE.encode())
    finally:
        await nc.close()


def _attempt(read: Callable[[], list[TaskEvent]]) -> list[TaskEvent] | Exception:
    try:
        return read()
    except Exception as exc:
        return exc


def _inspect(oq: OmniQ, task_id: str) -> str:
    """What reading a damaged task says: its state and reason, or the error (naming the fix)
    that a backend which cannot decode the kept record raises."""
    try:
        info = oq.get_task(task_id)
    except OmniQError as exc:
        return f"unreadable: {exc}"
    return "gone" if info is None else f"{info.state.value}: {info.last_error}"


def _summary(found: list[TaskEvent] | Exception) -> str:
    return f"{len(found)} events" if isinstance(found, list) else f"raised {found!r:.120}"


@pytest.mark.timeout(150)
def test_one_corrupt_task_and_one_corrupt_event_stop_nothing(
    backend: str, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    tasks = importlib.import_module(TASK_MODULE)
    worker: WorkerProcess | None = None
    with OmniQ(workers=0) as oq:
        damaged = [oq.enqueue(tasks.record, -1 - n) for n in range(2 if backend == "sqlite" else 1)]
        good = oq.enqueue_many([(tasks.record, (n,)) for n in range(GOOD)])
        marked = TaskEvent(
            event_type=EventType.ENQUEUED, task_id=good[0], details={"chaos": "damaged below"}
        )
        _run(oq, oq.stores.events.append(marked))
        _damage(chaos_env, damaged, marked.id)
        try:
            worker = WorkerProcess(chaos_env, cwd=tmp_path, concurrency=DEFAULT_WORKERS)
            deadline = time.monotonic() + 60
            while True:
                done = [i for i in good if oq.get_task_result(i) is not None]
                dead = oq.queue_sizes(["default"])["default"].dead
                if (len(done) == GOOD and dead >= len(damaged)) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert worker.stop() == 0
            told = worker.output()
        finally:
            if worker is not None:
                worker.close()
        results = {i: oq.get_task_result(i) for i in good}
        succeeded = [i for i, r in results.items() if r and r.status is ResultStatus.SUCCESS]
        values = [oq.get_result(i, timeout=0) for i in succeeded]
        events = _attempt(lambda: oq.get_events(good[0]))
        everything = _attempt(lambda: oq.query_events(limit=10_000))
        kept = [_inspect(oq, i) for i in damaged]
    logged = [i for i in damaged if i in told and CORRUPT_RECORD in told]
    figures = (
        f"{backend}: {len(succeeded)} of {GOOD} good tasks succeeded; {dead} dead letters, "
        f"{len(damaged)} damaged tasks read as {kept}, {len(logged)} logged as {CORRUPT_RECORD!r}; "
        f"get_events -> {_summary(events)}; "
        f"query_events -> {_summary(everything)}"
    )
    print(figures)
    assert values == list(range(GOOD)), figures
    assert isinstance(events, list) and isinstance(everything, list), figures
    assert marked.id not in {e.id for e in events}
    assert EventType.COMPLETED in {e.event_type for e in events}
    assert marked.id not in {e.id for e in everything}
    assert {e.task_id for e in everything if e.event_type is EventType.COMPLETED} == set(good)
    # in the dead letters (and no good task with them), kept for inspection, the reason told
    assert dead == len(damaged), figures
    assert all(k.startswith(("unreadable", f"dead: {CORRUPT_RECORD}")) for k in kept), figures
    assert logged == damaged, figures
