"""The SQLite result storage: one row per result, expired ones never returned.

Fencing: a row keeps the delivery of its result in a column, and a write replaces it only with
an equal or higher delivery (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``, in the write
transaction, so atomic against every other writer of the file).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from omniq._time import utcnow
from omniq.models.result import TaskResult
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ResultStorage

from omniq_sqlite.base import SQLiteStorageMixin
from omniq_sqlite.database import Database
from omniq_sqlite.inserts import insert_many
from omniq_sqlite.rows import micros

__all__ = ["SQLiteResultStorage", "result_row", "store_results", "wake_results"]


_UPSERT = (
    "INSERT INTO omniq_results (task_id, data, expires_at, delivery) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(task_id) DO UPDATE SET data = excluded.data, "
    "expires_at = excluded.expires_at, delivery = excluded.delivery "
    "WHERE excluded.delivery >= omniq_results.delivery"
)
PURGE = (
    "DELETE FROM omniq_results WHERE task_id IN (SELECT task_id FROM omniq_results "
    "WHERE expires_at <= ? LIMIT ?)"
)
"""One batch of :meth:`SQLiteResultStorage.purge_expired`, by the expiry index."""

PURGE_BATCH = 5000
"""Expired results deleted per write transaction by :meth:`SQLiteResultStorage.purge_expired`."""


def result_row(result: TaskResult) -> tuple[Any, ...]:
    """The values one row of :func:`store_results` takes for ``result``."""
    expires_at = result.expires_at
    return (
        result.task_id,
        dumps_record(result),
        None if expires_at is None else micros(expires_at),
        result.delivery,
    )


def store_results(conn: Any, rows: Sequence[tuple[Any, ...]]) -> list[bool]:
    """Write ``rows`` (of :func:`result_row`), each unless the stored result is of a higher
    delivery; in order, whether each was written. Runs inside the caller's transaction.

    The rows go through :func:`~omniq_sqlite.inserts.insert_many` (32 per statement), and the
    count of changed rows says whether all were written, as they nearly always are. If not,
    a row was written if the stored delivery is now its own (a refused one's is higher). A
    batch naming one task twice goes row by row."""
    ids = [row[0] for row in rows]
    if len(set(ids)) < len(ids):
        return [insert_many(conn, _UPSERT, (row,)) == 1 for row in rows]
    if insert_many(conn, _UPSERT, rows) == len(rows):
        return [True] * len(rows)
    stored: dict[str, int] = {}
    for offset in range(0, len(ids), 500):  # under SQLite's 999 variables
        chunk = ids[offset : offset + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT task_id, delivery FROM omniq_results WHERE task_id IN ({marks})"
        stored.update(conn.execute(sql, chunk).fetchall())
    return [stored.get(row[0]) == row[3] for row in rows]


def wake_results(db: Database, task_ids: Iterable[str]) -> None:
    """Wake this process's callers waiting for the results of ``task_ids``."""
    for task_id in task_ids:
        db.waiters.wake(f"r:{task_id}")


class SQLiteResultStorage(SQLiteStorageMixin, ResultStorage):
    role = "result_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.SYNC_PRODUCER}
    )

    async def store(self, result: TaskResult) -> bool:
        return (await self.store_many((result,)))[0]

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        if not results:
            return []
        rows = [result_row(r) for r in results]  # made here, so the database thread only writes
        stored = await self.db.run_rows(len(rows), self._store, rows)
        wake_results(self.db, [r.task_id for r, ok in zip(results, stored, strict=True) if ok])
        return stored

    def _store(self, rows: list[tuple[Any, ...]]) -> list[bool]:
        with self.db.write() as conn:
            return store_results(conn, rows)

    async def get(self, task_id: str) -> TaskResult | None:
        return await self.db.run_short(self.get_sync, task_id)

    def get_sync(self, task_id: str) -> TaskResult | None:
        row = (
            self.db.connection()
            .execute(
                "SELECT data FROM omniq_results WHERE task_id = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (task_id, micros(utcnow())),
            )
            .fetchone()
        )
        return None if row is None else loads_record(bytes(row[0]), TaskResult)

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        db = self.db
        keys = (f"r:{task_id}",)
        deadline = time.monotonic() + timeout
        while True:
            future = db.waiters.register(keys)
            try:
                version = db.data_version()
                result = await self.get(task_id)
                if result is not None:
                    return result
                while not future.done():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    await db.waiters.wait(future, min(db.options.poll_interval * 5, remaining))
                    if db.data_version() != version:
                        break
            finally:
                db.waiters.unregister(keys, future)

    async def delete(self, task_id: str) -> bool:
        return await self.db.run_short(self._delete, task_id)

    def _delete(self, task_id: str) -> bool:
        sql = "DELETE FROM omniq_results WHERE task_id = ?"
        return bool(self.db.connection().execute(sql, (task_id,)).rowcount)

    async def purge_expired(self) -> int:
        return await self.db.run(self._purge)

    def _purge(self) -> int:
        """Delete expired results through the ``expires_at`` index, :data:`PURGE_BATCH` per
        write, so that other writers get the lock between batches."""
        return self.db.delete_in_batches(PURGE, (micros(utcnow()),), PURGE_BATCH)
