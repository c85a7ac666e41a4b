"""Large batches of tasks (and their ``enqueued`` events) by binary ``COPY``.

A batch is copied into temporary staging tables of the connection (``ON COMMIT DELETE ROWS``:
emptied by the commit, never logged), then one statement moves it into the queue with the
same rules as a single enqueue (``ON CONFLICT (id) DO NOTHING``, ``ready_at`` on the server's
clock, an event only for a task added) and announces it: one NOTIFY per queue (which
announces the events too). Everything is one transaction. Binary COPY spares the text arrays of
``unnest`` their formatting and parsing (payloads as hex, times as text): a batch of 1,000
tasks with their events took 80 ms of the storage's time that way and 52 ms this way
(measured, same run).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from omniq.models.event import TaskEvent
from omniq.models.task import Task

from omniq_postgres.database import Connection
from omniq_postgres.events import EVENT_COLUMNS, event_row
from omniq_postgres.rows import TASK_COLUMNS, task_row
from omniq_postgres.sync_calls import SyncConnection

__all__ = ["COPY_FROM", "add_staged", "add_staged_sync"]

COPY_FROM = 50
"""Batches of at least this many tasks go by COPY; smaller ones by one ``unnest`` statement
(fewer round trips)."""

_TASK_TYPES = (
    "text", "text", "int4", "timestamptz", "timestamptz", "text", "bytea", "text", "int4",
    "float8", "float8", "float8", "text",
)  # fmt: skip
_EVENT_TYPES = ("text", "text", "text", "text", "timestamptz", "text", "int4", "text")
_STAGES = (
    b"CREATE TEMP TABLE IF NOT EXISTS omniq_stage_tasks (id text, queue text, priority int4, "
    b"eta timestamptz, enqueued_at timestamptz, func text, payload bytea, serializer text, "
    b"max_retries int4, retry_backoff float8, timeout float8, result_ttl float8, headers text) "
    b"ON COMMIT DELETE ROWS; "
    b"CREATE TEMP TABLE IF NOT EXISTS omniq_stage_events (id text, task_id text, "
    b"event_type text, queue text, ts timestamptz, worker_id text, attempt int4, details text) "
    b"ON COMMIT DELETE ROWS"
)
_COPY_TASKS = f"COPY omniq_stage_tasks ({TASK_COLUMNS}) FROM STDIN (FORMAT BINARY)".encode()
_COPY_EVENTS = f"COPY omniq_stage_events ({EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)".encode()
_READY_AT = "CASE WHEN u.eta = u.enqueued_at THEN least(u.eta, now()) ELSE u.eta END"
_MOVE = (
    f"WITH ins AS (INSERT INTO omniq_tasks ({TASK_COLUMNS}, ready_at, state) "
    f"SELECT u.*, {_READY_AT}, 'pending' FROM omniq_stage_tasks u "
    "ON CONFLICT (id) DO NOTHING RETURNING id, queue){events} "
    "SELECT (SELECT count(*) FROM ins), "
    "(SELECT count(pg_notify(%s, 'q ' || queue)) FROM (SELECT DISTINCT queue FROM ins) added)"
    "{notify_events}"
)
_MOVE_TASKS = _MOVE.format(events="", notify_events="").encode()
_MOVE_WITH_EVENTS = _MOVE.format(
    events=f", ev AS (INSERT INTO omniq_events ({EVENT_COLUMNS}) SELECT e.* FROM "
    "omniq_stage_events e WHERE e.task_id IN (SELECT id FROM ins) ON CONFLICT (id) DO NOTHING)",
    notify_events="",  # a queue's notification announces its enqueued events too
).encode()

_staged: weakref.WeakSet[Any] = weakref.WeakSet()
"""Connections whose session has the staging tables."""


def _move(events: Sequence[TaskEvent] | None, channel: str) -> tuple[bytes, tuple[str, ...]]:
    return (_MOVE_TASKS if events is None else _MOVE_WITH_EVENTS), (channel,)


async def add_staged(
    conn: Connection, tasks: Sequence[Task], events: Sequence[TaskEvent] | None, channel: str
) -> int:
    """Add ``tasks`` (ids distinct) and the events of those added; how many were added."""
    fresh = conn not in _staged
    async with conn.transaction():
        cursor = conn.cursor()
        if fresh:
            await cursor.execute(_STAGES, prepare=False)
        async with cursor.copy(_COPY_TASKS) as copy:
            copy.set_types(_TASK_TYPES)
            for task in tasks:
                await copy.write_row(task_row(task))
        if events is not None:
            async with cursor.copy(_COPY_EVENTS) as copy:
                copy.set_types(_EVENT_TYPES)
                for event in events:
                    await copy.write_row(event_row(event))
        row = await (await cursor.execute(*_move(events, channel))).fetchone()
    if fresh:
        _staged.add(conn)
    return 0 if row is None else int(row[0])


def add_staged_sync(
    conn: SyncConnection, tasks: Sequence[Task], events: Sequence[TaskEvent] | None, channel: str
) -> int:
    """:func:`add_staged` on a synchronous connection."""
    fresh = conn not in _staged
    with conn.transaction():
        cursor = conn.cursor()
        if fresh:
            cursor.execute(_STAGES, prepare=False)
        with cursor.copy(_COPY_TASKS) as copy:
            copy.set_types(_TASK_TYPES)
            for task in tasks:
                copy.write_row(task_row(task))
        if events is not None:
            with cursor.copy(_COPY_EVENTS) as copy:
                copy.set_types(_EVENT_TYPES)
                for event in events:
                    copy.write_row(event_row(event))
        row = cursor.execute(*_move(events, channel)).fetchone()
    if fresh:
        _staged.add(conn)
    return 0 if row is None else int(row[0])
