"""The SQLite event storage: an indexed table, queried by task, type, queue and time.

An event is stored as columns, its ``details`` as JSON (NULL when empty): no second copy of
the event in a blob, so a row is about a third the size and costs no record serialization.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import orjson
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.unchecked import unchecked_event
from omniq.storage import Capability, EventStorage

from omniq_sqlite.base import SQLiteStorageMixin
from omniq_sqlite.inserts import insert_many
from omniq_sqlite.rows import from_micros, micros

__all__ = ["INSERT_EVENT", "SQLiteEventStorage", "event_from_row", "event_row"]

EVENT_COLUMNS = "id, task_id, event_type, queue, ts, worker_id, attempt, details"
INSERT_EVENT = (
    f"INSERT OR IGNORE INTO omniq_events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def event_row(event: TaskEvent) -> tuple[Any, ...]:
    """The values :data:`INSERT_EVENT` takes for ``event``."""
    return (
        event.id,
        event.task_id,
        event.event_type.value,
        event.queue,
        micros(event.timestamp),
        event.worker_id,
        event.attempt,
        orjson.dumps(event.details, option=orjson.OPT_NON_STR_KEYS).decode()
        if event.details
        else None,
    )


def event_from_row(row: Any) -> TaskEvent:
    """The event in a row of :data:`EVENT_COLUMNS` (stored by this backend: not re-checked)."""
    details = row[7]
    return unchecked_event(
        EventType(row[2]),
        row[1],
        queue=row[3],
        timestamp=from_micros(row[4]),
        id=row[0],
        worker_id=row[5],
        attempt=row[6],
        details={} if details is None else orjson.loads(details),
    )


class SQLiteEventStorage(SQLiteStorageMixin, EventStorage):
    role = "event_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )
    subscribe_poll_interval = 0.05

    async def append(self, event: TaskEvent) -> None:
        await self.append_many((event,))

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        if events:
            rows = [event_row(e) for e in events]  # made here: the database thread only writes
            await self.db.run_rows(len(rows), self._insert, rows)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        with self.db.write() as conn:
            insert_many(conn, INSERT_EVENT, rows)

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        return await self.db.run(self._query, query)

    def _query(self, query: EventQuery) -> list[TaskEvent]:
        where: list[str] = []
        params: list[Any] = []
        if query.task_id is not None:
            where.append("task_id = ?")
            params.append(query.task_id)
        if query.event_types is not None:
            kinds = sorted(t.value for t in query.event_types)
            where.append(f"event_type IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if query.queue is not None:
            where.append("queue = ?")
            params.append(query.queue)
        if query.since is not None:
            where.append("ts >= ?")
            params.append(micros(query.since))
        if query.until is not None:
            where.append("ts < ?")
            params.append(micros(query.until))
        if query.after_id is not None:
            where.append("id > ?")
            params.append(query.after_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {EVENT_COLUMNS} FROM omniq_events {clause} ORDER BY ts, id LIMIT ?"
        rows = self.db.connection().execute(sql, (*params, query.limit)).fetchall()
        return [event_from_row(row) for row in rows]

    async def purge(self, before: datetime) -> int:
        return await self.db.run(self._purge, micros(before))

    def _purge(self, before_us: int) -> int:
        sql = "DELETE FROM omniq_events WHERE ts < ?"
        return int(self.db.connection().execute(sql, (before_us,)).rowcount)
