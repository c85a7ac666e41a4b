"""The SQLite event storage: an indexed table, queried by task, type, queue and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from omniq.models.event import EventQuery, TaskEvent
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, EventStorage

from omniq_sqlite.base import SQLiteStorageMixin
from omniq_sqlite.rows import micros

__all__ = ["INSERT_EVENT", "SQLiteEventStorage", "event_row"]

INSERT_EVENT = (
    "INSERT OR IGNORE INTO omniq_events (id, task_id, event_type, queue, ts, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def event_row(event: TaskEvent) -> tuple[Any, ...]:
    """The values :data:`INSERT_EVENT` takes for ``event``."""
    return (
        event.id,
        event.task_id,
        event.event_type.value,
        event.queue,
        micros(event.timestamp),
        dumps_record(event),
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
            conn.executemany(INSERT_EVENT, rows)

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
        sql = f"SELECT data FROM omniq_events {clause} ORDER BY ts, id LIMIT ?"
        rows = self.db.connection().execute(sql, (*params, query.limit)).fetchall()
        return [loads_record(bytes(row[0]), TaskEvent) for row in rows]

    async def purge(self, before: datetime) -> int:
        return await self.db.run(self._purge, micros(before))

    def _purge(self, before_us: int) -> int:
        sql = "DELETE FROM omniq_events WHERE ts < ?"
        return int(self.db.connection().execute(sql, (before_us,)).rowcount)
