"""The NATS task queue: tickets in a JetStream work-queue stream, state in a KV record.

* **Tickets.** Each pending task has a ticket in the ``<prefix>_TASKS`` work-queue stream, on the
  subject ``<prefix>.tasks.<queue>.p<level>`` of its queue and priority (one durable pull
  consumer per subject; ``claim`` fetches higher levels first). Enqueue publishes it with
  ``Nats-Msg-Id: <task id>.<revision>``, so a publish retried within the duplicate window is
  stored once.
* **State.** A KV record per task (``t.<id>`` in ``<prefix>_tasks``) says what JetStream cannot:
  state, attempt, delivery count, lease token and expiry, last error, cancel flag. Every change
  is a compare-and-set on the record's revision: that is the fence. A claim moves the record
  from the revision the ticket carries to ``active`` with a new token and ``delivery + 1``, so
  ``Lease.delivery`` grows by one per claim and nothing resets it.
* **Leases.** The claimed ticket stays unacknowledged while its task runs: ``extend`` sends
  ``in_progress`` (resetting the consumer's ``AckWait``) besides moving the record's expiry, and
  the finishing call acknowledges it. A worker that dies stops both; its ticket comes back when
  AckWait runs out, and the next claimer finds the record's lease expired and takes the task
  over. ``recover_expired`` finds expired per-claim leases sooner through a small lease index
  (``l.<id>`` keys) and publishes a new ticket.
* **Delays.** A ticket of a task whose eta (or retry time) is ahead is ``nak``-ed with that
  delay, so JetStream redelivers it when it is due (``Nak`` with delay; message scheduling of
  nats-server 2.12+ would hold it too, but needs a stream option the server must allow and a
  schedule message per task to cancel).
* **Dead letters.** The consumers' ``MaxDeliver`` stops a ticket that keeps being redelivered;
  its max-deliveries advisory dead-letters the task's record if a crash loop caused it. Dead
  tasks stay as records in state ``dead`` (listed, requeued) and a copy goes to ``<prefix>_DEAD``.
* **Inspection** (``get``, ``stats``, ``list_tasks``, ``purge``, ``requeue_dead``) reads the KV
  records: ``get`` is one read, the others scan every task record (O(tasks in the bucket)).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs
import nats.js.errors
import orjson
from attrs import define
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.kv import KeyValue
from omniq.ids import new_id
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
from omniq.storage.wakeup import Waiters

from omniq_nats.connection import connection_for, nats_errors
from omniq_nats.pull import Puller
from omniq_nats.records import StateRecord, from_epoch

__all__ = ["NATSTaskQueue"]

log = get_logger(__name__)

_LEVELS_TTL = 1.0
"""Seconds a queue's known priority levels are trusted before they are read again (a level
another process opened is seen within this time)."""
_SETTLING = 0.1
"""Seconds after a ticket was heard of during which an empty claim is tried again soon."""
_CHUNK = 256
"""Concurrent requests of one batch operation."""


@define
class _Held:
    """A lease this process holds: the ticket to acknowledge and the record's revision."""

    msg: Msg | None
    revision: int
    record: StateRecord
    deleting: bool = False
    """An ack's delete was sent and its reply did not come: if the record is gone when the ack
    is retried, that delete was this lease's own."""


class NATSTaskQueue(TaskQueueStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.PUSH_WAKEUP}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.conn = connection_for(ctx)
        self.names = self.conn.names
        self._kv: KeyValue | None = None
        self._puller: Puller | None = None
        self._held: dict[str, _Held] = {}
        self._levels: dict[str, tuple[float, set[int]]] = {}
        self._consumers: set[str] = set()
        self._waiters: Waiters[str] = Waiters()
        self._wake_subs: dict[str, Subscription] = {}
        self._due: dict[str, float] = {}
        self._advisory: Subscription | None = None
        self._news: dict[str, int] = {}
        """Per queue: tickets published by this process or heard of on the queue's subjects."""
        self._drained: dict[str, int] = {}
        self._heard: dict[str, float] = {}
        """Per queue: when the last ticket was heard of (``time.monotonic``)."""
        """Per queue: ``_news`` as it was when a claim began that found the queue empty."""

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "connect() first"
        return self._kv

    async def connect(self) -> None:
        if self._kv is not None:
            return
        await self.conn.connect()
        await self.conn.stream(self.conn.work_stream())
        await self.conn.stream(
            StreamConfig(
                name=self.names.dead_stream,
                subjects=[f"{self.names.prefix}.dead.>"],
                max_age=30 * 24 * 3600.0,
            )
        )
        self._kv = await self.conn.bucket(self.names.state_bucket)
        timeout = self.conn.options.request_timeout
        self._puller = Puller(self.conn.nc, self.names.task_stream, timeout)
        await self._puller.start()
        self._advisory = await self.conn.nc.subscribe(
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.names.task_stream}.>",
            cb=self._on_max_deliveries,
        )

    async def close(self) -> None:
        for sub in [*self._wake_subs.values(), self._advisory]:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        self._wake_subs.clear()
        self._advisory = None
        if self._puller is not None:
            await self._puller.stop()
            self._puller = None
        self._kv = None
        self._held.clear()

    # -- records -------------------------------------------------------------------------------

    @staticmethod
    def _key(task_id: str) -> str:
        return f"t.{task_id}"

    async def _read(self, task_id: str) -> tuple[StateRecord, int] | None:
        found = await self._read_raw(task_id)
        if found is None or found[0] is None:
            return None
        return found[0], found[1]

    async def _read_raw(self, task_id: str) -> tuple[StateRecord | None, int] | None:
        """The record and its revision; the record ``None`` if it cannot be decoded."""
        try:
            entry = await self.kv.get(self._key(task_id))
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        if entry.value is None or entry.revision is None:
            return None
        try:
            return StateRecord.decode(entry.value), entry.revision
        except Exception:
            return None, entry.revision

    async def _cas(self, task_id: str, record: StateRecord, revision: int) -> int | None:
        """Write ``record`` if the stored revision is still ``revision``; its new revision."""
        record.changed = time.time()
        try:
            return await self.kv.update(self._key(task_id), record.encode(), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return None
        except nats.js.errors.APIError as exc:
            if exc.err_code == 10071:  # wrong last sequence
                return None
            raise

    async def _cas_delete(self, task_id: str, revision: int) -> bool:
        try:
            await self.kv.delete(self._key(task_id), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except nats.js.errors.APIError as exc:
            if exc.err_code == 10071:
                return False
            raise
        return True

    async def _lease_index(self, task_id: str, record: StateRecord | None) -> None:
        """Write (or purge) the lease index entry ``l.<id>`` without waiting for JetStream's
        reply: it is a plain publish into the bucket's stream, which stores the writes of one
        connection in order, so it lands before the record change sent after it. A lost entry
        only delays recovery to the server's redelivery after AckWait."""
        subject = f"$KV.{self.names.state_bucket}.l.{task_id}"
        if record is None:
            headers = {"KV-Operation": "PURGE", "Nats-Rollup": "sub"}
            await self.conn.nc.publish(subject, b"", headers=headers)
        else:
            await self.conn.nc.publish(subject, orjson.dumps([record.expires, record.token]))

    # -- levels and consumers ------------------------------------------------------------------

    async def _ensure_level(self, queue: str, priority: int) -> None:
        name = self.names.consumer(queue, priority)
        if name in self._consumers:
            return
        config = ConsumerConfig(
            durable_name=name,
            filter_subject=self.names.task_subject(queue, priority),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.conn.options.ack_wait,
            max_deliver=self.conn.options.max_deliveries,
            max_ack_pending=-1,
            max_waiting=4096,
        )
        js = self.conn.js
        await nats_errors(self.conn.where, lambda: js.add_consumer(self.names.task_stream, config))
        self._consumers.add(name)
        key = f"q.{queue}"
        while True:
            try:
                entry = await self.kv.get(key)
                levels = set(orjson.loads(entry.value or b"[]"))
                revision = entry.revision or 0
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                levels, revision = set(), 0
            if priority in levels:
                break
            levels.add(priority)
            try:
                await self.kv.update(key, orjson.dumps(sorted(levels)), last=revision)
                break
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.APIError):
                continue
        checked, known = self._levels.get(queue, (0.0, set()))
        self._levels[queue] = (checked, known | {priority})

    async def _queue_levels(self, queue: str) -> list[int]:
        cached = self._levels.get(queue)
        now = time.monotonic()
        if cached is None or now - cached[0] > _LEVELS_TTL:
            try:
                entry = await self.kv.get(f"q.{queue}")
                levels = set(orjson.loads(entry.value or b"[]"))
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                levels = set()
            known = cached[1] if cached else set()
            cached = (now, levels | known)
            self._levels[queue] = cached
        return sorted(cached[1], reverse=True)

    # -- producing -----------------------------------------------------------------------------

    async def enqueue(self, task: Task) -> bool:
        return await self.enqueue_many([task]) == 1

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        if not tasks:
            return 0
        async with _errors(self.conn.where):
            for level in {(t.queue, t.priority) for t in tasks}:
                await self._ensure_level(*level)
            records = [StateRecord.new(task) for task in tasks]
            encoded = [record.encode() for record in records]
            for task, data in zip(tasks, encoded, strict=True):
                self.conn.check_payload(len(data), f"task {task.id}")
            revisions = await self._create_many(records, encoded)
            # tickets in the tasks' order: within a level, claims follow the stream's order
            tickets = [
                self._ticket(record, revision, data)
                for record, revision, data in zip(records, revisions, encoded, strict=True)
                if revision > 0
            ]
            for outcome in await self.conn.publish_many(tickets):
                if isinstance(outcome, BaseException):
                    raise outcome
            for record, revision in zip(records, revisions, strict=True):
                if revision < 0:  # already queued: heal a lost ticket of a pending record
                    await self._republish_if_pending(record.task_id)
            self._note_ready(records)
            now = time.time()
            for queue in {r.queue for r in records if r.ready <= now}:
                self._news[queue] = self._news.get(queue, 0) + 1
                self._heard[queue] = time.monotonic()
        return sum(1 for revision in revisions if revision > 0)

    async def _create(self, task_id: str, data: bytes) -> int:
        try:
            return await self.kv.create(self._key(task_id), data)
        except nats.js.errors.KeyWrongLastSequenceError:
            return -1

    async def _create_many(self, records: list[StateRecord], encoded: list[bytes]) -> list[int]:
        """KV ``create`` of each record, concurrently: its revision, or -1 where the task is
        already in the queue. (Not ``publish_async``: nats-py 2.16 raises a refused
        expected-sequence inside its reply handler, so that future never resolves.)"""
        return await _chunked(
            [self._create(r.task_id, d) for r, d in zip(records, encoded, strict=True)]
        )

    def _ticket(
        self, record: StateRecord, revision: int, data: bytes
    ) -> tuple[str, bytes, dict[str, str]]:
        headers = {"Nats-Msg-Id": f"{record.task_id}.{revision}", "Omniq-Rev": str(revision)}
        return self.names.task_subject(record.queue, record.priority), data, headers

    async def _publish_ticket(self, record: StateRecord, revision: int, data: bytes) -> None:
        subject, data, headers = self._ticket(record, revision, data)
        await self.conn.js.publish(subject, data, headers=headers)

    async def _republish_if_pending(self, task_id: str) -> None:
        found = await self._read(task_id)
        if found is not None and found[0].state == TaskState.PENDING:
            await self._publish_ticket(found[0], found[1], found[0].encode())

    def _note_ready(self, records: Iterable[StateRecord]) -> None:
        now = time.time()
        for record in records:
            if record.ready > now:
                queue = record.queue
                self._due[queue] = min(self._due.get(queue, record.ready), record.ready)

    # -- consuming -----------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        claimed: list[ClaimedTask] = []
        if limit <= 0:
            return claimed
        drained: set[str] = set()
        news = dict(self._news)  # before the fetches: what arrives later is news to the next wait
        async with _errors(self.conn.where):
            for queue in queues:
                for priority in await self._queue_levels(queue):
                    level: list[ClaimedTask] = []
                    consumer = self.names.consumer(queue, priority)
                    while len(claimed) + len(level) < limit:
                        want = limit - len(claimed) - len(level)
                        assert self._puller is not None
                        try:
                            msgs = await self._puller.fetch(consumer, want)
                        except TimeoutError:
                            msgs = []
                        except nats.js.errors.NotFoundError:
                            msgs = []
                        if not msgs:
                            break
                        taken = await _chunked(
                            [self._take(msg, lease_seconds, worker_id) for msg in msgs]
                        )
                        level += [item for item in taken if item is not None]
                        if len(msgs) < want:
                            break
                    level.sort(key=lambda c: (c.task.eta, c.task.id))
                    claimed += level
                    if len(claimed) >= limit:
                        break
                if len(claimed) >= limit:
                    break
                drained.add(queue)
        for queue in drained:
            self._drained[queue] = news.get(queue, 0)
        return claimed

    async def _take(self, msg: Msg, lease_seconds: float, worker_id: str) -> ClaimedTask | None:
        """Claim the task of ``msg`` if its record allows; otherwise drop or delay the ticket."""
        now = time.time()
        try:
            meta = msg.metadata
            seq, delivered = meta.sequence.stream, meta.num_delivered
            headers = msg.headers or {}
            revision = int(headers.get("Omniq-Rev", "0"))
            ticket = StateRecord.decode(msg.data)
        except Exception:
            await msg.term()
            return None
        current: tuple[StateRecord, int] | None = None
        if delivered == 1 and revision:
            current = (ticket, revision)  # optimistic: the record as published
        for _ in range(3):
            if current is None:
                raw = await self._read_raw(ticket.task_id)
                if raw is not None and raw[0] is None:  # damaged: set aside, the ticket's copy
                    await self._corrupt(ticket, raw[1], msg, "its KV record is not JSON")
                    return None
                current = None if raw is None or raw[0] is None else (raw[0], raw[1])
            if current is None:
                await msg.term()  # cancelled, purged or finished: a stale ticket
                return None
            record, rev = current
            takeover = False
            if record.state == TaskState.DEAD:
                await msg.term()
                return None
            if record.state == TaskState.ACTIVE:
                if record.seq != seq:
                    await msg.term()  # another ticket holds this task
                    return None
                if record.expires > now:  # AckWait ran out before the lease did
                    await msg.nak(delay=max(record.expires - now, 0.05))
                    return None
                takeover = True  # the holder died: the server redelivered its ticket
            elif record.ready > now + 0.001:
                await msg.nak(delay=record.ready - now)
                self._note_ready([record])
                return None
            try:
                task = record.decoded_task()
            except Exception as exc:
                await self._corrupt(record, rev, msg, f"its task does not decode: {exc!r:.200}")
                return None
            if takeover and record.delivery >= self.conn.options.max_deliveries:
                record.state, record.token = TaskState.DEAD.value, None
                record.error = expired_reason(record.delivery, True)
                if await self._cas(ticket.task_id, record, rev) is not None:
                    await msg.term()
                    await self._lease_index(ticket.task_id, None)
                    return None
                current = None
                continue
            claimed = StateRecord(
                task=record.task,
                state=TaskState.ACTIVE.value,
                attempt=record.attempt if takeover else record.attempt + 1,
                delivery=record.delivery + 1,
                token=new_id(),
                expires=now + lease_seconds,
                worker=worker_id,
                error=record.error,
                cancel=record.cancel,
                ready=record.ready,
                seq=seq,
            )
            # the lease index first: a claimer killed between the two writes leaves an index
            # entry that recover_expired drops (its token is not the record's), never an
            # active record that only AckWait would bring back
            await self._lease_index(ticket.task_id, claimed)
            new_rev = await self._cas(ticket.task_id, claimed, rev)
            if new_rev is None:
                current = None  # changed meanwhile: read it and decide again
                continue
            assert claimed.token is not None
            self._held[claimed.token] = _Held(msg, new_rev, claimed)
            lease = Lease(
                task_id=task.id,
                token=claimed.token,
                expires_at=from_epoch(claimed.expires),
                attempt=claimed.attempt,
                worker_id=worker_id,
                cancel_requested=claimed.cancel,
                delivery=claimed.delivery,
            )
            return ClaimedTask(task=task, lease=lease)
        return None

    async def _corrupt(self, record: StateRecord, revision: int, msg: Msg, problem: str) -> None:
        """Move an undecodable task to the dead letters (kept for inspection)."""
        dead = attrs.evolve(
            record, state=TaskState.DEAD.value, error=CORRUPT_RECORD, token=None, worker=None
        )
        await self._cas(record.task_id, dead, revision)
        await msg.term()
        log.warning(
            "moved a task that cannot be decoded to the dead letters",
            task_id=record.task_id,
            queue=record.queue,
            reason=CORRUPT_RECORD,
            error=problem,
        )

    # -- held leases ---------------------------------------------------------------------------

    async def _current(self, lease: Lease) -> _Held | None:
        """The lease's record and revision if ``lease`` is still the task's current one."""
        held = self._held.get(lease.token)
        if held is not None:
            return held
        if not _valid_id(lease.task_id):
            return None
        found = await self._read(lease.task_id)
        if found is None or found[0].token != lease.token or found[0].state != "active":
            return None
        return _Held(None, found[1], found[0])

    async def _change(self, lease: Lease, change: Any) -> tuple[_Held, StateRecord] | None:
        """Apply ``change(record) -> new record`` by CAS while ``lease`` is current (a cancel
        request changes the record meanwhile: then the change is made on the new one)."""
        held = await self._current(lease)
        msg = held.msg if held is not None else None
        for _ in range(5):
            if held is None:
                self._held.pop(lease.token, None)
                return None
            updated = change(attrs.evolve(held.record))
            rev = await self._cas(lease.task_id, updated, held.revision)
            if rev is not None:
                held.revision, held.record, held.msg = rev, updated, held.msg or msg
                return held, updated
            self._held.pop(lease.token, None)
            held = await self._current(lease)
            if held is not None:
                held.msg = msg
                self._held[lease.token] = held
        return None

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        keys = list(queues)
        future = self._waiters.register(keys)
        try:
            new = [q for q in keys if q not in self._wake_subs]
            for queue in new:
                self._wake_subs[queue] = await self.conn.nc.subscribe(
                    f"{self.names.task_subject_root}.{queue}.*", cb=self._on_ticket
                )
            if any(self._news.get(q, 0) > self._drained.get(q, 0) for q in keys):
                return  # a ticket came after the last claim that found the queue empty
            if new and await self._any_pending(new):
                return
            # A ticket reaches this subscription when the server routes it, which can be before
            # the stream has stored it: a claim right after the wake-up may find nothing yet.
            # So for a moment after the last ticket heard of, wait only briefly and look again.
            heard = max((self._heard.get(q, 0.0) for q in keys), default=0.0)
            if time.monotonic() - heard < _SETTLING:
                timeout = min(timeout, _SETTLING / 10)
            now = time.time()
            due = [self._due[q] for q in keys if q in self._due]
            if due:
                first = min(due)
                if first <= now:
                    for q in keys:
                        if self._due.get(q, now + 1) <= now:
                            self._due.pop(q, None)
                    return
                timeout = min(timeout, first - now + 0.01)
            await self._waiters.wait(future, timeout)
        finally:
            self._waiters.unregister(keys, future)

    async def _any_pending(self, queues: Sequence[str]) -> bool:
        """Whether a consumer of ``queues`` holds a ticket nobody fetched (checked once, when
        this process starts listening to a queue: later tickets wake it by themselves)."""
        js = self.conn.js
        for queue in queues:
            for priority in await self._queue_levels(queue):
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    info = await js.consumer_info(
                        self.names.task_stream, self.names.consumer(queue, priority)
                    )
                    if info.num_pending:
                        return True
        return False

    async def _on_ticket(self, msg: Msg) -> None:
        parts = msg.subject.split(".")
        if len(parts) >= 2:
            queue = parts[-2]
            self._news[queue] = self._news.get(queue, 0) + 1
            self._heard[queue] = time.monotonic()
            self._waiters.wake(queue)

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        async with _errors(self.conn.where):
            return await _chunked([self._extend(lease, lease_seconds) for lease in leases])

    async def _extend(self, lease: Lease, lease_seconds: float) -> Lease | None:
        expires = time.time() + lease_seconds

        def change(record: StateRecord) -> StateRecord:
            record.expires = expires
            return record

        done = await self._change(lease, change)
        if done is None:
            self._held.pop(lease.token, None)
            return None
        held, record = done
        if held.msg is not None:
            with contextlib.suppress(Exception):
                await held.msg.in_progress()
        await self._lease_index(lease.task_id, record)
        return Lease(
            task_id=lease.task_id,
            token=lease.token,
            expires_at=from_epoch(expires),
            attempt=record.attempt,
            worker_id=lease.worker_id,
            cancel_requested=record.cancel,
            delivery=record.delivery,
        )

    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        async with _errors(self.conn.where):
            found = await _chunked([self._read(lease.task_id) for lease in leases])
        return [
            item is not None and item[0].token == lease.token and item[0].cancel
            for lease, item in zip(leases, found, strict=True)
        ]

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        async with _errors(self.conn.where):
            return await _chunked([self._ack(lease) for lease in leases])

    async def _ack(self, lease: Lease) -> bool:
        mine = self._held.get(lease.token)
        if mine is not None and mine.deleting:  # a retry after an ack whose reply was lost
            found = await self._read(lease.task_id)
            if found is None:  # that delete landed: the ack was this lease's
                self._held.pop(lease.token, None)
                if mine.msg is not None:
                    with contextlib.suppress(Exception):
                        await mine.msg.ack()
                await self._lease_index(lease.task_id, None)
                return True
            mine.deleting = False
            if found[0].token != lease.token or found[0].state != TaskState.ACTIVE:
                self._held.pop(lease.token, None)
                return False
            mine.record, mine.revision = found
        held = await self._current(lease)
        for _ in range(5):
            if held is None:
                self._held.pop(lease.token, None)
                return False
            held.deleting = True  # stays set if the reply is lost (the call raises)
            deleted = await self._cas_delete(lease.task_id, held.revision)
            held.deleting = False
            if deleted:
                break
            msg = held.msg
            self._held.pop(lease.token, None)
            held = await self._current(lease)
            if held is not None:
                held.msg = msg
        else:
            return False
        self._held.pop(lease.token, None)
        if held.msg is not None:
            with contextlib.suppress(Exception):
                await held.msg.ack()
        await self._lease_index(lease.task_id, None)
        return True

    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        ready = retry_at.timestamp()

        def change(record: StateRecord) -> StateRecord:
            record.state, record.token, record.worker = TaskState.PENDING.value, None, None
            record.ready, record.cancel = ready, False
            if error is not None:
                record.error = error
            if not count_attempt:
                record.attempt = max(record.attempt - 1, 0)
            return record

        async with _errors(self.conn.where):
            return await self._requeue(lease, change)

    async def _requeue(self, lease: Lease, change: Any) -> bool:
        """Move a held task back to pending: the record, then a new ticket, then the old one
        acknowledged (a crash in between leaves the old ticket to be redelivered)."""
        done = await self._change(lease, change)
        self._held.pop(lease.token, None)
        if done is None:
            return False
        held, record = done
        await self._publish_ticket(record, held.revision, record.encode())
        self._note_ready([record])
        if held.msg is not None:
            with contextlib.suppress(Exception):
                await held.msg.ack()
        await self._lease_index(lease.task_id, None)
        return True

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        def change(record: StateRecord) -> StateRecord:
            record.state, record.token, record.error = TaskState.DEAD.value, None, reason
            return record

        async with _errors(self.conn.where):
            done = await self._change(lease, change)
            self._held.pop(lease.token, None)
            if done is None:
                return False
            held, record = done
            if held.msg is not None:
                with contextlib.suppress(Exception):
                    await held.msg.term()
            await self._copy_dead(record)
            await self._lease_index(lease.task_id, None)
        return True

    async def _copy_dead(self, record: StateRecord) -> None:
        with contextlib.suppress(Exception):
            await self.conn.js.publish(self.names.dead_subject(record.queue), record.encode())

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        now = time.time()
        async with _errors(self.conn.where):
            index = await _scan(self.kv, "l.>")
            expired = [(key[2:], value) for key, value in index if orjson.loads(value)[0] <= now][
                :limit
            ]
            results = await _chunked(
                [self._recover(task_id, value, now, max_deliveries) for task_id, value in expired]
            )
        return [r for r in results if r is not None]

    async def _recover(
        self, task_id: str, index_value: bytes, now: float, max_deliveries: int
    ) -> RecoveredTask | None:
        token = orjson.loads(index_value)[1]
        found = await self._read(task_id)
        if found is None or found[0].token != token or found[0].state != "active":
            await self._lease_index(task_id, None)
            return None
        record, rev = found
        if record.expires > now:
            return None
        dead = record.delivery >= max_deliveries
        held = self._held.pop(token, None)
        updated = attrs.evolve(record)
        updated.token, updated.worker = None, None
        updated.error = expired_reason(record.delivery, dead)
        if dead:
            updated.state = TaskState.DEAD.value
        else:
            updated.state, updated.ready = TaskState.PENDING.value, now
            updated.attempt = max(record.attempt - 1, 0)
        new_rev = await self._cas(task_id, updated, rev)
        if new_rev is None:
            return None
        if dead:
            await self._copy_dead(updated)
        else:
            await self._publish_ticket(updated, new_rev, updated.encode())
        if held is not None and held.msg is not None:
            with contextlib.suppress(Exception):
                await (held.msg.term() if dead else held.msg.ack())
        await self._lease_index(task_id, None)
        return RecoveredTask(
            task_id=task_id,
            queue=record.queue,
            attempt=updated.attempt,
            dead=dead,
            delivery=record.delivery,
        )

    async def _on_max_deliveries(self, msg: Msg) -> None:
        """JetStream gave up on a ticket (``MaxDeliver``): dead-letter its task if the ticket
        still holds it (a crash loop), or give a pending task a new ticket."""
        try:
            advisory = orjson.loads(msg.data)
            seq = int(advisory["stream_seq"])
            deliveries = int(advisory.get("deliveries", 0))
            stored = await self.conn.js.get_msg(self.names.task_stream, seq)
            ticket = StateRecord.decode(stored.data or b"")
            found = await self._read(ticket.task_id)
            if found is not None:
                record, rev = found
                if record.state == "active" and record.seq == seq:
                    record.state, record.token = TaskState.DEAD.value, None
                    record.error = expired_reason(max(deliveries, record.delivery), True)
                    if await self._cas(ticket.task_id, record, rev) is not None:
                        await self._copy_dead(record)
                        await self._lease_index(ticket.task_id, None)
                elif record.state == "pending":
                    await self._publish_ticket(record, rev, record.encode())
            await self.conn.js.delete_msg(self.names.task_stream, seq)
        except Exception as exc:
            log.debug("max-deliveries advisory not handled", error=repr(exc))

    # -- inspecting and managing ---------------------------------------------------------------

    async def _records(self) -> list[tuple[StateRecord, int]]:
        out = []
        for _key, value, revision in await _scan(self.kv, "t.>", revisions=True):
            with contextlib.suppress(Exception):
                out.append((StateRecord.decode(value), revision))
        return out

    async def get(self, task_id: str) -> TaskInfo | None:
        from omniq import names

        try:
            names.validate_task_id(task_id)
        except Exception:
            return None
        async with _errors(self.conn.where):
            found = await self._read(task_id)
        if found is None:
            return None
        try:
            return found[0].info(time.time())
        except Exception:
            return None

    async def cancel(self, task_id: str) -> CancelOutcome:
        from omniq import names

        try:
            names.validate_task_id(task_id)
        except Exception:
            return CancelOutcome.NOT_FOUND
        async with _errors(self.conn.where):
            for _ in range(5):
                found = await self._read(task_id)
                if found is None:
                    return CancelOutcome.NOT_FOUND
                record, rev = found
                if record.state == TaskState.PENDING:
                    if await self._cas_delete(task_id, rev):
                        return CancelOutcome.CANCELLED
                elif record.state == TaskState.ACTIVE:
                    if record.cancel:
                        return CancelOutcome.REQUESTED
                    record.cancel = True
                    if await self._cas(task_id, record, rev) is not None:
                        return CancelOutcome.REQUESTED
                else:
                    return CancelOutcome.NOT_FOUND
        return CancelOutcome.NOT_FOUND

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        now = time.time()
        counts: dict[str, dict[str, int]] = {}
        if queues is not None:
            for queue in queues:
                counts[queue] = {"ready": 0, "delayed": 0, "active": 0, "dead": 0}
        async with _errors(self.conn.where):
            records = await self._records()
        for record, _rev in records:
            queue = record.queue
            if queues is not None and queue not in counts:
                continue
            bucket = counts.setdefault(queue, {"ready": 0, "delayed": 0, "active": 0, "dead": 0})
            if record.state == "pending":
                bucket["ready" if record.ready <= now else "delayed"] += 1
            else:
                bucket[record.state] += 1
        return [QueueStats(queue=q, **c) for q, c in sorted(counts.items())]

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        async with _errors(self.conn.where):
            records = [r for r, _ in await self._records() if r.queue == queue and r.state == state]
        if state == TaskState.PENDING:
            records.sort(key=lambda r: (-r.priority, r.ready, r.task_id))
        else:
            records.sort(key=lambda r: (r.changed, r.task_id))
        now = time.time()
        return [r.info(now) for r in records[:limit]]

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        wanted = {TaskState(s).value for s in states} - {TaskState.ACTIVE.value}
        async with _errors(self.conn.where):
            records = await self._records()
            deletions = [
                self._cas_delete(r.task_id, rev)
                for r, rev in records
                if r.queue == queue and r.state in wanted
            ]
            done = await _chunked(deletions)
        return sum(done)

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        async with _errors(self.conn.where):
            if task_ids is None:
                records = [(r, rev) for r, rev in await self._records() if r.queue == queue]
            else:
                from omniq import names

                found = []
                for task_id in task_ids:
                    with contextlib.suppress(Exception):
                        names.validate_task_id(task_id)
                        item = await self._read(task_id)
                        if item is not None and item[0].queue == queue:
                            found.append(item)
                records = found
            count = 0
            now = time.time()
            for record, rev in records:
                if record.state != TaskState.DEAD:
                    continue
                record.state, record.attempt, record.ready = TaskState.PENDING.value, 0, now
                record.token, record.worker, record.cancel = None, None, False
                new_rev = await self._cas(record.task_id, record, rev)
                if new_rev is not None:
                    await self._ensure_level(record.queue, record.priority)
                    await self._publish_ticket(record, new_rev, record.encode())
                    count += 1
        return count


async def _chunked(calls: list[Any]) -> list[Any]:
    """Await ``calls`` (coroutines) concurrently, at most :data:`_CHUNK` at a time, in order."""
    out: list[Any] = []
    for start in range(0, len(calls), _CHUNK):
        out += await asyncio.gather(*calls[start : start + _CHUNK])
    return out


async def _scan(kv: KeyValue, subject: str, *, revisions: bool = False) -> list[Any]:
    """Every live key under ``subject`` with its value (and revision): an ephemeral consumer
    over the bucket's stream, last message per key, read until the count it started with is
    consumed (not nats-py's watcher, whose "caught up" marker can come early while the bucket
    is being written: a scan then missed records)."""
    bucket = kv._name  # nats-py keeps the bucket's name here
    js = kv._js
    nc = js._nc
    stream = f"KV_{bucket}"
    prefix = f"$KV.{bucket}."
    config = ConsumerConfig(
        filter_subject=prefix + subject,
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        inactive_threshold=30.0,
        mem_storage=True,
    )
    info = await js.add_consumer(stream, config)
    assert info.name is not None
    puller = Puller(nc, stream, 30.0)
    out: list[Any] = []
    try:
        pending = info.num_pending or 0
        while pending > 0:
            msgs = await puller.fetch(info.name, min(pending, 1000))
            if not msgs:
                break
            for msg in msgs:
                if msg.headers and msg.headers.get("KV-Operation") in ("DEL", "PURGE"):
                    continue
                key = msg.subject[len(prefix) :]
                if revisions:
                    out.append((key, msg.data, msg.metadata.sequence.stream))
                else:
                    out.append((key, msg.data))
            pending = msgs[-1].metadata.num_pending
    finally:
        await puller.stop()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, info.name)
    return out


@contextlib.asynccontextmanager
async def _errors(where: str) -> Any:
    from omniq_nats.connection import unavailable_as_storage_error

    async with unavailable_as_storage_error(where):
        yield


def _valid_id(task_id: str) -> bool:
    from omniq import names

    try:
        names.validate_task_id(task_id)
    except Exception:
        return False
    return True
