"""The PostgreSQL event storage: an indexed table (by task and time, by time, by type), queried
with SQL, followed live through NOTIFY (with a poll as the safety net).

An event is stored as columns, its ``details`` as JSON text (NULL when empty). A row that cannot
be decoded (damaged, or written by hand) is left out of queries and follows with a warning
naming it. Purging deletes the rows older than its bound, then those past ``max_events`` (the
newest kept, found by ``OFFSET`` down the ``(ts, id)`` index), oldest first in batches, each its
own short transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs
import orjson
from omniq.logging import get_logger
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.unchecked import unchecked_event
from omniq.storage import Capability, EventStorage

from omniq_postgres.database import PostgresStorageMixin
from omniq_postgres.rows import CorruptRowError, utc

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_UNNEST",
    "PostgresEventStorage",
    "event_arrays",
    "event_from_row",
    "event_row",
]

log = get_logger(__name__)

PURGE_BATCH = 5000
EVENT_COLUMNS = "id, task_id, event_type, queue, ts, worker_id, attempt, details"
EVENT_UNNEST = (
    "unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], "
    "%s::int[], %s::text[]) AS e(" + EVENT_COLUMNS + ")"
)
"""Rows of :data:`EVENT_COLUMNS` from the 8 arrays of :func:`event_arrays`."""

_INSERT = (
    f"WITH ev AS (INSERT INTO omniq_events ({EVENT_COLUMNS}) SELECT e.* FROM {EVENT_UNNEST} "
    "ON CONFLICT (id) DO NOTHING RETURNING 1) "
    "SELECT pg_notify(%s, 'e') WHERE EXISTS (SELECT 1 FROM ev)"
)
_PURGE = (
    "DELETE FROM omniq_events WHERE id IN (SELECT id FROM omniq_events WHERE ts < %s "
    "ORDER BY ts, id LIMIT %s)"
)
_LAST_OVER = "SELECT ts, id FROM omniq_events ORDER BY ts DESC, id DESC OFFSET %s LIMIT 1"
"""The newest event past ``max_events``: the index read backwards, no row of the table."""
_TRIM = (
    "DELETE FROM omniq_events WHERE id IN (SELECT id FROM omniq_events "
    "WHERE (ts, id) <= (%s::timestamptz, %s::text) ORDER BY ts, id LIMIT %s)"
)
_EVENT_TYPES = {kind.value: kind for kind in EventType}


def event_arrays(events: Sequence[TaskEvent]) -> list[list[Any]]:
    """The 8 column arrays of :data:`EVENT_UNNEST` for ``events``."""
    columns: list[list[Any]] = [[] for _ in range(8)]
    ids, task_ids, kinds, queues, stamps, workers, attempts, details = columns
    for event in events:
        ids.append(event.id)
        task_ids.append(event.task_id)
        kinds.append(event.event_type.value)
        queues.append(event.queue)
        stamps.append(event.timestamp)
        workers.append(event.worker_id)
        attempts.append(event.attempt)
        details.append(
            orjson.dumps(event.details, option=orjson.OPT_NON_STR_KEYS).decode()
            if event.details
            else None
        )
    return columns


def event_row(event: TaskEvent) -> tuple[Any, ...]:
    """The 8 values of :data:`EVENT_COLUMNS` for ``event``."""
    return (
        event.id, event.task_id, event.event_type.value, event.queue, event.timestamp,
        event.worker_id, event.attempt,
        orjson.dumps(event.details, option=orjson.OPT_NON_STR_KEYS).decode()
        if event.details
        else None,
    )  # fmt: skip


def event_from_row(row: Any) -> TaskEvent:
    """The event in a row of :data:`EVENT_COLUMNS`; :class:`CorruptRowError` if it cannot be
    decoded."""
    kind = _EVENT_TYPES.get(row[2])
    if kind is None:
        raise CorruptRowError(f"unknown event type {row[2]!r:.40}")
    try:
        details = {} if row[7] is None else orjson.loads(row[7])
    except orjson.JSONDecodeError as exc:
        raise CorruptRowError(f"column details is not JSON: {exc}") from exc
    if type(details) is not dict:
        raise CorruptRowError("column details does not hold a JSON object")
    return unchecked_event(
        kind,
        row[1],
        queue=row[3],
        timestamp=utc(row[4]),
        id=row[0],
        worker_id=row[5],
        attempt=row[6],
        details=details,
    )


def _decoded(rows: list[Any]) -> list[TaskEvent]:
    events: list[TaskEvent] = []
    for row in rows:
        try:
            events.append(event_from_row(row))
        except CorruptRowError as exc:
            log.warning(
                "skipped an event that cannot be decoded",
                event_id=str(row[0]),
                task_id=str(row[1]),
                error=str(exc),
            )
    return events


class PostgresEventStorage(PostgresStorageMixin, EventStorage):
    role = "event_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.EVENT_SUBSCRIBE}
    )

    async def append(self, event: TaskEvent) -> None:
        await self.append_many((event,))

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        if events:
            await self.db.fetchall(_INSERT, (*event_arrays(events), self.db.channel))
            self.db.waiters.wake("e")

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        where: list[str] = []
        params: list[Any] = []
        if query.task_id is not None:
            where.append("task_id = %s")
            params.append(query.task_id)
        if query.event_types is not None:
            where.append("event_type = ANY(%s::text[])")
            params.append(sorted(t.value for t in query.event_types))
        if query.queue is not None:
            where.append("queue = %s")
            params.append(query.queue)
        if query.since is not None:
            where.append("ts >= %s")
            params.append(query.since)
        if query.until is not None:
            where.append("ts < %s")
            params.append(query.until)
        if query.after_id is not None:
            where.append("id > %s")
            params.append(query.after_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM omniq_events {clause} ORDER BY ts, id LIMIT %s OFFSET %s"
        )
        events: list[TaskEvent] = []
        offset = 0
        while True:  # rows left out as undecodable are made up for, so that limit still holds
            wanted = query.limit - len(events)
            rows = await self.db.fetchall(sql, (*params, wanted, offset))
            events.extend(_decoded(rows))
            offset += len(rows)
            if len(rows) < wanted or len(events) >= query.limit:
                return events

    async def subscribe(self, query: EventQuery) -> AsyncIterator[TaskEvent]:
        """Events as they are appended: woken by NOTIFY, and looking again every
        ``poll_interval`` in case a notification was lost."""
        db = self.db
        db.ensure_listening()
        cursor = query.after_id
        if cursor is None:
            row = await db.fetchone("SELECT max(id) FROM omniq_events")
            cursor = "" if row is None or row[0] is None else str(row[0])
        while True:
            future = db.waiters.register(("e",))
            try:
                batch = await self.query(attrs.evolve(query, after_id=cursor, limit=1000))
                for event in sorted(batch, key=lambda e: e.id):
                    cursor = max(cursor, event.id)
                    yield event
                if not batch:
                    await db.waiters.wait(future, db.options.poll_interval)
            finally:
                db.waiters.unregister(("e",), future)

    async def purge(self, before: datetime) -> int:
        """Delete the events older than ``before``, then the oldest past ``max_events``."""
        total = await self._delete_in_batches(_PURGE, (before,))
        over = await self.db.fetchone(_LAST_OVER, (self.db.options.max_events,))
        if over is not None:
            total += await self._delete_in_batches(_TRIM, (over[0], over[1]))
        return total

    async def _delete_in_batches(self, sql: str, bound: tuple[Any, ...]) -> int:
        total = 0
        while True:
            count = await self.db.rowcount(sql, (*bound, PURGE_BATCH))
            total += count
            if count < PURGE_BATCH:
                return total
