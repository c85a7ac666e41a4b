"""The SQLite result storage: one row per result, expired ones never returned."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from omniq._time import utcnow
from omniq.models.result import TaskResult
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ResultStorage

from omniq_sqlite.base import SQLiteStorageMixin
from omniq_sqlite.inserts import insert_many
from omniq_sqlite.rows import micros

__all__ = ["SQLiteResultStorage"]

_UPSERT = "INSERT OR REPLACE INTO omniq_results (task_id, data, expires_at) VALUES (?, ?, ?)"


class SQLiteResultStorage(SQLiteStorageMixin, ResultStorage):
    role = "result_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.SYNC_PRODUCER}
    )

    async def store(self, result: TaskResult) -> None:
        await self.store_many((result,))

    async def store_many(self, results: Sequence[TaskResult]) -> None:
        rows = [
            (r.task_id, dumps_record(r), None if r.expires_at is None else micros(r.expires_at))
            for r in results
        ]  # made here, so the database thread only writes
        await self.db.run_rows(len(rows), self._store, rows)
        for result in results:
            self.db.waiters.wake(f"r:{result.task_id}")

    def _store(self, rows: list[tuple[Any, ...]]) -> None:
        with self.db.write() as conn:
            insert_many(conn, _UPSERT, rows)

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
        sql = "DELETE FROM omniq_results WHERE expires_at <= ?"
        return int(self.db.connection().execute(sql, (micros(utcnow()),)).rowcount)
