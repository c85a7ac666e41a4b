"""The PostgreSQL result storage: one row per result; expired ones are never returned (the
server's clock decides) and are deleted by :meth:`PostgresResultStorage.purge_expired`.

Fencing: a row keeps the delivery of its result, and a write replaces it only with an equal or
higher delivery (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``, atomic against every other
writer). A stored result is announced by NOTIFY, so :meth:`~PostgresResultStorage.wait` wakes
at once instead of polling (it still looks every ``poll_interval``, in case a notification was
lost in a reconnect).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from omniq._time import utcnow
from omniq.models.result import TaskResult
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ResultStorage

from omniq_postgres.database import PostgresStorageMixin

__all__ = ["NOTIFY_RESULTS", "PostgresResultStorage", "result_arrays", "usable"]

NOTIFY_RESULTS = (
    "(SELECT count(pg_notify(%s, 'r ' || ids)) FROM (SELECT string_agg(task_id, ' ') AS ids "
    "FROM (SELECT task_id, (row_number() OVER ()) / 50 AS chunk FROM res) numbered "
    "GROUP BY chunk) chunks)"
)
"""Announce the task ids in the CTE ``res``, 50 per notification (under its 8,000 bytes).

Ids, not the records: a waiter in another process reads the result back. A record carried in
the notification could be a stale one for a waiter of a rerun of the same task id (the old
run's notification still on its way to that process's listener when the rerun's waiter
begins), and nothing in the notification tells the two runs apart."""

_UPSERT = (
    "WITH res AS (INSERT INTO omniq_results (task_id, data, expires_at, delivery) "
    "SELECT * FROM unnest(%s::text[], %s::bytea[], %s::timestamptz[], %s::int[]) "
    "ON CONFLICT (task_id) DO UPDATE SET data = excluded.data, "
    "expires_at = excluded.expires_at, delivery = excluded.delivery "
    "WHERE excluded.delivery >= omniq_results.delivery RETURNING task_id) "
    f"SELECT task_id, {NOTIFY_RESULTS} FROM res"
)
_GET = (
    "SELECT data FROM omniq_results WHERE task_id = %s "
    "AND (expires_at IS NULL OR expires_at > now())"
)
_PURGE = (
    "DELETE FROM omniq_results WHERE task_id IN (SELECT task_id FROM omniq_results "
    "WHERE expires_at <= now() LIMIT %s)"
)
PURGE_BATCH = 5000


def result_arrays(results: Sequence[TaskResult]) -> list[list[Any]]:
    """The 4 column arrays (task id, record, expiry, delivery) for ``results``."""
    return [
        [r.task_id for r in results],
        [dumps_record(r) for r in results],
        [r.expires_at for r in results],
        [r.delivery for r in results],
    ]


def usable(offered: Any) -> TaskResult | None:
    """An offered result, unless it is not one or has expired by now (then it is read)."""
    if not isinstance(offered, TaskResult):
        return None
    if offered.expires_at is not None and offered.expires_at <= utcnow():
        return None
    return offered


class PostgresResultStorage(PostgresStorageMixin, ResultStorage):
    role = "result_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.PERSISTENT,
            Capability.MULTI_PROCESS,
            Capability.PUSH_WAKEUP,
            Capability.SYNC_PRODUCER,
        }
    )

    async def store(self, result: TaskResult) -> bool:
        return (await self.store_many((result,)))[0]

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        if not results:
            return []
        ids = [r.task_id for r in results]
        if len(set(ids)) < len(ids):  # one statement cannot update a row twice
            return [(await self.store_many((r,)))[0] for r in results]
        waiters = self.db.waiters
        began = waiters.stamp()
        rows = await self.db.fetchall(_UPSERT, (*result_arrays(results), self.db.channel))
        written = {row[0] for row in rows}
        for result in results:
            if result.task_id in written:
                waiters.offer(f"r:{result.task_id}", result, began)
        return [task_id in written for task_id in ids]

    async def get(self, task_id: str) -> TaskResult | None:
        row = await self.db.fetchone(_GET, (task_id,))
        return None if row is None else loads_record(bytes(row[0]), TaskResult)

    def get_sync(self, task_id: str) -> TaskResult | None:
        """:meth:`get` from any thread (:class:`~omniq.storage.SyncResultReader`)."""
        row = self.db.fetchone_sync(_GET, (task_id,))
        return None if row is None else loads_record(bytes(row[0]), TaskResult)

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        db = self.db
        db.ensure_listening()
        key = f"r:{task_id}"
        waiters = db.waiters
        deadline = time.monotonic() + timeout
        while True:
            ticket = waiters.ticket()
            future = waiters.register((key,))
            try:
                result = await self.get(task_id)
                remaining = deadline - time.monotonic()
                if result is not None or remaining <= 0:
                    return result
                await waiters.wait(future, min(db.options.poll_interval, remaining))
                result = usable(waiters.offered(key, ticket))
                if result is not None:  # stored by this process since this wait began
                    return result
            finally:
                waiters.unregister((key,), future)

    async def delete(self, task_id: str) -> bool:
        sql = "DELETE FROM omniq_results WHERE task_id = %s"
        return await self.db.rowcount(sql, (task_id,)) > 0

    async def purge_expired(self) -> int:
        total = 0
        while True:
            count = await self.db.rowcount(_PURGE, (PURGE_BATCH,))
            total += count
            if count < PURGE_BATCH:
                return total
