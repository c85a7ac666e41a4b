"""The task queue on a :class:`~omniq.kit.KVStore`: one key per task, changed by compare-and-set.

Each task is one JSON record under ``task/<id>``: the task, its state, when it is ready, its
attempt and delivery counts, and the current lease (token, expiry, worker). A claim scans the
tasks, orders the ready ones and moves each to active by a compare-and-set on the version it
read, so two claimers never both win a task; every other change is a compare-and-set on the
record too, and fencing is the token check inside it. Cost: a claim, ``stats``, recovery and
``list_tasks`` read every task record (the kit is for small stores).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs

from omniq._time import from_timestamp
from omniq.kit._base import KitStorage, dumps, loads
from omniq.kit.records import from_plain, to_plain
from omniq.kit.store import Item, Write
from omniq.logging import get_logger
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
from omniq.storage import TaskQueueStorage

__all__ = ["KitTaskQueue"]

log = get_logger(__name__)

TASKS = "task/"
CORRUPT = "corrupt/"
_PENDING, _ACTIVE, _DEAD = TaskState.PENDING.value, TaskState.ACTIVE.value, TaskState.DEAD.value
_DELETE: dict[str, Any] = {}
"""An edit's answer meaning "delete the record"."""
_NO_WRITE = object()

Record = dict[str, Any]
Edit = Callable[[Record | None], tuple[Record | None, Any]]


def _info(rec: Record) -> TaskInfo:
    lease = rec["l"]
    return TaskInfo(
        task=from_plain(rec["t"], Task),
        state=TaskState(rec["s"]),
        attempt=rec["a"],
        lease_expires_at=None if lease is None else from_timestamp(lease),
        worker_id=rec["w"],
        last_error=rec["e"],
        cancel_requested=rec["c"],
        deliveries=rec["d"],
    )


def _released(rec: Record, state: str, at: float, error: str | None) -> Record:
    """``rec`` out of its lease, into ``state`` (ready from ``at`` if pending)."""
    new = {**rec, "s": state, "k": None, "l": None, "w": None, "c": False, "e": error}
    if state == _PENDING:
        new["r"] = at
    else:
        new["f"] = at
    return new


class KitTaskQueue(KitStorage, TaskQueueStorage):
    """Pending, active and dead tasks as records of a key-value store."""

    # -- records -----------------------------------------------------------------------------

    async def _read(self, item: Item) -> Record | None:
        """The record of ``item``; a record that cannot be read is moved to ``corrupt/<id>``,
        its bytes kept, with a warning, and ``None`` returned."""
        try:
            rec: Record = loads(item.value)
            rec["s"], rec["t"]["queue"]
            return rec
        except Exception as exc:
            task_id = item.key.removeprefix(TASKS)
            log.warning(
                "undecodable task record moved aside", task_id=task_id, reason=CORRUPT_RECORD,
                key=f"{CORRUPT}{task_id}", error=repr(exc),
            )  # fmt: skip
            await self.kv.put_if_absent(f"{CORRUPT}{task_id}", item.value)
            await self.kv.delete(item.key, item.version)
            return None

    async def _records(self) -> list[tuple[Item, Record]]:
        found: list[tuple[Item, Record]] = []
        for item in await self.kv.scan(TASKS):
            rec = await self._read(item)
            if rec is not None:
                found.append((item, rec))
        return found

    async def _edit(self, task_id: str, edit: Edit) -> Any:
        """Apply ``edit`` to the task's record by compare-and-set, again on a conflict.

        ``edit(record or None)`` returns ``(change, answer)``: the new record, ``_DELETE``, or
        ``None`` for no write.
        """
        key = f"{TASKS}{task_id}"
        while True:
            item = await self.kv.get(key)
            rec = None if item is None else await self._read(item)
            new, answer = edit(rec)
            if new is None or item is None or rec is None:
                return answer
            if new is _DELETE:
                done = await self.kv.delete(key, item.version)
            else:
                done = await self.kv.compare_and_set(key, dumps(new), item.version)
            if done:
                return answer

    def _leased(self, lease: Lease, rec: Record | None) -> bool:
        return rec is not None and rec["s"] == _ACTIVE and rec["k"] == lease.token

    # -- producing ---------------------------------------------------------------------------

    def _new(self, task: Task) -> Write:
        rec = {
            "t": to_plain(task), "s": _PENDING, "r": task.eta.timestamp(), "a": 0, "d": 0,
            "k": None, "l": None, "w": None, "e": None, "c": False, "f": 0.0,
        }  # fmt: skip
        return Write(f"{TASKS}{task.id}", dumps(rec), None)

    async def enqueue(self, task: Task) -> bool:
        return await self.enqueue_many([task]) == 1

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        self._check_open()
        return sum(await self.kv.apply([self._new(task) for task in tasks]))

    # -- consuming ---------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        self._check_open()
        if limit <= 0:
            return []
        now = time.time()
        rank = {name: i for i, name in enumerate(queues)}
        ready = [
            (rank[rec["t"]["queue"]], -rec["t"]["priority"], rec["r"], rec["t"]["id"], item, rec)
            for item, rec in await self._records()
            if rec["s"] == _PENDING and rec["t"]["queue"] in rank and rec["r"] <= now
        ]
        ready.sort(key=lambda row: row[:4])
        expires = now + lease_seconds
        claimed: list[ClaimedTask] = []
        while ready and len(claimed) < limit:
            batch, ready = ready[: limit - len(claimed)], ready[limit - len(claimed) :]
            news = [
                {
                    **rec,
                    "s": _ACTIVE,
                    "a": rec["a"] + 1,
                    "d": rec["d"] + 1,
                    "c": False,
                    "k": secrets.token_hex(12),
                    "l": expires,
                    "w": worker_id,
                }
                for *_, rec in batch
            ]
            writes = [
                Write(row[4].key, dumps(new), row[4].version)
                for row, new in zip(batch, news, strict=True)
            ]
            for new, done in zip(news, await self.kv.apply(writes), strict=True):
                if done:  # a claimer that lost the compare-and-set moves on to the next task
                    claimed.append(ClaimedTask(task=from_plain(new["t"], Task), lease=_lease(new)))
        return claimed

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        self._check_open()
        watch = self.kv.watch(TASKS)
        if watch is None:
            await super().wait_for_work(queues, timeout)
            return
        try:
            now, wait = time.time(), timeout
            for _, rec in await self._records():
                if rec["s"] == _PENDING and rec["t"]["queue"] in queues:
                    wait = min(wait, max(rec["r"] - now, 0.0))
            if wait > 0:
                await watch.wait(wait)
        finally:
            watch.close()

    async def _edit_many(self, task_ids: Sequence[str], edits: Sequence[Edit]) -> list[Any]:
        """:meth:`_edit` for several tasks, with one :meth:`~omniq.kit.KVStore.apply` for all
        the writes; a write that lost a race is done again on its own."""
        writes: list[Write] = []
        answers: list[Any] = []
        for task_id, edit in zip(task_ids, edits, strict=True):
            key = f"{TASKS}{task_id}"
            item = await self.kv.get(key)
            rec = None if item is None else await self._read(item)
            new, answer = edit(rec)
            answers.append(answer)
            if new is not None and item is not None and rec is not None:
                writes.append(Write(key, None if new is _DELETE else dumps(new), item.version))
            else:
                writes.append(Write(key, None, _NO_WRITE))
        wanted = [i for i, w in enumerate(writes) if w.version is not _NO_WRITE]
        done = await self.kv.apply([writes[i] for i in wanted])
        for i, ok in zip(wanted, done, strict=True):
            if not ok:
                answers[i] = await self._edit(task_ids[i], edits[i])
        return answers

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        self._check_open()
        expires = time.time() + lease_seconds

        def edit(lease: Lease) -> Edit:
            def change(rec: Record | None) -> Any:
                if rec is None or not self._leased(lease, rec):
                    return None, None
                renewed = attrs.evolve(
                    lease, expires_at=from_timestamp(expires), cancel_requested=rec["c"]
                )
                return {**rec, "l": expires}, renewed

            return change

        return await self._edit_many([x.task_id for x in leases], [edit(x) for x in leases])

    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        """Whether each lease's task was asked to stop (:class:`~omniq.storage.CancelPolling`)."""
        self._check_open()
        answers: list[bool] = []
        for lease in leases:
            item = await self.kv.get(f"{TASKS}{lease.task_id}")
            rec = None if item is None else await self._read(item)
            answers.append(self._leased(lease, rec) and bool(rec and rec["c"]))
        return answers

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        self._check_open()

        def edit(lease: Lease) -> Edit:
            return lambda rec: (_DELETE, True) if self._leased(lease, rec) else (None, False)

        return await self._edit_many([x.task_id for x in leases], [edit(x) for x in leases])

    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        self._check_open()

        def edit(rec: Record | None) -> Any:
            if not self._leased(lease, rec):
                return None, False
            assert rec is not None
            new = _released(rec, _PENDING, retry_at.timestamp(), error)
            new["a"] -= 0 if count_attempt else 1
            return new, True

        return bool(await self._edit(lease.task_id, edit))

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        self._check_open()

        def edit(rec: Record | None) -> Any:
            if not self._leased(lease, rec):
                return None, False
            assert rec is not None
            return _released(rec, _DEAD, time.time(), reason), True

        return bool(await self._edit(lease.task_id, edit))

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        self._check_open()
        now = time.time()
        expired = sorted(
            (rec["l"], rec["t"]["id"], rec["k"])
            for _, rec in await self._records()
            if rec["s"] == _ACTIVE and rec["l"] <= now
        )
        recovered: list[RecoveredTask] = []
        for _, task_id, token in expired[:limit]:

            def edit(rec: Record | None, token: str = token) -> Any:
                if rec is None or rec["s"] != _ACTIVE or rec["k"] != token or rec["l"] > now:
                    return None, None
                dead = rec["d"] >= max_deliveries
                new = _released(
                    rec, _DEAD if dead else _PENDING, now, expired_reason(rec["d"], dead)
                )
                new["a"] -= 0 if dead else 1
                found = RecoveredTask(
                    task_id=rec["t"]["id"], queue=rec["t"]["queue"], attempt=rec["a"], dead=dead,
                    delivery=rec["d"],
                )  # fmt: skip
                return new, found

            if (found := await self._edit(task_id, edit)) is not None:
                recovered.append(found)
        return recovered

    # -- inspecting and managing -------------------------------------------------------------

    async def get(self, task_id: str) -> TaskInfo | None:
        self._check_open()
        item = await self.kv.get(f"{TASKS}{task_id}")
        rec = None if item is None else await self._read(item)
        return None if rec is None else _info(rec)

    async def cancel(self, task_id: str) -> CancelOutcome:
        self._check_open()

        def edit(rec: Record | None) -> Any:
            if rec is None or rec["s"] == _DEAD:
                return None, CancelOutcome.NOT_FOUND
            if rec["s"] == _PENDING:
                return _DELETE, CancelOutcome.CANCELLED
            return {**rec, "c": True}, CancelOutcome.REQUESTED

        outcome: CancelOutcome = await self._edit(task_id, edit)
        return outcome

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        self._check_open()
        now = time.time()
        counts: dict[str, dict[str, int]] = {name: {} for name in queues or ()}
        for _, rec in await self._records():
            name = rec["t"]["queue"]
            if queues is not None and name not in counts:
                continue
            state = "delayed" if rec["s"] == _PENDING and rec["r"] > now else rec["s"]
            tally = counts.setdefault(name, {})
            tally[state] = tally.get(state, 0) + 1
        return [
            QueueStats(
                queue=name,
                ready=c.get(_PENDING, 0),
                delayed=c.get("delayed", 0),
                active=c.get(_ACTIVE, 0),
                dead=c.get(_DEAD, 0),
            )
            for name, c in sorted(counts.items())
        ]

    async def _of(self, queue: str, states: set[str]) -> list[tuple[Item, Record]]:
        return [
            (item, rec)
            for item, rec in await self._records()
            if rec["t"]["queue"] == queue and rec["s"] in states
        ]

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        self._check_open()
        order: dict[str, Callable[[Record], tuple[Any, ...]]] = {
            _PENDING: lambda r: (-r["t"]["priority"], r["r"], r["t"]["id"]),
            _ACTIVE: lambda r: (from_plain(r["t"], Task).enqueued_at, r["t"]["id"]),
            _DEAD: lambda r: (r["f"], r["t"]["id"]),
        }
        found = sorted((rec for _, rec in await self._of(queue, {state.value})), key=order[state])
        return [_info(rec) for rec in found[:limit]]

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        self._check_open()
        wanted = {s.value for s in states} - {_ACTIVE}
        doomed = [Write(item.key, None, item.version) for item, _ in await self._of(queue, wanted)]
        return sum(await self.kv.apply(doomed))

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        self._check_open()
        only = None if task_ids is None else set(task_ids)
        now, writes = time.time(), []
        for item, rec in await self._of(queue, {_DEAD}):
            if only is None or rec["t"]["id"] in only:
                new = {**_released(rec, _PENDING, now, rec["e"]), "a": 0}
                writes.append(Write(item.key, dumps(new), item.version))
        return sum(await self.kv.apply(writes))


def _lease(rec: Record) -> Lease:
    return Lease(
        task_id=rec["t"]["id"], token=rec["k"], expires_at=from_timestamp(rec["l"]),
        attempt=rec["a"], worker_id=rec["w"], delivery=rec["d"],
    )  # fmt: skip
