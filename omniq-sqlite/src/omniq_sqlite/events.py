"""The SQLite event storage: an indexed table, queried by task, type, queue and time.

An event is stored as columns, its ``details`` as JSON (NULL when empty): no second copy of
the event in a blob, so a row is about a third the size and costs no record serialization.

A row that cannot be decoded (damaged, or written by hand) is left out of queries and follows
with a warning naming it, so one bad row never stops anyone from reading the others. Purging
deletes the rows older than its bound, then those past ``max_events`` (the newest kept, found
by ``OFFSET`` down the ``(ts, id)`` index), in batches, each its own short write, so workers
are not held up behind a purge of millions of rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

import orjson
from omniq.logging import get_logger
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.unchecked import unchecked_event
from omniq.storage import Capability, EventStorage

from omniq_sqlite.base import SQLiteStorageMixin
from omniq_sqlite.inserts import insert_many
from omniq_sqlite.rows import CorruptRowError, from_micros, micros

__all__ = ["INSERT_EVENT", "SQLiteEventStorage", "event_from_row", "event_row"]

log = get_logger(__name__)

PURGE_BATCH = 5000
"""Events deleted per write transaction by :meth:`SQLiteEventStorage.purge`."""

PURGE = (
    "DELETE FROM omniq_events WHERE id IN (SELECT id FROM omniq_events WHERE ts < ? "
    "ORDER BY ts, id LIMIT ?)"
)
"""One batch of :meth:`SQLiteEventStorage.purge`: the oldest events, by the time index."""

LAST_OVER = "SELECT ts, id FROM omniq_events ORDER BY ts DESC, id DESC LIMIT 1 OFFSET ?"
"""The newest event past ``max_events``: the covering time index read backwards."""

TRIM = (
    "DELETE FROM omniq_events WHERE id IN (SELECT id FROM omniq_events WHERE (ts, id) <= (?, ?) "
    "ORDER BY ts, id LIMIT ?)"
)
"""One batch of the count trim: the oldest events up to the newest past ``max_events``."""

_EVENT_TYPES = {kind.value: kind for kind in EventType}
_TEXT = (str,)
_OPTIONAL_TEXT = (str, type(None))
_ROW_TYPES = (
    ("id", _TEXT),
    ("task_id", _TEXT),
    ("event_type", _TEXT),
    ("queue", _OPTIONAL_TEXT),
    ("ts", (int,)),
    ("worker_id", _OPTIONAL_TEXT),
    ("attempt", (int, type(None))),
    ("details", _OPTIONAL_TEXT),
)

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
    """The event in a row of :data:`EVENT_COLUMNS` (stored by this backend: only the types
    are checked); :class:`~omniq_sqlite.rows.CorruptRowError` if it cannot be decoded."""
    for position, (name, allowed) in enumerate(_ROW_TYPES):
        if type(row[position]) not in allowed:
            value = row[position]
            raise CorruptRowError(f"column {name} holds {type(value).__name__} {value!r:.40}")
    kind = _EVENT_TYPES.get(row[2])
    if kind is None:
        raise CorruptRowError(f"unknown event type {row[2]!r:.40}")
    try:
        details = {} if row[7] is None else orjson.loads(row[7])
        timestamp = from_micros(row[4])
    except (orjson.JSONDecodeError, OverflowError) as exc:
        raise CorruptRowError(str(exc)) from exc
    if type(details) is not dict:
        raise CorruptRowError("column details does not hold a JSON object")
    return unchecked_event(
        kind,
        row[1],
        queue=row[3],
        timestamp=timestamp,
        id=row[0],
        worker_id=row[5],
        attempt=row[6],
        details=details,
    )


def _decoded(rows: list[Any]) -> list[TaskEvent]:
    """The events of ``rows``, leaving out (with a warning) those that cannot be decoded."""
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

    def _query(self, query: EventQuery, order: str = "ts, id") -> list[TaskEvent]:
        clause, params = _where(query)
        sql = f"SELECT {EVENT_COLUMNS} FROM omniq_events {clause} ORDER BY {order} LIMIT ? OFFSET ?"
        connection = self.db.connection()
        events: list[TaskEvent] = []
        offset = 0
        while True:  # rows left out as undecodable are made up for, so that limit still holds
            wanted = query.limit - len(events)
            rows = connection.execute(sql, (*params, wanted, offset)).fetchall()
            events.extend(_decoded(rows))
            offset += len(rows)
            if len(rows) < wanted or len(events) >= query.limit:
                return events

    # -- EventInsights (the dashboard's reads, from the same indexes) ----------------------------

    async def query_latest(
        self, query: EventQuery, *, func: str | None = None, scan: int = 10_000, offset: int = 0
    ) -> list[TaskEvent]:
        """Matching events newest first: the ``(ts, id)``, type or task index read backwards;
        the function is compared in SQL on at most ``scan`` rows (nothing else decoded)."""
        return await self.db.run(self._latest, query, func, scan, offset)

    def _latest(
        self, query: EventQuery, func: str | None, scan: int, offset: int
    ) -> list[TaskEvent]:
        clause, params = _where(query)
        newest = f"SELECT {EVENT_COLUMNS} FROM omniq_events {clause} ORDER BY ts DESC, id DESC"
        if func is None:
            sql, args = f"{newest} LIMIT ? OFFSET ?", [*params, query.limit, offset]
        else:
            sql = (
                f"SELECT * FROM ({newest} LIMIT ?) WHERE json_valid(details) "
                "AND json_extract(details, '$.func') = ? LIMIT ? OFFSET ?"
            )
            args = [*params, scan, func, query.limit, offset]
        return _decoded(self.db.connection().execute(sql, args).fetchall())

    async def count_events(
        self,
        event_types: Collection[EventType],
        *,
        since: datetime,
        until: datetime,
        bucket_seconds: int,
        queue: str | None = None,
    ) -> dict[tuple[int, EventType], int]:
        """Counts per bucket and type, from the ``(event_type, ts)`` index (covering unless a
        queue is given)."""
        query = EventQuery(event_types=event_types, queue=queue, since=since, until=until)
        return await self.db.run(self._count, query, bucket_seconds)

    def _count(self, query: EventQuery, bucket_seconds: int) -> dict[tuple[int, EventType], int]:
        clause, params = _where(query)
        width = max(int(bucket_seconds), 1) * 1_000_000
        sql = (
            f"SELECT (ts / {width}) * {width // 1_000_000} AS bucket, event_type, count(*) "
            f"FROM omniq_events {clause} GROUP BY bucket, event_type"
        )
        counts: dict[tuple[int, EventType], int] = {}
        for bucket, kind, count in self.db.connection().execute(sql, params):
            known = _EVENT_TYPES.get(kind)
            if known is not None and isinstance(bucket, int):
                counts[(bucket, known)] = int(count)
        return counts

    async def purge(self, before: datetime) -> int:
        return await self.db.run(self._purge, micros(before))

    def _purge(self, before_us: int) -> int:
        """Delete the events older than ``before_us``, then the oldest past ``max_events``:
        oldest first through the ``(ts, id)`` index, :data:`PURGE_BATCH` rows per write, so that
        other writers get the lock between batches."""
        deleted = self.db.delete_in_batches(PURGE, (before_us,), PURGE_BATCH)
        over = self.db.connection().execute(LAST_OVER, (self.db.options.max_events,)).fetchone()
        if over is not None:
            deleted += self.db.delete_in_batches(TRIM, tuple(over), PURGE_BATCH)
        return deleted


def _where(query: EventQuery) -> tuple[str, list[Any]]:
    """The WHERE clause of ``query`` (without its limit) and its parameters."""
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
    return (f"WHERE {' AND '.join(where)}" if where else ""), params
