"""The file task queue: a file per task, moved between ``pending/``, ``active/`` and ``dead/``
directories by renames.

Layout under ``base_dir`` (see the README)::

    index/<task id>                                  the task (dedupes enqueues, names its queue)
    queues/<queue>/pending/<claim key>.<attempt>.task
    queues/<queue>/active/<task id>.<attempt>.<token>.task   (+ .lease with its expiry)
    queues/<queue>/dead/<task id>.<attempt>.task

On a local disk an enqueue creates ``index/<task id>`` exclusively (``O_EXCL``: of two enqueues of
one id exactly one wins) with the task's content, then hard-links it into ``pending/``: one file
made, and the pending name appears only once the content is whole. The first layout wrote the
queue's name into ``index/`` instead; both are read.

The claim key (``<100 - priority>-<eta µs>-<id>``) sorts in claim order. On a local disk a claim
is one atomic rename into ``active/``: of several processes, exactly one wins. The lease token's
random part is in the active file's name, so ack/nack/dead-letter act on that exact file and fail
once the task was recovered or re-claimed (fencing); the token also carries the queue's name, so
they find the file without reading the index.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from omniq._time import from_timestamp
from omniq.errors import StorageError
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
from omniq.plugins.specs import BackendContext
from omniq.storage import Capability, TaskQueueStorage
from omniq.storage.polling import poll_intervals

from omniq_file import leases as lease_files
from omniq_file.base import FileStorageMixin
from omniq_file.blobs import LocalBlobs
from omniq_file.codec import CorruptFileError
from omniq_file.listing import PendingListings
from omniq_file.paths import component, is_component
from omniq_file.store import FileStore, StoredTask, prior_deliveries

__all__ = ["FileTaskQueue"]

log = get_logger(__name__, backend="file")

_ORPHAN_LEASE = 60.0
"""Seconds after which an active file with no lease file (its claimer died mid-claim) expires."""
_LOCATE_PASSES = 3
_NONCE = 24
"""Hex digits of a lease token's random part (the rest is the queue's name)."""
_NONCE_RE = re.compile(r"[0-9a-f]{24}")


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _key(task: Task, eta_us: int) -> str:
    return f"{100 - task.priority:03d}-{eta_us:017d}-{task.id}"


def _token(queue: str) -> tuple[str, str]:
    """A new lease's ``(nonce, token)``: the nonce names the active file, the token adds the
    queue so ack/nack/extend find the file without a lookup."""
    nonce = os.urandom(_NONCE // 2).hex()
    return nonce, nonce + queue


def _split_token(token: str) -> tuple[str, str | None] | None:
    """``(nonce, queue)`` of a lease token; the queue is ``None`` for the first layout's tokens
    (the nonce alone). ``None`` for a token this backend never made: no file can match it."""
    nonce, queue = token[:_NONCE], token[_NONCE:]
    if _NONCE_RE.fullmatch(nonce) is None or (queue and not is_component(queue)):
        return None
    return nonce, queue or None


class _Q:
    """The directories of one queue."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        base = f"queues/{component(queue, 'queue name')}"
        self.pending = f"{base}/pending"
        self.active = f"{base}/active"
        self.dead = f"{base}/dead"


class FileTaskQueue(FileStorageMixin, TaskQueueStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.SYNC_PRODUCER}
    )
    """``MULTI_PROCESS`` holds on local disks only (see :class:`FileStorageMixin`)."""

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        self._listings = PendingListings()

    # -- producing ---------------------------------------------------------------------------

    def enqueue_sync(self, task: Task) -> bool:
        return self.enqueue_many_sync((task,)) == 1

    def enqueue_many_sync(self, tasks: Sequence[Task]) -> int:
        blobs = self.files.blobs
        if not isinstance(blobs, LocalBlobs):
            return self._enqueue_batch(tasks)
        added, queues = 0, set()
        for task in tasks:
            q = _Q(task.queue)
            index = f"index/{component(task.id, 'task id')}"
            pending = f"{q.pending}/{_key(task, _us(task.eta))}.0.task"
            content = self.files.dump(StoredTask(task=task, deliveries=0))
            if blobs.create_linked(index, content, pending):
                added += 1
                queues.add(task.queue)
        for queue in queues:
            self._listings.forget(_Q(queue).pending)
            self.files.waiters.wake(f"q:{queue}")
        return added

    def _enqueue_batch(self, tasks: Sequence[Task]) -> int:
        """Object stores (one consumer process): dedupe against one listing of ``index/``,
        then write every new file in one concurrent batch."""
        blobs = self.files.blobs
        with self.files.lock:
            known = set(blobs.list("index"))
            files: dict[str, bytes] = {}
            for task in tasks:
                if task.id in known:
                    continue
                known.add(task.id)
                files[f"index/{task.id}"] = task.queue.encode()
                name = f"{_key(task, _us(task.eta))}.0.task"
                content = StoredTask(task=task, deliveries=0)
                files[f"{_Q(task.queue).pending}/{name}"] = self.files.dump(content)
            blobs.write_many(files)
        for queue in {t.queue for t in tasks}:
            self.files.waiters.wake(f"q:{queue}")
        return len(files) // 2

    async def enqueue(self, task: Task) -> bool:
        if isinstance(self.files.blobs, LocalBlobs) and not self.files.options.fsync:
            # one local file made and linked (about 60 µs): less than a hop to a thread
            return self.enqueue_sync(task)
        return bool(await self._run(self.enqueue_sync, task))

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        return int(await self._run(self.enqueue_many_sync, list(tasks)))

    # -- consuming ---------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        result: list[ClaimedTask] = await self._run(
            self._claim, list(queues), limit, lease_seconds, worker_id
        )
        return result

    def _claim(
        self, queues: list[str], limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        blobs = self.files.blobs
        now_us = int(time.time() * 1_000_000)
        expires_us = now_us + int(lease_seconds * 1_000_000)
        claimed: list[ClaimedTask] = []
        if not blobs.atomic_rename:
            return self._claim_batch(queues, limit, now_us, expires_us, worker_id)
        with self.files.lock:
            for queue in queues:
                q = _Q(queue)
                for fresh in (False, True):
                    names, listed = self._listings.names(blobs, q.pending, fresh=fresh)
                    gone: list[str] = []
                    try:
                        self._claim_names(q, names, limit, claimed, gone, expires_us, worker_id)
                    finally:
                        self._listings.settle(blobs, q.pending, gone)
                    if listed or len(claimed) >= limit:
                        break  # a cached listing that could not fill the claim is listed anew
                if len(claimed) >= limit:
                    break
        return claimed

    def _claim_names(
        self,
        q: _Q,
        names: Iterable[str],
        limit: int,
        claimed: list[ClaimedTask],
        gone: list[str],
        expires_us: int,
        worker_id: str,
    ) -> None:
        """Claim from ``names`` (in claim order) into ``claimed`` up to ``limit``, noting in
        ``gone`` every name that left ``pending/`` (claimed here or by another process)."""
        blobs = self.files.blobs
        now_us = int(time.time() * 1_000_000)
        for name in names:
            if len(claimed) >= limit:
                return
            parsed = _parse_pending(name)
            if parsed is None or parsed[1] > now_us:
                continue
            task_id, _, attempt = parsed
            nonce, token = _token(q.queue)
            active = f"{q.active}/{task_id}.{attempt + 1}.{nonce}"
            # The lease is written before the task appears in active/, so any reader that finds
            # the task finds its whole lease: a plain exclusive create (the nonce is new) will do.
            if not lease_files.create(blobs, f"{active}.lease", expires_us, worker_id):
                continue
            gone.append(name)
            if not blobs.rename(f"{q.pending}/{name}", f"{active}.task"):
                blobs.delete(f"{active}.lease")  # another claimer won this one
                continue
            stored = self._load_task(f"{active}.task", q, task_id, attempt)
            if stored is None:
                blobs.delete(f"{active}.lease")
                continue
            delivery = prior_deliveries(stored, attempt, active=False) + 1
            lease = _new_lease(task_id, token, expires_us, attempt + 1, worker_id, delivery)
            claimed.append(ClaimedTask(task=stored.task, lease=lease))

    def _claim_batch(
        self, queues: list[str], limit: int, now_us: int, expires_us: int, worker_id: str
    ) -> list[ClaimedTask]:
        """Object stores (one consumer process, changes serialized by the lock): read the
        chosen tasks, write their active and lease files, delete the pending ones, each step
        one concurrent batch."""
        blobs: Any = self.files.blobs
        claimed: list[ClaimedTask] = []
        with self.files.lock:
            for queue in queues:
                q = _Q(queue)
                chosen: list[tuple[str, str, int]] = []
                for name in sorted(blobs.list(q.pending)):
                    parsed = _parse_pending(name)
                    if parsed is not None and parsed[1] <= now_us:
                        chosen.append((name, parsed[0], parsed[2]))
                        if len(claimed) + len(chosen) >= limit:
                            break
                contents = blobs.read_many([f"{q.pending}/{name}" for name, _, _ in chosen])
                files: dict[str, bytes] = {}
                buried: set[str] = set()
                for name, task_id, attempt in chosen:
                    data = contents.get(f"{q.pending}/{name}")
                    if data is None:
                        continue
                    try:
                        stored = self.files.codec.loads(data, StoredTask, where=name)
                    except CorruptFileError as exc:
                        self._bury(f"{q.pending}/{name}", q, task_id, attempt, exc)
                        buried.add(name)
                        continue
                    nonce, token = _token(queue)
                    active = f"{q.active}/{task_id}.{attempt + 1}.{nonce}"
                    files[f"{active}.task"] = data
                    files[f"{active}.lease"] = lease_files.with_expiry(expires_us, worker_id)
                    delivery = prior_deliveries(stored, attempt, active=False) + 1
                    lease = _new_lease(task_id, token, expires_us, attempt + 1, worker_id, delivery)
                    claimed.append(ClaimedTask(task=stored.task, lease=lease))
                blobs.write_many(files)
                blobs.delete_many(
                    [f"{q.pending}/{name}" for name, _, _ in chosen if name not in buried]
                )
                if len(claimed) >= limit:
                    break
        return claimed

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        waiters = self.files.waiters
        keys = [f"q:{q}" for q in queues]
        future = waiters.register(keys)
        try:
            deadline = time.monotonic() + timeout
            ready_in = await self._run(self._ready_in, list(queues))
            if ready_in is not None:
                deadline = min(deadline, time.monotonic() + ready_in)
            blobs = self.files.blobs
            dirs = [_Q(q).pending for q in queues]
            versions = [blobs.version(d) for d in dirs]
            interval = self.files.options.poll_interval
            if blobs.version(dirs[0]) is None and not blobs.atomic_rename:
                interval = max(interval, 0.05)  # object stores: listing costs a request
            pauses = poll_intervals(interval, self.files.options.idle_poll_interval)
            while not future.done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                await waiters.wait(future, min(next(pauses), remaining))
                if [blobs.version(d) for d in dirs] != versions:
                    return
        finally:
            waiters.unregister(keys, future)

    def _ready_in(self, queues: list[str]) -> float | None:
        now_us = time.time() * 1_000_000
        soonest: float | None = None
        for queue in queues:
            for name in self.files.blobs.list(_Q(queue).pending):
                parsed = _parse_pending(name)
                if parsed is None:
                    continue
                wait = max(parsed[1] - now_us, 0) / 1_000_000
                soonest = wait if soonest is None else min(soonest, wait)
                if soonest == 0:
                    return 0.0
        return soonest

    def _queue_of(self, task_id: str) -> str | None:
        """The queue ``index/<task id>`` names: the task's content, or (first layout, and object
        stores) the queue's name. ``None`` if there is no entry, or it is still being written."""
        data = self.files.blobs.read(f"index/{component(task_id, 'task id')}")
        if not data:
            return None
        if is_component(data.decode(errors="replace")):
            return data.decode()
        try:
            stored = self.files.codec.loads(data, StoredTask, where=f"index/{task_id}")
        except CorruptFileError:
            return None  # an enqueue is writing it: the task is not in pending/ yet
        return stored.task.queue

    def _active_path(self, lease: Lease) -> tuple[str, _Q] | None:
        component(lease.task_id, "task id")
        split = _split_token(lease.token)
        if split is None:
            return None
        nonce, queue = split
        if queue is None:  # a lease from the first layout
            queue = self._queue_of(lease.task_id)
            if queue is None:
                return None
        q = _Q(queue)
        return f"{q.active}/{lease.task_id}.{lease.attempt}.{nonce}", q

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        result: list[Lease | None] = await self._run(self._extend, list(leases), lease_seconds)
        return result

    def _extend(self, leases: list[Lease], lease_seconds: float) -> list[Lease | None]:
        blobs = self.files.blobs
        expires_us = int((time.time() + lease_seconds) * 1_000_000)
        renewed: list[Lease | None] = []
        for lease in leases:
            found = self._active_path(lease)
            if found is None or not blobs.exists(f"{found[0]}.task"):
                renewed.append(None)
                continue
            path, q = found
            renewed_lease = lease_files.renew(blobs, f"{path}.lease", expires_us, lease.worker_id)
            if not renewed_lease or not blobs.exists(f"{path}.task"):
                renewed.append(None)  # acked, or recovered meanwhile: lost after all
                continue
            cancel = blobs.exists(f"{q.active}/{lease.task_id}.cancel")
            renewed.append(
                Lease(
                    task_id=lease.task_id,
                    token=lease.token,
                    expires_at=from_timestamp(expires_us / 1_000_000),
                    attempt=lease.attempt,
                    worker_id=lease.worker_id,
                    cancel_requested=cancel,
                    delivery=lease.delivery,
                )
            )
        return renewed

    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        """Which leases' tasks were asked to stop (:class:`~omniq.storage.CancelPolling`): two
        existence checks per lease, nothing written."""
        result: list[bool] = await self._run(self._cancel_requests, list(leases))
        return result

    def _cancel_requests(self, leases: list[Lease]) -> list[bool]:
        blobs = self.files.blobs
        flags: list[bool] = []
        for lease in leases:
            found = self._active_path(lease)
            flags.append(
                found is not None
                and blobs.exists(f"{found[1].active}/{lease.task_id}.cancel")
                and blobs.exists(f"{found[0]}.task")
            )
        return flags

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        return await self._run_spread(self._ack, leases)

    def _ack(self, leases: list[Lease]) -> list[bool]:
        blobs = self.files.blobs
        done: list[bool] = []
        for lease in leases:
            found = self._active_path(lease)
            if found is None or not blobs.delete(f"{found[0]}.task"):
                done.append(False)
                continue
            path, q = found
            blobs.delete(f"{path}.lease")
            blobs.delete(f"{q.active}/{lease.task_id}.cancel")
            blobs.delete(f"index/{lease.task_id}")
            done.append(True)
        return done

    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        ok: bool = await self._run(self._nack, lease, retry_at, error, count_attempt)
        if ok:
            queue = self._queue_of(lease.task_id)
            if queue is not None:
                self.files.waiters.wake(f"q:{queue}")
        return ok

    def _nack(
        self, lease: Lease, retry_at: datetime, error: str | None, count_attempt: bool
    ) -> bool:
        found = self._active_path(lease)
        if found is None:
            return False
        path, q = found
        stored = self._load_task(f"{path}.task", q, lease.task_id, lease.attempt)
        if stored is None:
            return False
        attempt = lease.attempt if count_attempt else lease.attempt - 1
        target = f"{q.pending}/{_key(stored.task, _us(retry_at))}.{attempt}.task"
        released = _released(stored, lease.attempt, last_error=error)
        if not self._move(f"{path}.task", target, released):
            return False
        self._cleanup_active(path, q, lease.task_id)
        return True

    def _move(self, source: str, target: str, content: StoredTask) -> bool:
        """Move a held task file to ``target`` with new ``content``; ``False`` if someone else
        moved it first. The file is first renamed into ``work/`` (the atomic step that fences
        other movers), then the new content is written to ``target`` whole, so a task can never
        reappear where a claimer already took it from."""
        work = f"work/{target.replace('/', '~')}"
        with self.files.lock:
            if not self.files.blobs.rename(source, work):
                return False
            self.files.blobs.write(target, self.files.dump(content))
            self.files.blobs.delete(work)
        self._listings.forget(target.rsplit("/", 1)[0])
        return True

    def _load_task(self, path: str, q: _Q, task_id: str, attempt: int) -> StoredTask | None:
        """The task file at ``path``; ``None`` if it is gone, or could not be decoded (then it
        is dead-lettered as a corrupt record, and every other task goes on)."""
        data = self.files.blobs.read(path)
        if data is None:
            return None
        try:
            stored: StoredTask = self.files.codec.loads(
                data, StoredTask, where=f"{self.files.blobs.label}/{path}"
            )
        except CorruptFileError as exc:
            self._bury(path, q, task_id, attempt, exc)
            return None
        return stored

    def _bury(self, path: str, q: _Q, task_id: str, attempt: int, problem: Exception) -> None:
        """Move an undecodable task file to ``dead/<id>.<attempt>.corrupt``, kept as it is for
        inspection (``CORRUPT_RECORD``): counted as a dead letter, never claimed or requeued."""
        blobs = self.files.blobs
        target = f"{q.dead}/{task_id or 'unknown'}.{attempt}.corrupt"
        moved = blobs.rename(path, target)
        if moved and path.startswith(f"{q.active}/"):
            self._cleanup_active(path.removesuffix(".task"), q, task_id)
        log.warning(
            "undecodable task file dead-lettered",
            reason=CORRUPT_RECORD,
            path=f"{blobs.label}/{path}",
            moved_to=f"{blobs.label}/{target}" if moved else None,
            problem=str(problem),
        )

    def _restore_stranded(self) -> None:
        """Finish moves whose process died between its two steps (files left in ``work/``)."""
        blobs = self.files.blobs
        for name in blobs.list("work"):
            if _age(self.files, f"work/{name}") > _ORPHAN_LEASE:
                blobs.rename(f"work/{name}", name.replace("~", "/"))

    def _cleanup_active(self, path: str, q: _Q, task_id: str) -> None:
        self.files.blobs.delete(f"{path}.lease")
        self.files.blobs.delete(f"{q.active}/{task_id}.cancel")

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        ok: bool = await self._run(self._dead_letter, lease, reason)
        return ok

    def _dead_letter(self, lease: Lease, reason: str) -> bool:
        found = self._active_path(lease)
        if found is None:
            return False
        path, q = found
        stored = self._load_task(f"{path}.task", q, lease.task_id, lease.attempt)
        if stored is None:
            return False
        target = f"{q.dead}/{lease.task_id}.{lease.attempt}.task"
        if not self._move(f"{path}.task", target, _released(stored, lease.attempt, reason)):
            return False
        self._cleanup_active(path, q, lease.task_id)
        return True

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        recovered: list[RecoveredTask] = await self._run(self._recover, limit, max_deliveries)
        for queue in {r.queue for r in recovered if not r.dead}:
            self.files.waiters.wake(f"q:{queue}")
        return recovered

    def _recover(self, limit: int, max_deliveries: int) -> list[RecoveredTask]:
        self._restore_stranded()
        blobs = self.files.blobs
        now = time.time()
        recovered: list[RecoveredTask] = []
        for queue in sorted(blobs.list("queues")):
            q = _Q(queue)
            for name in blobs.list(q.active):
                if len(recovered) >= limit:
                    return recovered
                parts = name.split(".")
                if len(parts) != 4 or parts[3] != "task":
                    continue
                task_id, attempt, token = parts[0], int(parts[1]), parts[2]
                path = f"{q.active}/{task_id}.{attempt}.{token}"
                if not self._expired(path, now):
                    continue
                stored = self._load_task(f"{path}.task", q, task_id, attempt)
                if stored is None:
                    continue
                delivery = prior_deliveries(stored, attempt, active=True) + 1
                dead = delivery >= max_deliveries
                # the attempt is given back: a crash or a hang is not the task's failure
                target = (
                    f"{q.dead}/{task_id}.{attempt}.task"
                    if dead
                    else f"{q.pending}/{_key(stored.task, int(now * 1_000_000))}.{attempt - 1}.task"
                )
                expired = _released(stored, attempt, expired_reason(delivery, dead))
                if not self._move(f"{path}.task", target, expired):
                    continue
                self._cleanup_active(path, q, task_id)
                recovered.append(
                    RecoveredTask(
                        task_id=task_id,
                        queue=queue,
                        attempt=attempt,
                        dead=dead,
                        delivery=delivery,
                    )
                )
        return recovered

    def _expired(self, path: str, now: float) -> bool:
        held = lease_files.read(self.files.blobs, f"{path}.lease")
        if held is None:
            # no lease file: a claimer died between its two writes, or it was just released
            return (
                self.files.blobs.exists(f"{path}.task")
                and _age(self.files, f"{path}.task") > _ORPHAN_LEASE
            )
        return held[0] <= now * 1_000_000

    # -- inspecting and managing -------------------------------------------------------------

    def _locate(self, task_id: str) -> tuple[str, TaskState, int, str, _Q] | None:
        """Where task ``task_id`` is: (path, state, attempt, queue, dirs).

        Listings are not one snapshot: a task moving between directories (claimed, retried) can
        be missed by one pass, so passes repeat while its index entry says it still exists."""
        for attempt in range(_LOCATE_PASSES):
            queue = self._queue_of(task_id)
            if queue is None:
                return None
            found = self._locate_in(task_id, _Q(queue))
            if found is not None:
                return found
            time.sleep(0.001 * attempt)
        return None

    def _locate_in(self, task_id: str, q: _Q) -> tuple[str, TaskState, int, str, _Q] | None:
        queue = q.queue
        blobs = self.files.blobs
        for name in blobs.list(q.active):
            parts = name.split(".")
            if parts[0] == task_id and len(parts) == 4 and parts[3] == "task":
                return f"{q.active}/{name}", TaskState.ACTIVE, int(parts[1]), queue, q
        for name in blobs.list(q.pending):
            parsed = _parse_pending(name)
            if parsed is not None and parsed[0] == task_id:
                return f"{q.pending}/{name}", TaskState.PENDING, parsed[2], queue, q
        for name in blobs.list(q.dead):
            parts = name.split(".")
            if parts[0] == task_id and len(parts) == 3 and parts[2] == "task":
                return f"{q.dead}/{name}", TaskState.DEAD, int(parts[1]), queue, q
        return None

    async def get(self, task_id: str) -> TaskInfo | None:
        info: TaskInfo | None = await self._run(self._get, task_id)
        return info

    def _get(self, task_id: str) -> TaskInfo | None:
        for attempt in range(_LOCATE_PASSES):
            found = self._locate(task_id)
            if found is None:
                break
            info = self._info(*found[:3], found[4])
            if info is not None:
                return info
            time.sleep(0.001 * attempt)  # moved (claimed, retried) between listing and reading
        self._refuse_if_corrupt(task_id)
        return None

    def _refuse_if_corrupt(self, task_id: str) -> None:
        """Raise, naming the file, if ``task_id`` is a corrupt record kept in the dead letters:
        it is not a task that does not exist. Its index entry may be as damaged as its file
        (a local index entry is a link to it), so without one every queue's dead letters are
        looked through."""
        blobs = self.files.blobs
        queue = self._queue_of(task_id)
        queues = [queue] if queue is not None else sorted(blobs.list("queues"))
        for name in queues:
            q = _Q(name)
            for entry in blobs.list(q.dead):
                if entry.startswith(f"{task_id}.") and entry.endswith(".corrupt"):
                    raise StorageError(
                        f"Task {task_id!r} is a corrupt record: its file could not be decoded, "
                        f"so it was moved to the dead letters as {blobs.label}/{q.dead}/{entry}, "
                        "kept as it was for inspection. Delete that file once inspected."
                    )

    def _info(self, path: str, state: TaskState, attempt: int, q: _Q) -> TaskInfo | None:
        task_id = _task_id_of(path.rsplit("/", 1)[-1], state)
        stored = self._load_task(path, q, task_id, attempt)
        if stored is None:
            return None
        active = state is TaskState.ACTIVE
        deliveries = prior_deliveries(stored, attempt, active=active) + active
        lease_expires, worker, cancel = None, None, False
        if state is TaskState.ACTIVE:
            held = lease_files.read(self.files.blobs, path.removesuffix(".task") + ".lease")
            if held is not None:
                lease_expires = from_timestamp(held[0] / 1_000_000)
                worker = held[1] or None
            cancel = self.files.blobs.exists(f"{q.active}/{stored.task.id}.cancel")
        return TaskInfo(
            task=stored.task,
            state=state,
            attempt=attempt,
            lease_expires_at=lease_expires,
            worker_id=worker,
            last_error=stored.last_error,
            cancel_requested=cancel,
            deliveries=deliveries,
        )

    async def cancel(self, task_id: str) -> CancelOutcome:
        outcome: CancelOutcome = await self._run(self._cancel, task_id)
        return outcome

    def _cancel(self, task_id: str) -> CancelOutcome:
        blobs = self.files.blobs
        for _ in range(3):  # the task may move between looking and acting
            found = self._locate(task_id)
            if found is None or found[1] is TaskState.DEAD:
                return CancelOutcome.NOT_FOUND
            path, state, _, _, q = found
            if state is TaskState.ACTIVE:
                blobs.write(f"{q.active}/{task_id}.cancel", b"1")
                return CancelOutcome.REQUESTED
            if blobs.delete(path):
                blobs.delete(f"index/{task_id}")
                return CancelOutcome.CANCELLED
        return CancelOutcome.NOT_FOUND

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        result: list[QueueStats] = await self._run(self._stats, queues)
        return result

    def _stats(self, queues: Sequence[str] | None) -> list[QueueStats]:
        blobs = self.files.blobs
        names = sorted(set(queues) if queues is not None else blobs.list("queues"))
        now_us = time.time() * 1_000_000
        found: list[QueueStats] = []
        for name in names:
            q = _Q(name)
            ready = delayed = 0
            for entry in blobs.list(q.pending):
                parsed = _parse_pending(entry)
                if parsed is not None:
                    if parsed[1] <= now_us:
                        ready += 1
                    else:
                        delayed += 1
            active = sum(1 for n in blobs.list(q.active) if n.endswith(".task"))
            dead = len(blobs.list(q.dead))
            stats = QueueStats(queue=name, ready=ready, delayed=delayed, active=active, dead=dead)
            if queues is not None or stats.pending or active or dead:
                found.append(stats)
        return found

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        result: list[TaskInfo] = await self._run(self._list, queue, state, limit)
        return result

    def _list(self, queue: str, state: TaskState, limit: int) -> list[TaskInfo]:
        q = _Q(queue)
        directory = {
            TaskState.PENDING: q.pending,
            TaskState.ACTIVE: q.active,
            TaskState.DEAD: q.dead,
        }
        names = [n for n in self.files.blobs.list(directory[state]) if n.endswith(".task")]
        infos: list[TaskInfo] = []
        for name in sorted(names) if state is TaskState.PENDING else names:
            info = self._info(f"{directory[state]}/{name}", state, _attempt_of(name, state), q)
            if info is not None:
                infos.append(info)
        if state is not TaskState.PENDING:
            infos.sort(key=lambda i: (i.task.enqueued_at, i.task.id))
        return infos[:limit]

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        count: int = await self._run(self._purge, queue, list(states))
        return count

    def _purge(self, queue: str, states: list[TaskState]) -> int:
        q, blobs, count = _Q(queue), self.files.blobs, 0
        for state, directory in ((TaskState.PENDING, q.pending), (TaskState.DEAD, q.dead)):
            if state not in states:
                continue
            for name in blobs.list(directory):
                if blobs.delete(f"{directory}/{name}"):
                    stem = name.split(".")[0]
                    task_id = stem.split("-", 2)[2] if state is TaskState.PENDING else stem
                    blobs.delete(f"index/{task_id}")
                    count += 1
        return count

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        count: int = await self._run(self._requeue, queue, task_ids)
        if count:
            self.files.waiters.wake(f"q:{queue}")
        return count

    def _requeue(self, queue: str, task_ids: Sequence[str] | None) -> int:
        q, blobs, count = _Q(queue), self.files.blobs, 0
        wanted = None if task_ids is None else set(task_ids)
        now_us = int(time.time() * 1_000_000)
        for name in blobs.list(q.dead):
            parts = name.split(".")
            if len(parts) != 3 or parts[2] != "task":
                continue  # a corrupt record stays where it is, for inspection
            task_id, attempt = parts[0], int(parts[1])
            if wanted is not None and task_id not in wanted:
                continue
            stored = self._load_task(f"{q.dead}/{name}", q, task_id, attempt)
            if stored is None:
                continue
            source, target = f"{q.dead}/{name}", f"{q.pending}/{_key(stored.task, now_us)}.0.task"
            if getattr(stored, "deliveries", None) is not None:  # (a pickle of layout 2 lacks it)
                moved = blobs.rename(source, target)  # the count goes with the content
                if moved:
                    self._listings.forget(q.pending)
            else:  # a dead letter of layout 2: its count is its name's attempt, write it down
                kept = StoredTask(
                    task=stored.task,
                    last_error=stored.last_error,
                    deliveries=prior_deliveries(stored, attempt, active=False),
                )
                moved = self._move(source, target, kept)
            count += moved
        return count


def _new_lease(
    task_id: str, token: str, expires_us: int, attempt: int, worker_id: str, delivery: int
) -> Lease:
    return Lease(
        task_id=task_id,
        token=token,
        expires_at=from_timestamp(expires_us / 1_000_000),
        attempt=attempt,
        worker_id=worker_id,
        delivery=delivery,
    )


def _released(stored: StoredTask, active_attempt: int, last_error: str | None) -> StoredTask:
    """The content of a task file leaving ``active/``: the claim it was under is counted."""
    delivered = prior_deliveries(stored, active_attempt, active=True) + 1
    return StoredTask(task=stored.task, last_error=last_error, deliveries=delivered)


def _task_id_of(name: str, state: TaskState) -> str:
    if state is TaskState.PENDING:
        parsed = _parse_pending(name)
        return "" if parsed is None else parsed[0]
    return name.split(".")[0]


def _parse_pending(name: str) -> tuple[str, int, int] | None:
    """``(task id, eta µs, attempt)`` from a pending file name."""
    parts = name.split(".")
    if len(parts) != 3 or parts[2] != "task":
        return None
    key = parts[0].split("-", 2)
    if len(key) != 3:
        return None
    try:
        return key[2], int(key[1]), int(parts[1])
    except ValueError:
        return None


def _attempt_of(name: str, state: TaskState) -> int:
    if state is TaskState.PENDING:
        parsed = _parse_pending(name)
        return 0 if parsed is None else parsed[2]
    return int(name.split(".")[1])


def _age(files: FileStore, path: str) -> float:
    blobs: Any = files.blobs
    root = getattr(blobs, "root", None)
    if root is None or not blobs.atomic_rename:
        return 0.0
    try:
        return time.time() - os.stat(os.path.join(root, path)).st_ctime
    except FileNotFoundError:
        return 0.0
