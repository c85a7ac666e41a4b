"""The SQLite task queue: one row per task; claims are one ``UPDATE ... RETURNING`` in an
immediate transaction, so processes sharing the file get disjoint tasks.

A claimed row that cannot be decoded (damaged, or written by hand) is a poison record: it is
moved to the dead letters with the reason :data:`~omniq.models.task.CORRUPT_RECORD`, kept for
inspection, and the claim goes on with the other rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from omniq._time import utcnow
from omniq.logging import get_logger
from omniq.models.completion import Completion
from omniq.models.event import TaskEvent
from omniq.models.task import (
    CORRUPT_RECORD,
    DEFAULT_MAX_DELIVERIES,
    CancelOutcome,
    ClaimedTask,
    Lease,
    QueueStats,
    RecoveredTask,
    Task,
    TaskInfo,
    TaskState,
    expired_reason,
)
from omniq.models.unchecked import unchecked_claim
from omniq.storage import Capability, EventStorage, ResultStorage, TaskQueueStorage
from omniq.storage.polling import poll_intervals

from omniq_sqlite.base import SQLiteStorageMixin
from omniq_sqlite.completions import (
    ACK,
    DEAD_LETTER,
    HELD,
    NACK,
    apply_completions,
    completion_rows,
)
from omniq_sqlite.events import INSERT_EVENT, SQLiteEventStorage, event_row
from omniq_sqlite.inserts import insert_many
from omniq_sqlite.results import SQLiteResultStorage, wake_results
from omniq_sqlite.rows import (
    TASK_COLUMNS,
    CorruptRowError,
    from_micros,
    micros,
    task_from_row,
    task_row,
)

__all__ = ["SQLiteTaskQueue"]

log = get_logger(__name__)

_INSERT = (
    f"INSERT OR IGNORE INTO omniq_tasks ({TASK_COLUMNS}, state, attempt, cancel_requested) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, 0)"
)
# A row whose eta is not an integer (damaged) is claimed too, to be set aside: it would never
# be ready otherwise (text sorts after every number in SQLite).
_CLAIM = (
    "UPDATE omniq_tasks SET state = 'active', attempt = attempt + 1, "
    "deliveries = deliveries + 1, token = lower(hex(randomblob(12))), lease_expires = ?, "
    "worker_id = ?, cancel_requested = 0 "
    "WHERE id IN (SELECT id FROM omniq_tasks WHERE queue = ? AND state = 'pending' "
    "AND (eta <= ? OR typeof(eta) != 'integer') ORDER BY priority DESC, eta, id LIMIT ?) "
    f"RETURNING {TASK_COLUMNS}, attempt, token, deliveries"
)
_QUARANTINE = (
    "UPDATE omniq_tasks SET state = 'dead', token = NULL, lease_expires = NULL, "
    "worker_id = NULL, cancel_requested = 0, last_error = ?, finished_at = ? WHERE id = ?"
)
_INFO = (
    f"SELECT {TASK_COLUMNS}, state, attempt, lease_expires, worker_id, last_error, "
    "cancel_requested, deliveries FROM omniq_tasks"
)
_ORDER = {
    TaskState.PENDING: "priority DESC, eta, id",
    TaskState.ACTIVE: "enqueued_at, id",
    TaskState.DEAD: "finished_at, id",
}


def _new_positions(conn: Any, ids: list[str]) -> list[int]:
    """The positions in ``ids`` of ids not in the queue and not earlier in ``ids`` (the queue
    is looked up in chunks under SQLite's 999 variables)."""
    taken: set[str] = set()
    for offset in range(0, len(ids), 500):
        chunk = ids[offset : offset + 500]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(f"SELECT id FROM omniq_tasks WHERE id IN ({marks})", chunk)
        taken.update(row[0] for row in rows)
    new = []
    for position, task_id in enumerate(ids):
        if task_id not in taken:
            taken.add(task_id)  # a later copy in this batch is not added either
            new.append(position)
    return new


def _ready_key(queue: str) -> str:
    """The key :meth:`SQLiteTaskQueue.wait_for_work` waits on for ``queue`` in this process."""
    return f"q:{queue}"


def _info(row: Any) -> TaskInfo:
    """The task's info; :class:`CorruptRowError` if its row cannot be decoded."""
    try:
        return TaskInfo(
            task=task_from_row(row),
            state=TaskState(row[13]),
            attempt=row[14],
            lease_expires_at=None if row[15] is None else from_micros(row[15]),
            worker_id=row[16],
            last_error=row[17],
            cancel_requested=bool(row[18]),
            deliveries=row[19],
        )
    except (ValueError, TypeError, OverflowError) as exc:  # CorruptRowError is not one
        raise CorruptRowError(str(exc)) from exc


def _corrupt_row(task_id: object, exc: CorruptRowError) -> CorruptRowError:
    return CorruptRowError(
        f"The stored row of task {task_id!r} cannot be decoded ({exc}); it is kept as it is. "
        "Inspect it with the sqlite3 shell (table omniq_tasks), then delete it or purge the "
        "dead letters."
    )


class SQLiteTaskQueue(SQLiteStorageMixin, TaskQueueStorage):
    """Also an :class:`~omniq.storage.EventOutbox` for the same backend's event storage."""

    role = "task_queue"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.SYNC_PRODUCER}
    )

    # -- producing ---------------------------------------------------------------------------

    def enqueue_sync(self, task: Task) -> bool:
        return self.db.run_short_sync(self._insert, task)

    def enqueue_many_sync(self, tasks: Sequence[Task]) -> int:
        return self.db.run_short_sync(self._insert_many, tasks)

    async def enqueue(self, task: Task) -> bool:
        return await self.db.run_short(self._insert, task)

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        return await self.db.run_rows(len(tasks), self._insert_many, tasks)

    # -- enqueueing with events (omniq.storage.EventOutbox) ------------------------------------

    def shares_events_with(self, events: EventStorage) -> bool:
        """Whether ``events`` writes to this queue's database (the same backend's)."""
        return isinstance(events, SQLiteEventStorage) and events.db is self.db

    async def enqueue_with_events(self, tasks: Sequence[Task], events: Sequence[TaskEvent]) -> int:
        rows = [event_row(e) for e in events]
        return await self.db.run_rows(len(tasks), self._insert_with_events, tasks, rows)

    def enqueue_with_events_sync(self, tasks: Sequence[Task], events: Sequence[TaskEvent]) -> int:
        rows = [event_row(e) for e in events]
        return self.db.run_short_sync(self._insert_with_events, tasks, rows)

    def _insert_with_events(self, tasks: Sequence[Task], event_rows: list[tuple[Any, ...]]) -> int:
        """Tasks and the events of those added, in one transaction. The tasks are inserted
        first; only if some ids were taken (already queued, or earlier in the batch) is the
        insert undone and redone without them, so that no event is stored for them."""
        if not tasks:
            return 0
        task_rows = [task_row(t) for t in tasks]
        with self.db.write() as conn:
            # Usually every task is new: insert them and see. If some were not, take the batch
            # back and leave out the ids already queued (or earlier in the batch) and their events.
            conn.execute("SAVEPOINT omniq_batch")
            if insert_many(conn, _INSERT, task_rows) < len(tasks):
                conn.execute("ROLLBACK TO omniq_batch")
                new = _new_positions(conn, [t.id for t in tasks])
                task_rows = [task_rows[i] for i in new]
                event_rows = [event_rows[i] for i in new]
                tasks = [tasks[i] for i in new]
                insert_many(conn, _INSERT, task_rows)
            conn.execute("RELEASE omniq_batch")
            insert_many(conn, INSERT_EVENT, event_rows)
        self._wake({t.queue for t in tasks})
        return len(tasks)

    def _insert(self, task: Task) -> bool:
        # one autocommit statement
        added = self.db.connection().execute(_INSERT, task_row(task)).rowcount == 1
        if added:
            self._wake((task.queue,))
        return added

    def _insert_many(self, tasks: Sequence[Task]) -> int:
        if not tasks:
            return 0
        with self.db.write() as conn:
            added = insert_many(conn, _INSERT, [task_row(t) for t in tasks])
        self._wake({t.queue for t in tasks})
        return added

    def _wake(self, queues: Iterable[str]) -> None:
        """Wake this process's workers waiting on ``queues``: they have tasks ready."""
        for queue in queues:
            self.db.waiters.wake(_ready_key(queue))

    # -- consuming ---------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        if limit <= 0:
            return []
        return await self.db.run_short(self._claim, list(queues), limit, lease_seconds, worker_id)

    def _claim(
        self, queues: list[str], limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        now = time.time()
        now_us = int(now * 1_000_000)
        expires_us = int((now + lease_seconds) * 1_000_000)
        expires_at = from_micros(expires_us)
        claimed: list[ClaimedTask] = []
        with self.db.write() as conn:
            for queue in queues:
                corrupt = True
                while corrupt and len(claimed) < limit:  # again if poison rows took places
                    rows = conn.execute(
                        _CLAIM, (expires_us, worker_id, queue, now_us, limit - len(claimed))
                    ).fetchall()
                    batch: list[ClaimedTask] = []
                    corrupt = False
                    for row in rows:
                        try:
                            task = task_from_row(row)
                        except CorruptRowError as exc:
                            self._quarantine(conn, row[0], queue, exc, now_us)
                            corrupt = True
                            continue
                        batch.append(
                            unchecked_claim(
                                task,
                                token=row[14],
                                expires_at=expires_at,
                                attempt=row[13],
                                worker_id=worker_id,
                                delivery=row[15],
                            )
                        )
                    batch.sort(key=lambda c: (-c.task.priority, c.task.eta, c.task.id))
                    claimed.extend(batch)
                if len(claimed) >= limit:
                    break
        return claimed

    @staticmethod
    def _quarantine(
        conn: Any, task_id: object, queue: str, exc: CorruptRowError, now_us: int
    ) -> None:
        """Move a claimed row that cannot be decoded to the dead letters, kept as it is."""
        conn.execute(_QUARANTINE, (CORRUPT_RECORD, now_us, task_id))
        log.warning(
            "moved a task that cannot be decoded to the dead letters",
            task_id=str(task_id),
            queue=queue,
            reason=CORRUPT_RECORD,
            error=str(exc),
        )

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        db = self.db
        keys = [_ready_key(q) for q in queues]
        future = db.waiters.register(keys)
        try:
            deadline = time.monotonic() + timeout
            version = db.data_version()
            ready_in = await db.run(self._ready_in, list(queues))
            if ready_in is not None:
                deadline = min(deadline, time.monotonic() + ready_in)
            pauses = poll_intervals(db.options.poll_interval, db.options.idle_poll_interval)
            while not future.done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                await db.waiters.wait(future, min(next(pauses), remaining))
                if db.data_version() != version:
                    return
        finally:
            db.waiters.unregister(keys, future)

    def _ready_in(self, queues: list[str]) -> float | None:
        """Seconds until a pending task of ``queues`` is ready (0 if one is); None if none."""
        marks = ", ".join("?" * len(queues))
        row = (
            self.db.connection()
            .execute(
                f"SELECT min(eta) FROM omniq_tasks WHERE state = 'pending' AND queue IN ({marks})",
                queues,
            )
            .fetchone()
        )
        if row is None or row[0] is None:
            return None
        if type(row[0]) is not int:  # a damaged row: the next claim sets it aside
            return 0.0
        return max(row[0] / 1_000_000 - time.time(), 0.0)

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        return await self.db.run_short(self._extend, list(leases), lease_seconds)

    def _extend(self, leases: list[Lease], lease_seconds: float) -> list[Lease | None]:
        expires_us = int((time.time() + lease_seconds) * 1_000_000)
        expires_at = from_micros(expires_us)
        renewed: list[Lease | None] = []
        with self.db.write() as conn:
            for lease in leases:
                row = conn.execute(
                    f"UPDATE omniq_tasks SET lease_expires = ? WHERE {HELD} "
                    "RETURNING cancel_requested",
                    (expires_us, lease.task_id, lease.token),
                ).fetchone()
                if row is None:
                    renewed.append(None)
                else:
                    renewed.append(
                        Lease(
                            task_id=lease.task_id,
                            token=lease.token,
                            expires_at=expires_at,
                            attempt=lease.attempt,
                            worker_id=lease.worker_id,
                            cancel_requested=bool(row[0]),
                            delivery=lease.delivery,
                        )
                    )
        return renewed

    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        """Which leases' tasks were asked to stop (:class:`~omniq.storage.CancelPolling`): a
        read, so a worker polling twice a second takes no write lock."""
        return await self.db.run_short(self._cancel_requests, list(leases))

    def _cancel_requests(self, leases: list[Lease]) -> list[bool]:
        flagged: set[tuple[str, str]] = set()
        conn = self.db.connection()
        for start in range(0, len(leases), 500):
            ids = [lease.task_id for lease in leases[start : start + 500]]
            rows = conn.execute(
                "SELECT id, token FROM omniq_tasks WHERE state = 'active' AND cancel_requested = 1 "
                f"AND id IN ({', '.join('?' * len(ids))})",
                ids,
            ).fetchall()
            flagged.update((row[0], row[1]) for row in rows)
        return [(lease.task_id, lease.token) in flagged for lease in leases]

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        return await self.db.run_short(self._ack, list(leases))

    def _ack(self, leases: list[Lease]) -> list[bool]:
        done: list[bool] = []
        with self.db.write() as conn:
            for lease in leases:
                cursor = conn.execute(ACK, (lease.task_id, lease.token))
                done.append(cursor.rowcount == 1)
        return done

    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        given_back = 0 if count_attempt else 1
        params = (micros(retry_at), error, given_back, lease.task_id, lease.token)
        changed = await self.db.run_short(self._changed, NACK, params)
        if changed:
            queue = await self.db.run_short(self._queue_of, lease.task_id)
            if queue is not None:
                self._wake((queue,))
        return changed

    def _queue_of(self, task_id: str) -> str | None:
        row = (
            self.db.connection()
            .execute("SELECT queue FROM omniq_tasks WHERE id = ?", (task_id,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def _changed(self, sql: str, params: tuple[Any, ...]) -> bool:
        return self._count_changes(sql, params) > 0

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        params = (reason, micros(utcnow()), lease.task_id, lease.token)
        return await self.db.run_short(self._changed, DEAD_LETTER, params)

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        return await self.db.run(self._recover, limit, max_deliveries)

    def _recover(self, limit: int, max_deliveries: int) -> list[RecoveredTask]:
        now_us = micros(utcnow())
        recovered: list[RecoveredTask] = []
        with self.db.write() as conn:
            rows = conn.execute(
                "SELECT id, queue, attempt, deliveries FROM omniq_tasks WHERE state = 'active' "
                "AND lease_expires <= ? ORDER BY lease_expires LIMIT ?",
                (now_us, limit),
            ).fetchall()
            for task_id, queue, attempt, deliveries in rows:
                dead = deliveries >= max_deliveries
                if dead:
                    conn.execute(
                        "UPDATE omniq_tasks SET state = 'dead', token = NULL, "
                        "lease_expires = NULL, worker_id = NULL, cancel_requested = 0, "
                        "last_error = ?, finished_at = ? WHERE id = ?",
                        (expired_reason(deliveries, True), now_us, task_id),
                    )
                else:  # a crash is not a failure: the attempt is given back
                    conn.execute(
                        "UPDATE omniq_tasks SET state = 'pending', eta = ?, token = NULL, "
                        "lease_expires = NULL, worker_id = NULL, cancel_requested = 0, "
                        "attempt = max(attempt - 1, 0), last_error = ? WHERE id = ?",
                        (now_us, expired_reason(deliveries, False), task_id),
                    )
                recovered.append(
                    RecoveredTask(
                        task_id=task_id,
                        queue=queue,
                        attempt=attempt,
                        dead=dead,
                        delivery=deliveries,
                    )
                )
        self._wake({r.queue for r in recovered if not r.dead})
        return recovered

    # -- completing under the lease (omniq.storage.AtomicCompletion) ----------------------------

    def completes_with(self, results: ResultStorage, events: EventStorage) -> bool:
        """Whether ``results`` and ``events`` write to this queue's database, so that
        :meth:`complete` can apply a completion in one transaction."""
        return (
            isinstance(results, SQLiteResultStorage)
            and results.db is self.db
            and self.shares_events_with(events)
        )

    async def complete(self, completions: Sequence[Completion]) -> list[bool]:
        """Apply each completion whose lease is current: result (delivery compared), events,
        then ack, dead letter or retry; the whole batch in one transaction."""
        if not completions:
            return []
        rows = completion_rows(completions)  # made here: the database thread only writes
        size = sum(1 + len(c.events) for c in completions)
        applied, retried = await self.db.run_rows(size, self._complete, rows)
        stored = zip(completions, applied, strict=True)
        wake_results(self.db, [c.result.task_id for c, ok in stored if ok and c.result])
        self._wake(retried)
        return applied

    def _complete(self, rows: list[Any]) -> tuple[list[bool], set[str]]:
        with self.db.write() as conn:
            return apply_completions(conn, rows, micros(utcnow()))

    # -- inspecting and managing -------------------------------------------------------------

    async def get(self, task_id: str) -> TaskInfo | None:
        return await self.db.run_short(self._get, task_id)

    def _get(self, task_id: str) -> TaskInfo | None:
        row = self.db.connection().execute(f"{_INFO} WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            return None
        try:
            return _info(row)
        except CorruptRowError as exc:
            raise _corrupt_row(task_id, exc) from exc

    async def cancel(self, task_id: str) -> CancelOutcome:
        return await self.db.run_short(self._cancel, task_id)

    def _cancel(self, task_id: str) -> CancelOutcome:
        with self.db.write() as conn:
            row = conn.execute("SELECT state FROM omniq_tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None or row[0] == TaskState.DEAD.value:
                return CancelOutcome.NOT_FOUND
            if row[0] == TaskState.PENDING.value:
                conn.execute("DELETE FROM omniq_tasks WHERE id = ?", (task_id,))
                return CancelOutcome.CANCELLED
            conn.execute("UPDATE omniq_tasks SET cancel_requested = 1 WHERE id = ?", (task_id,))
            return CancelOutcome.REQUESTED

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        return await self.db.run(self._stats, None if queues is None else list(queues))

    def _stats(self, queues: list[str] | None) -> list[QueueStats]:
        """Three counts, each from its partial index (never the whole table): pending tasks
        from the pending index (covering: queue and eta), active ones from the lease index (as
        many as workers run), dead letters from the dead-letter index (covering)."""
        where = ""
        params: tuple[str, ...] = ()
        if queues is not None:
            where = f" AND queue IN ({', '.join('?' * len(queues))})"
            params = tuple(queues)
        conn = self.db.connection()
        now_us = micros(utcnow())
        rows: list[tuple[str, str, int]] = []
        for queue, ready, count in conn.execute(
            "SELECT queue, total(eta <= ?), count(*) FROM omniq_tasks INDEXED BY "
            f"omniq_tasks_pending WHERE state = 'pending'{where} GROUP BY queue",
            (now_us, *params),
        ):  # grouped in the index's order: no temporary b-tree
            rows.append((queue, "ready", int(ready)))
            rows.append((queue, "delayed", count - int(ready)))
        for state, index in (("active", "omniq_tasks_leased"), ("dead", "omniq_tasks_dead")):
            for queue, count in conn.execute(
                f"SELECT queue, count(*) FROM omniq_tasks INDEXED BY {index} "
                f"WHERE state = '{state}'{where} GROUP BY queue",
                params,
            ):
                rows.append((queue, state, count))
        names = sorted(set(queues) if queues is not None else {r[0] for r in rows})
        counts = {name: {"ready": 0, "delayed": 0, "active": 0, "dead": 0} for name in names}
        for queue, key, count in rows:
            counts[queue][key] += count
        return [QueueStats(queue=name, **counts[name]) for name in names]

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        # the state literally, so that SQLite reads the state's partial index, in its order
        where = f"WHERE queue = ? AND state = '{state.value}'"
        sql = f"{_INFO} {where} ORDER BY {_ORDER[state]} LIMIT ?"
        rows = await self.db.run(self._rows, sql, (queue, limit))
        return self._decoded(rows, queue)

    async def browse_tasks(
        self,
        queue: str,
        *,
        state: TaskState,
        offset: int = 0,
        limit: int = 100,
        func: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[TaskInfo]:
        """:class:`~omniq.storage.TaskBrowsing`: the state's partial index read in order from
        ``offset``; the function and time filters are checked on its rows."""
        where = ["queue = ?", f"state = '{state.value}'"]  # literal: the partial index applies
        params: list[Any] = [queue]
        if func is not None:
            where.append("func = ?")
            params.append(func)
        if since is not None:
            where.append("enqueued_at >= ?")
            params.append(micros(since))
        if until is not None:
            where.append("enqueued_at < ?")
            params.append(micros(until))
        sql = f"{_INFO} WHERE {' AND '.join(where)} ORDER BY {_ORDER[state]} LIMIT ? OFFSET ?"
        rows = await self.db.run(self._rows, sql, (*params, limit, offset))
        return self._decoded(rows, queue)

    def _decoded(self, rows: list[Any], queue: str) -> list[TaskInfo]:
        infos: list[TaskInfo] = []
        for row in rows:
            try:
                infos.append(_info(row))
            except CorruptRowError as exc:
                log.warning(
                    "left out a task that cannot be decoded",
                    task_id=str(row[0]),
                    queue=queue,
                    error=str(exc),
                )
        return infos

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return self.db.connection().execute(sql, params).fetchall()

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        wanted = sorted({s.value for s in states} - {TaskState.ACTIVE.value})
        if not wanted:
            return 0
        marks = ", ".join("?" * len(wanted))
        sql = f"DELETE FROM omniq_tasks WHERE queue = ? AND state IN ({marks})"
        return await self.db.run(self._count_changes, sql, (queue, *wanted))

    def _count_changes(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one autocommit statement; how many rows it changed."""
        return int(self.db.connection().execute(sql, params).rowcount)

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        sql = (
            "UPDATE omniq_tasks SET state = 'pending', eta = ?, attempt = 0, finished_at = NULL "
            "WHERE queue = ? AND state = 'dead'"
        )
        params: tuple[Any, ...] = (micros(utcnow()), queue)
        if task_ids is not None:
            ids = list(task_ids)
            if not ids:
                return 0
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            params = (*params, *ids)
        count = await self.db.run(self._count_changes, sql, params)
        if count:
            self._wake((queue,))
        return count
