"""The NATS task queue: tickets in a JetStream work-queue stream, state in a KV record.

* **Tickets.** Each pending or running task has a ticket, carrying the whole task, in the
  ``<prefix>_TASKS`` work-queue stream on ``<prefix>.tasks.<queue>.p<level>.<task id>`` (one
  durable pull consumer per queue and level; ``claim`` fetches higher levels first). Enqueue is
  that one publish, refused by JetStream if any message about the id is in the stream (the
  expected last sequence of the subjects ``<prefix>.tasks.*.*.<id>`` is 0), pipelined in bulk.
* **State.** A KV record per claimed task (``t.<id>`` in ``<prefix>_tasks``): state, attempt,
  delivery count, lease token and expiry, last error, cancel flag, and the ticket it runs
  under. The first claim of a ticket creates it; every later change is a compare-and-set on
  its revision: that is the fence. The ack deletes it with a marker naming the finished
  ticket, so that ticket's redelivery (a lost ack) is dropped. A retried task's record stays,
  pending, and its new ticket names the record's revision (``Omniq-Rev``).
* **Leases.** The claimed ticket stays unacknowledged while its task runs: ``extend`` sends
  ``in_progress`` (resetting the consumer's ``AckWait``) besides moving the record's expiry.
  A worker that dies stops both; its ticket comes back when AckWait runs out, and the next
  claimer finds the record's lease expired and takes the task over. ``recover_expired`` finds
  expired per-claim leases sooner through a small lease index: one entry per claim batch
  (``w.<process>.<n>``: the batch's task ids, expiries and tokens), written with the batch's
  record creates and again by ``extend``, purged once the batch's tasks are finished (entries
  of a dead process remove themselves by their TTL). Entries ``l.<id>`` of earlier versions (one
  per claim) are still read.
* **Delays.** A ticket of a task whose eta (or retry time) is ahead is ``nak``-ed with that
  delay, so JetStream redelivers it when it is due.
* **Dead letters.** The consumers' ``MaxDeliver`` stops a ticket that keeps being redelivered;
  its max-deliveries advisory dead-letters the task if a crash loop caused it. Dead tasks stay
  as records in state ``dead`` (listed, requeued), with a copy in the task stream
  (``<prefix>.tasks.<queue>.dead.<id>``, read by no consumer) that keeps the id taken.
* **Completion**: with the app's results and events on the same connection, a batch's results
  and terminal events are published together, then the records' compare-and-sets, then the
  tickets' acks (:mod:`omniq_nats.completion`).
* **Inspection**: ``get`` is one or two reads (the record, else the ticket); ``stats``,
  ``list_tasks``, ``purge`` and ``requeue_dead`` scan the records and the queue's tickets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import nats.errors
import nats.js.errors
import orjson
from attrs import define
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue
from omniq.errors import StorageError
from omniq.ids import new_id
from omniq.logging import get_logger
from omniq.models.completion import Completion
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
from omniq.storage import Capability, EventStorage, ResultStorage, TaskQueueStorage
from omniq.storage.wakeup import Waiters

from omniq_nats.connection import connection_for, nats_errors
from omniq_nats.publisher import Message, Refused, Stored
from omniq_nats.pull import Puller
from omniq_nats.records import StateRecord, from_epoch

if TYPE_CHECKING:
    from omniq_nats.events import NATSEventStorage
    from omniq_nats.results import NATSResultStorage

__all__ = ["NATSTaskQueue"]

log = get_logger(__name__)

_LEVELS_TTL = 1.0
"""Seconds a queue's known priority levels are trusted before they are read again (a level
another process opened is seen within this time)."""
_SETTLING = 0.1
"""Seconds after a ticket was heard of during which an empty claim is tried again soon."""
_SETTLE_SECONDS = 0.05
"""Seconds after this process published a ready ticket during which a claim that finds its
queue empty asks again (JetStream may acknowledge a ticket before a pull can see it)."""
_CHUNK = 256
"""Concurrent requests of one batch operation."""
_INDEX_GRACE = 60.0
"""Seconds a lease index entry outlives the last expiry it lists (its ``Nats-TTL``): time for
the other processes' ``recover_expired`` to find the leases of a process that died."""


@define
class _Held:
    """A lease this process holds: the ticket to acknowledge and the record's revision."""

    msg: Msg | None
    revision: int
    record: StateRecord
    shard: str = ""
    """The lease index entry (claim batch) that lists this lease ("": none)."""
    term: float = 0.0
    """The lease's length in seconds, as claimed or last extended (0: not known)."""
    deleting: bool = False
    """An ack's delete was sent and its reply did not come: if the record is gone when the ack
    is retried, that delete was this lease's own."""


@define
class _State:
    """A task's KV entry: its record (``None`` if there is none, or it does not decode)."""

    record: StateRecord | None
    revision: int
    """The entry's revision; 0 if the key was never written."""
    done_seq: int = 0
    """For a deleted record: the last ticket of the run its deletion ended (0: none). Every
    ticket of that run has this sequence or a lower one (a retry's ticket is published after
    the ticket it replaces), and a later enqueue's ticket a higher one."""
    corrupt: bool = False


@define
class _Listed:
    """A task found by a scan: its record, and where it came from (a KV revision, or the
    sequence of a ticket that has no record)."""

    record: StateRecord
    revision: int
    seq: int


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
        """Per queue: ``_news`` as it was when a claim began that found the queue empty."""
        self._heard: dict[str, float] = {}
        """Per queue: when the last ticket was heard of (``time.monotonic``)."""
        self._published: dict[str, float] = {}
        """Per queue: when this process last published a ticket ready now (``monotonic``)."""
        self._process = new_id()
        self._shards: dict[str, set[str]] = {}
        """Lease index entries of this process: key -> tokens of held leases it lists."""
        self._shard_count = 0
        self._completing: tuple[NATSResultStorage, NATSEventStorage] | None = None
        self._recovered: set[str] = set()
        """Tokens of leases found in another process's index entry that were no longer current
        (or were recovered here): not read again while that entry lives."""

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
        self._kv = await self.conn.bucket(self.names.state_bucket, msg_ttl=True)
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

    async def _state(self, task_id: str) -> _State:
        """The task's KV entry as it is now (one direct get): its record, revision, and for a
        deleted record the ticket sequence its deletion finished."""
        subject = self.names.kv_subject(self._key(task_id))
        request = orjson.dumps({"last_by_subj": subject})
        msg = await self.conn.nc.request(
            f"$JS.API.DIRECT.GET.KV_{self.names.state_bucket}",
            request,
            timeout=self.conn.options.request_timeout,
        )
        headers = msg.headers or {}
        if headers.get("Status") == "404":
            return _State(None, 0)
        if "Status" in headers:
            raise nats.errors.TimeoutError  # 408/503: the server is not answering properly
        revision = int(headers.get("Nats-Sequence", "0"))
        if headers.get("KV-Operation") in ("DEL", "PURGE"):
            done = 0
            with contextlib.suppress(Exception):
                done = int(orjson.loads(msg.data).get("q", 0))
            return _State(None, revision, done_seq=done)
        try:
            return _State(StateRecord.decode(msg.data), revision)
        except Exception:
            return _State(None, revision, corrupt=True)

    async def _read(self, task_id: str) -> tuple[StateRecord, int] | None:
        state = await self._state(task_id)
        if state.record is None:
            return None
        return state.record, state.revision

    async def _write(self, task_id: str, record: StateRecord, expected: int) -> int | None:
        """Write ``record`` if the key's last revision is ``expected`` (0: no entry ever, or
        a deletion marker's revision); its new revision, ``None`` if it was changed."""
        record.changed = time.time()
        outcome = await self.conn.publisher.publish(
            self.names.kv_subject(self._key(task_id)),
            record.encode(),
            {"Nats-Expected-Last-Subject-Sequence": str(expected)},
        )
        return self._revision(outcome, f"task {task_id}")

    def _revision(self, outcome: Stored | Refused, what: str) -> int | None:
        if isinstance(outcome, Stored):
            return outcome.seq
        if outcome.wrong_last:
            return None
        raise StorageError(
            f"NATS refused a write of {what} ({outcome.description}) on {self.conn.where}"
        )

    async def _cas(self, task_id: str, record: StateRecord, revision: int) -> int | None:
        return await self._write(task_id, record, revision)

    def _done_marker(self, task_id: str, seq: int, revision: int) -> Message:
        """The deletion of a task's record, conditional on ``revision``, naming the last ticket
        of the run it ends (``seq``): a redelivery of that ticket, or of an older one of the
        same run, is then dropped."""
        headers = {
            "KV-Operation": "DEL",
            "Nats-Expected-Last-Subject-Sequence": str(revision),
            "Nats-TTL": self._marker_ttl,
        }
        return self.names.kv_subject(self._key(task_id)), orjson.dumps({"q": seq}), headers

    @property
    def _marker_ttl(self) -> str:
        """How long a deletion marker stays: long after the last redelivery of a ticket of
        its run can come (AckWait after its holder stopped), so markers do not pile up."""
        options = self.conn.options
        return f"{int(max(10 * options.ack_wait, options.duplicate_window, 60))}s"

    async def _cas_delete(self, task_id: str, revision: int, seq: int = 0) -> bool:
        outcome = await self.conn.publisher.publish(*self._done_marker(task_id, seq, revision))
        return self._revision(outcome, f"task {task_id}") is not None

    def _new_shard(self) -> str:
        self._shard_count += 1
        return f"w.{self._process}.{self._shard_count}"

    async def _write_shard(self, shard: str, leases: Sequence[StateRecord]) -> None:
        """Write the lease index entry ``shard`` listing ``leases`` (purge it if none) without
        waiting for JetStream's reply: it is a plain publish into the bucket's stream, which
        stores the writes of one connection in order, so it lands before a record change sent
        after it. A lost entry only delays recovery to the server's redelivery after AckWait."""
        subject = self.names.kv_subject(shard)
        if not leases:
            self._shards.pop(shard, None)
            headers = {"KV-Operation": "PURGE", "Nats-Rollup": "sub", "Nats-TTL": "1s"}
            await self.conn.nc.publish(subject, b"", headers=headers)
            return
        self._shards[shard] = {r.token for r in leases if r.token is not None}
        last = max(r.expires for r in leases)
        ttl = max(int(last - time.time() + _INDEX_GRACE) + 1, 1)
        data = orjson.dumps([[r.task_id, r.expires, r.token] for r in leases])
        await self.conn.nc.publish(subject, data, headers={"Nats-TTL": f"{ttl}s"})

    async def _rewrite_shards(self, shards: Iterable[str]) -> None:
        """Write ``shards`` again with the leases of this process they still list."""
        for shard in set(shards):
            tokens = self._shards.get(shard)
            if tokens is None:
                continue
            held = [self._held[t].record for t in tokens if t in self._held]
            await self._write_shard(shard, held)

    async def _unindex(self, held: _Held) -> None:
        """A lease of this process ended: its index entry is purged once it lists no lease
        still held (until then the entry lists it: ``recover_expired`` reads its record, finds
        another token or none, and skips it)."""
        tokens = self._shards.get(held.shard)
        if tokens is None:
            return
        tokens.discard(held.record.token or "")
        if not any(t in self._held for t in tokens):
            await self._write_shard(held.shard, [])

    async def _purge_old_index(self, task_id: str) -> None:
        """Purge an entry ``l.<id>`` of the lease index of earlier versions."""
        subject = self.names.kv_subject(f"l.{task_id}")
        headers = {"KV-Operation": "PURGE", "Nats-Rollup": "sub", "Nats-TTL": "1s"}
        await self.conn.nc.publish(subject, b"", headers=headers)

    async def _find_ticket(self, task_id: str) -> Msg | None:
        """The message of the task stream about ``task_id`` (its ticket, or its dead letter's
        copy), by a direct get on the id's subjects."""
        request = orjson.dumps({"next_by_subj": self.names.id_filter(task_id), "seq": 0})
        msg = await self.conn.nc.request(
            f"$JS.API.DIRECT.GET.{self.names.task_stream}",
            request,
            timeout=self.conn.options.request_timeout,
        )
        headers = msg.headers or {}
        if headers.get("Status") == "404":
            return None
        if "Status" in headers:
            raise nats.errors.TimeoutError
        return msg

    async def _delete_ticket(self, seq: int) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self.conn.js.delete_msg(self.names.task_stream, seq)

    # -- levels and consumers ------------------------------------------------------------------

    async def _ensure_level(self, queue: str, priority: int) -> None:
        name = self.names.consumer(queue, priority)
        if name in self._consumers:
            return
        config = ConsumerConfig(
            durable_name=name,
            filter_subject=self.names.level_filter(queue, priority),
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
        """One acknowledged write per task: its ticket, carrying the whole task, published with
        ``Nats-Msg-Id: <id>`` and the condition that no message about the id is in the stream
        (no ticket, no dead letter), so an id already queued in any state is refused. The
        batch is pipelined: about one round trip for all of it."""
        if not tasks:
            return 0
        async with _errors(self.conn.where):
            for level in {(t.queue, t.priority) for t in tasks}:
                await self._ensure_level(*level)
            records = [StateRecord.new(task) for task in tasks]
            tickets = []
            for record in records:
                data = record.encode()
                self.conn.check_payload(len(data), f"task {record.task_id}")
                tickets.append(self._fresh_ticket(record, data))
            # tickets in the tasks' order: within a level, claims follow the stream's order
            outcomes = await self.conn.publish_many(tickets)
            added = 0
            now = time.time()
            for record, outcome in zip(records, outcomes, strict=True):
                if isinstance(outcome, Stored):
                    if not outcome.duplicate:
                        added += 1
                elif not outcome.wrong_last:
                    raise StorageError(
                        f"NATS refused task {record.task_id} ({outcome.description}, code "
                        f"{outcome.code}) on {self.conn.where}"
                    )
            self._note_ready(records)
            for queue in {r.queue for r in records if r.ready <= now}:
                self._news[queue] = self._news.get(queue, 0) + 1
                self._heard[queue] = self._published[queue] = time.monotonic()
        return added

    def _fresh_ticket(self, record: StateRecord, data: bytes) -> Message:
        headers = {
            # one enqueue call's id: a retried publish of it is stored once, a later enqueue of
            # the same task id (a re-run) is a new message
            "Nats-Msg-Id": f"{record.task_id}.{record.task.get('enqueued_at', '')}",
            "Nats-Expected-Last-Subject-Sequence": "0",
            "Nats-Expected-Last-Subject-Sequence-Subject": self.names.id_filter(record.task_id),
        }
        subject = self.names.task_subject(record.queue, record.priority, record.task_id)
        return subject, data, headers

    def _ticket(self, record: StateRecord, revision: int, data: bytes) -> Message:
        """A ticket of a task that has a pending record at ``revision`` (a retry, a recovered
        lease, a requeued dead letter)."""
        headers = {"Nats-Msg-Id": f"{record.task_id}.{revision}", "Omniq-Rev": str(revision)}
        return self.names.task_subject(record.queue, record.priority, record.task_id), data, headers

    async def _publish_ticket(self, record: StateRecord, revision: int, data: bytes) -> None:
        outcome = await self.conn.publisher.publish(*self._ticket(record, revision, data))
        if isinstance(outcome, Refused):
            raise StorageError(
                f"NATS refused a ticket of task {record.task_id} ({outcome.description}) on "
                f"{self.conn.where}"
            )
        if record.ready <= time.time():
            self._published[record.queue] = time.monotonic()

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
                        msgs = await self._fetch_settled(queue, consumer, want)
                        if not msgs:
                            break
                        level += await self._take_many(msgs, lease_seconds, worker_id)
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

    async def _fetch_settled(self, queue: str, consumer: str, want: int) -> list[Msg]:
        """Up to ``want`` tickets ready now. A ticket this process published a moment ago can
        be acknowledged by JetStream a few milliseconds before a pull sees it (seen after a
        recovery's new ticket under load): while one is that fresh, an empty answer is asked
        again for up to ``_SETTLE_SECONDS`` instead of being taken as an empty queue."""
        assert self._puller is not None
        while True:
            try:
                msgs = await self._puller.fetch(consumer, want)
            except (TimeoutError, nats.js.errors.NotFoundError):
                msgs = []
            fresh = time.monotonic() - self._published.get(queue, -_SETTLE_SECONDS)
            if msgs or fresh >= _SETTLE_SECONDS:
                return msgs
            await asyncio.sleep(0.002)

    async def _take_many(
        self, msgs: list[Msg], lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        """Claim the tasks of ``msgs``. A ticket delivered for the first time that has no
        record (the common case) is claimed by creating the record, all of them in one
        pipelined batch; every other ticket is decided by reading the record first."""
        now = time.time()
        fast: list[tuple[Msg, StateRecord, Task]] = []
        slow: list[Msg] = []
        for msg in msgs:
            try:
                meta = msg.metadata
                fresh = meta.num_delivered == 1 and not (msg.headers or {}).get("Omniq-Rev")
                ticket = StateRecord.decode(msg.data) if fresh else None
            except Exception:
                slow.append(msg)
                continue
            if ticket is None:
                slow.append(msg)
                continue
            if ticket.ready > now + 0.001:
                await msg.nak(delay=ticket.ready - now)
                self._note_ready([ticket])
                continue
            try:
                task = ticket.decoded_task()
            except Exception:
                slow.append(msg)
                continue
            fast.append((msg, self._claimed(ticket, meta.sequence.stream, False, now,
                                            lease_seconds, worker_id), task))  # fmt: skip
        out: list[ClaimedTask] = []
        if fast:
            # the lease index first: a claimer killed between the two writes leaves an index
            # entry that recover_expired skips (its tokens are not the records')
            shard = self._new_shard()
            await self._write_shard(shard, [claimed for _msg, claimed, _task in fast])
            creates = []
            for _msg, claimed, _task in fast:
                claimed.changed = now
                creates.append(
                    (
                        self.names.kv_subject(self._key(claimed.task_id)),
                        claimed.encode(),
                        {"Nats-Expected-Last-Subject-Sequence": "0"},
                    )
                )
            outcomes = await self.conn.publish_many(creates)
            for (msg, claimed, task), outcome in zip(fast, outcomes, strict=True):
                revision = self._revision(outcome, f"task {claimed.task_id}")
                if revision is None:
                    slow.append(msg)  # the id has a record (or had one): decide by reading it
                else:
                    out.append(self._hold(msg, revision, claimed, task, shard, lease_seconds))
        if slow:
            taken = await _chunked([self._take(msg, lease_seconds, worker_id) for msg in slow])
            out += [item for item in taken if item is not None]
        return out

    def _claimed(
        self,
        base: StateRecord,
        seq: int,
        takeover: bool,
        now: float,
        lease_seconds: float,
        worker_id: str,
    ) -> StateRecord:
        return StateRecord(
            task=base.task,
            state=TaskState.ACTIVE.value,
            attempt=base.attempt if takeover else base.attempt + 1,
            delivery=base.delivery + 1,
            token=new_id(),
            expires=now + lease_seconds,
            worker=worker_id,
            error=base.error,
            cancel=base.cancel,
            ready=base.ready,
            seq=seq,
        )

    def _hold(
        self, msg: Msg, revision: int, claimed: StateRecord, task: Task, shard: str, term: float
    ) -> ClaimedTask:
        assert claimed.token is not None
        self._held[claimed.token] = _Held(msg, revision, claimed, shard, term)
        lease = Lease(
            task_id=task.id,
            token=claimed.token,
            expires_at=from_epoch(claimed.expires),
            attempt=claimed.attempt,
            worker_id=claimed.worker or "",
            cancel_requested=claimed.cancel,
            delivery=claimed.delivery,
        )
        return ClaimedTask(task=task, lease=lease)

    async def _take(self, msg: Msg, lease_seconds: float, worker_id: str) -> ClaimedTask | None:
        """Claim the task of ``msg`` if its record allows; otherwise drop or delay the ticket.

        A ticket without ``Omniq-Rev`` was published by an enqueue: it holds the task while no
        record says otherwise (none, or a deletion that finished another ticket). A ticket
        with ``Omniq-Rev`` belongs to the pending record of that revision."""
        try:
            meta = msg.metadata
            seq = meta.sequence.stream
            revision = int((msg.headers or {}).get("Omniq-Rev", "0"))
            ticket = StateRecord.decode(msg.data)
        except Exception:
            await msg.term()
            return None
        for _ in range(3):
            now = time.time()
            state = await self._state(ticket.task_id)
            if state.corrupt:  # damaged: set aside, from the ticket's copy
                await self._corrupt(ticket, state.revision, msg, "its KV record is not JSON")
                return None
            record = state.record
            takeover = False
            if record is None:
                if revision or state.done_seq >= seq:
                    await msg.term()  # finished, cancelled or purged: a stale ticket
                    return None
                base = ticket
            elif record.state == TaskState.ACTIVE and record.seq == seq:
                if record.expires > now:  # AckWait ran out before the lease did
                    await msg.nak(delay=max(record.expires - now, 0.05))
                    return None
                base, takeover = record, True  # the holder died: the server redelivered
            elif record.state == TaskState.PENDING and revision and state.revision == revision:
                base = record
            else:
                await msg.term()  # another ticket holds this task, or it is dead
                return None
            if not takeover and base.ready > now + 0.001:
                await msg.nak(delay=base.ready - now)
                self._note_ready([base])
                return None
            try:
                task = base.decoded_task()
            except Exception as exc:
                await self._corrupt(
                    base, state.revision, msg, f"its task does not decode: {exc!r:.200}"
                )
                return None
            if takeover and base.delivery >= self.conn.options.max_deliveries:
                dead = attrs.evolve(base, state=TaskState.DEAD.value, token=None)
                dead.error = expired_reason(base.delivery, True)
                if await self._cas(ticket.task_id, dead, state.revision) is not None:
                    await self._copy_dead(dead)
                    await msg.term()
                    return None
                continue
            claimed = self._claimed(base, seq, takeover, now, lease_seconds, worker_id)
            # the lease index first: a claimer killed between the two writes leaves an index
            # entry that recover_expired skips (its token is not the record's)
            shard = self._new_shard()
            await self._write_shard(shard, [claimed])
            new_rev = await self._write(ticket.task_id, claimed, state.revision)
            if new_rev is None:
                await self._write_shard(shard, [])
                continue  # changed meanwhile: read it and decide again
            return self._hold(msg, new_rev, claimed, task, shard, lease_seconds)
        return None

    async def _corrupt(self, record: StateRecord, revision: int, msg: Msg, problem: str) -> None:
        """Move an undecodable task to the dead letters (kept for inspection)."""
        dead = attrs.evolve(
            record, state=TaskState.DEAD.value, error=CORRUPT_RECORD, token=None, worker=None
        )
        if await self._cas(record.task_id, dead, revision) is not None:
            await self._copy_dead(dead)
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
        shard = held.shard if held is not None else ""
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
                held.msg, held.shard = msg, shard
                self._held[lease.token] = held
        return None

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        keys = list(queues)
        future = self._waiters.register(keys)
        try:
            new = [q for q in keys if q not in self._wake_subs]
            for queue in new:
                self._wake_subs[queue] = await self.conn.nc.subscribe(
                    self.names.queue_filter(queue), cb=self._on_ticket
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
        if len(parts) >= 3 and parts[-2] != "dead":
            queue = parts[-3]
            self._news[queue] = self._news.get(queue, 0) + 1
            self._heard[queue] = time.monotonic()
            self._waiters.wake(queue)

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        """Each lease's record moved by a compare-and-set (and its ticket kept in progress),
        then the lease index entries listing them written again, one per claim batch."""
        async with _errors(self.conn.where):
            renewed = await _chunked([self._extend(lease, lease_seconds) for lease in leases])
            shards = [self._held[r.token].shard for r in renewed if r and r.token in self._held]
            await self._rewrite_shards(shards)
        return renewed

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
        held.term = lease_seconds
        if held.msg is not None:
            with contextlib.suppress(Exception):
                await held.msg.in_progress()
        return Lease(
            task_id=lease.task_id,
            token=lease.token,
            expires_at=from_epoch(expires),
            attempt=record.attempt,
            worker_id=lease.worker_id,
            cancel_requested=record.cancel,
            delivery=record.delivery,
        )

    def lease_term(self, token: str) -> float | None:
        """The length of a lease this process holds, as claimed or last extended."""
        held = self._held.get(token)
        return held.term or None if held is not None else None

    def held_expiry(self, token: str) -> float | None:
        """When a lease this process holds expires (epoch seconds), as this process set it."""
        held = self._held.get(token)
        return held.record.expires if held is not None else None

    # -- completing (omniq.storage.AtomicCompletion, pipelined: omniq_nats.completion) --------

    def completes_with(self, results: ResultStorage, events: EventStorage) -> bool:
        """Whether ``results`` and ``events`` are this backend's, on this connection: then
        :meth:`complete` sends each batch's results and events in one round trip."""
        from omniq_nats.events import NATSEventStorage
        from omniq_nats.results import NATSResultStorage

        if not isinstance(results, NATSResultStorage) or not isinstance(events, NATSEventStorage):
            return False
        if results.conn is not self.conn or events.conn is not self.conn:
            return False
        self._completing = (results, events)
        return True

    async def complete(self, completions: Sequence[Completion]) -> list[bool]:
        from omniq_nats.completion import complete

        if not completions:
            return []
        assert self._completing is not None, "completes_with() first"
        results, events = self._completing
        return await complete(self, results, events, completions)

    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        async with _errors(self.conn.where):
            found = await _chunked([self._read(lease.task_id) for lease in leases])
        return [
            item is not None and item[0].token == lease.token and item[0].cancel
            for lease, item in zip(leases, found, strict=True)
        ]

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        """Each held lease's record deleted by a conditional write naming the ticket it
        finished, all of them pipelined; then the tickets acknowledged (no reply awaited). A
        lease whose record changed meanwhile (a cancel request, a lost reply) is decided by
        reading the record."""
        async with _errors(self.conn.where):
            held = [self._held.get(lease.token) for lease in leases]
            ready = [(i, h) for i, h in enumerate(held) if h is not None and not h.deleting]
            done: list[bool | None] = [None] * len(leases)
            for _i, h in ready:
                h.deleting = True  # stays set if the reply is lost (the call raises)
            outcomes = await self.conn.publish_many(
                [self._done_marker(leases[i].task_id, h.record.seq, h.revision) for i, h in ready]
            )
            for (i, h), outcome in zip(ready, outcomes, strict=True):
                h.deleting = False
                if self._revision(outcome, f"task {leases[i].task_id}") is not None:
                    done[i] = True
                    await self._finished(leases[i], h)
            rest = [i for i, ok in enumerate(done) if ok is None]
            if rest:
                slow = await _chunked([self._ack(leases[i]) for i in rest])
                for i, ok in zip(rest, slow, strict=True):
                    done[i] = ok
        return [bool(ok) for ok in done]

    async def _finished(self, lease: Lease, held: _Held) -> None:
        self._held.pop(lease.token, None)
        if held.msg is not None:
            with contextlib.suppress(Exception):
                await held.msg.ack()
        await self._unindex(held)

    async def _ack(self, lease: Lease) -> bool:
        """An ack decided by reading the record: the lease's own deletion already landed (a
        lost reply), the record changed under the same lease (a cancel request), or the lease
        is no longer current."""
        if not _valid_id(lease.task_id):
            return False
        mine = self._held.get(lease.token)
        for _ in range(5):
            state = await self._state(lease.task_id)
            record = state.record
            if record is None:
                if mine is not None and state.done_seq == mine.record.seq and mine.deleting:
                    await self._finished(lease, mine)  # that deletion was this lease's own
                    return True
                self._held.pop(lease.token, None)
                return False
            if record.token != lease.token or record.state != TaskState.ACTIVE:
                self._held.pop(lease.token, None)
                return False
            held = mine or _Held(None, state.revision, record)
            held.deleting = True
            deleted = await self._cas_delete(lease.task_id, state.revision, record.seq)
            held.deleting = False
            if deleted:
                await self._finished(lease, held)
                return True
        return False

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
        await self._unindex(held)
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
            await self._copy_dead(record)
            if held.msg is not None:
                with contextlib.suppress(Exception):
                    await held.msg.term()
            await self._unindex(held)
        return True

    async def _copy_dead(self, record: StateRecord) -> None:
        """The dead letter's copy in the task stream (read by no consumer): it keeps the id
        taken for enqueues, and other tools can read it."""
        subject = self.names.dead_subject(record.queue, record.task_id)
        headers = {"Nats-Msg-Id": f"{record.task_id}.dead.{record.delivery}"}
        await self.conn.publisher.publish(subject, record.encode(), headers)

    async def _drop_dead_copy(self, record: StateRecord) -> None:
        subject = self.names.dead_subject(record.queue, record.task_id)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            stored = await self.conn.js.get_msg(
                self.names.task_stream, subject=subject, direct=True
            )
            if stored.seq:
                await self._delete_ticket(stored.seq)

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        now = time.time()
        async with _errors(self.conn.where):
            expired: list[tuple[str, str, bool]] = []
            for key, value in await _scan(self.kv, ["w.>", "l.>"]):
                with contextlib.suppress(Exception):
                    expired += _expired_leases(key, orjson.loads(value), now)
            expired = [e for e in expired if e[1] not in self._recovered][:limit]
            results = await _chunked(
                [self._recover(task_id, token, old, now, max_deliveries)
                 for task_id, token, old in expired]
            )  # fmt: skip
        if len(self._recovered) > 100_000:
            self._recovered.clear()
        return [r for r in results if r is not None]

    async def _recover(
        self, task_id: str, token: str, old: bool, now: float, max_deliveries: int
    ) -> RecoveredTask | None:
        """Recover the lease ``token`` of ``task_id`` found expired in the lease index (``old``:
        an entry ``l.<id>`` of an earlier version, purged here once it is stale)."""
        if not _valid_id(task_id):
            return None
        found = await self._read(task_id)
        if found is None or found[0].token != token or found[0].state != "active":
            if old:
                await self._purge_old_index(task_id)
            else:
                self._recovered.add(token)
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
        if old:
            await self._purge_old_index(task_id)
        else:
            self._recovered.add(token)
        if held is not None:
            await self._unindex(held)
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
            revision = int((stored.headers or {}).get("Omniq-Rev", "0"))
            state = await self._state(ticket.task_id)
            record = state.record
            if record is None and not revision and state.done_seq < seq:
                record = ticket  # a fresh ticket whose claimers all died before their claim
                record.state = TaskState.ACTIVE.value
                record.seq = seq
            if record is not None and record.state == "active" and record.seq == seq:
                record.state, record.token = TaskState.DEAD.value, None
                record.error = expired_reason(max(deliveries, record.delivery), True)
                if await self._cas(ticket.task_id, record, state.revision) is not None:
                    await self._copy_dead(record)
            elif record is not None and record.state == "pending" and revision == state.revision:
                await self._publish_ticket(record, state.revision, record.encode())
            await self._delete_ticket(seq)
        except Exception as exc:
            log.debug("max-deliveries advisory not handled", error=repr(exc))

    # -- inspecting and managing ---------------------------------------------------------------

    async def _tasks(self, queue: str | None) -> list[_Listed]:
        """Every task of ``queue`` (all queues if ``None``) with its state: the records of the
        state bucket (active, dead, retried tasks) and the tickets of tasks that have none yet
        (pending since their enqueue). O(tasks queued): for ``stats`` of ready counts alone the
        consumers' pending counts would do, but they cannot tell ready from delayed."""
        records: dict[str, tuple[StateRecord, int]] = {}
        done: dict[str, int] = {}
        for key, value, revision, deleted in await _scan(self.kv, "t.>", revisions=True):
            task_id = key[2:]
            if deleted:
                with contextlib.suppress(Exception):
                    done[task_id] = int(orjson.loads(value).get("q", 0))
                continue
            with contextlib.suppress(Exception):
                record = StateRecord.decode(value)
                if queue is None or record.queue == queue:
                    records[task_id] = (record, revision)
        out = [_Listed(record, revision, 0) for record, revision in records.values()]
        for subject, seq, headers, data in await self._stream_messages(
            self.names.queue_filter(queue)
        ):
            level = subject.split(".")[-2]
            if level == "dead" or headers.get("Omniq-Rev"):
                continue  # a dead letter's copy, or a retried task's ticket: it has a record
            task_id = subject.rsplit(".", 1)[-1]
            if task_id in records or done.get(task_id, 0) >= seq:
                continue  # claimed (the record says), or finished with its ack on the way
            with contextlib.suppress(Exception):
                out.append(_Listed(StateRecord.decode(data), 0, seq))
        return out

    async def _stream_messages(self, subjects: str) -> list[tuple[str, int, dict[str, str], bytes]]:
        """Every message of the task stream under ``subjects``, by batched direct gets (a work
        queue stream allows no second consumer over its consumers' subjects)."""
        nc = self.conn.nc
        inbox = nc.new_inbox()
        queue: asyncio.Queue[Msg] = asyncio.Queue()

        async def deliver(msg: Msg) -> None:
            queue.put_nowait(msg)

        sub = await nc.subscribe(inbox, cb=deliver)
        out: list[tuple[str, int, dict[str, str], bytes]] = []
        try:
            seq = 0
            while True:
                request = orjson.dumps({"seq": seq, "next_by_subj": subjects, "batch": 1000})
                await nc.publish(
                    f"$JS.API.DIRECT.GET.{self.names.task_stream}", request, reply=inbox
                )
                got = 0
                async with asyncio.timeout(self.conn.options.request_timeout):
                    while True:
                        msg = await queue.get()
                        headers = dict(msg.headers or {})
                        status = headers.get("Status")
                        if status is not None:
                            break  # 204 end of batch, 404 nothing (more)
                        got += 1
                        last = int(headers.get("Nats-Sequence", "0"))
                        out.append((headers.get("Nats-Subject", ""), last, headers, msg.data))
                        seq = last + 1
                if got == 0 or status == "404":
                    return out
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def get(self, task_id: str) -> TaskInfo | None:
        if not _valid_id(task_id):
            return None
        async with _errors(self.conn.where):
            state = await self._state(task_id)
            record = state.record
            if record is None:
                msg = await self._find_ticket(task_id)
                if msg is None:
                    return None
                headers = msg.headers or {}
                if _stale(headers, state.done_seq):
                    return None  # a retried task's stale ticket, or one finished just now
                try:
                    record = StateRecord.decode(msg.data)
                except Exception:
                    return None
        try:
            return record.info(time.time())
        except Exception:
            return None

    async def cancel(self, task_id: str) -> CancelOutcome:
        if not _valid_id(task_id):
            return CancelOutcome.NOT_FOUND
        async with _errors(self.conn.where):
            for _ in range(5):
                state = await self._state(task_id)
                record = state.record
                if record is None:
                    msg = await self._find_ticket(task_id)
                    if msg is None:
                        return CancelOutcome.NOT_FOUND
                    headers = msg.headers or {}
                    seq = int(headers.get("Nats-Sequence", "0"))
                    if _stale(headers, state.done_seq):
                        return CancelOutcome.NOT_FOUND
                    # the deletion marker first: a claimer that fetched the ticket meanwhile
                    # finds it and drops the ticket; then the ticket itself
                    if await self._cas_delete(task_id, state.revision, seq):
                        await self._delete_ticket(seq)
                        return CancelOutcome.CANCELLED
                elif record.state == TaskState.PENDING:
                    if await self._cas_delete(task_id, state.revision, record.seq):
                        msg = await self._find_ticket(task_id)
                        if msg is not None and (msg.headers or {}).get("Omniq-Rev"):
                            await self._delete_ticket(int(msg.headers["Nats-Sequence"]))  # type: ignore[index]
                        return CancelOutcome.CANCELLED
                elif record.state == TaskState.ACTIVE:
                    if record.cancel:
                        return CancelOutcome.REQUESTED
                    record.cancel = True
                    if await self._cas(task_id, record, state.revision) is not None:
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
            if queues is not None and len(queues) == 1:
                listed = await self._tasks(queues[0])
            else:
                listed = await self._tasks(None)
        for item in listed:
            record = item.record
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
            records = [i.record for i in await self._tasks(queue) if i.record.state == state]
        if state == TaskState.PENDING:
            records.sort(key=lambda r: (-r.priority, r.ready, r.task_id))
        else:
            records.sort(key=lambda r: (r.changed, r.task_id))
        now = time.time()
        return [r.info(now) for r in records[:limit]]

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        wanted = {TaskState(s).value for s in states} - {TaskState.ACTIVE.value}
        async with _errors(self.conn.where):
            listed = [i for i in await self._tasks(queue) if i.record.state in wanted]
            done = await _chunked([self._purge_one(item) for item in listed])
        return sum(done)

    async def _purge_one(self, item: _Listed) -> bool:
        record = item.record
        if item.seq:  # a ticket without a record: mark it finished, then drop it
            state = await self._state(record.task_id)
            if state.record is not None or state.done_seq >= item.seq:
                return False
            if not await self._cas_delete(record.task_id, state.revision, item.seq):
                return False
            await self._delete_ticket(item.seq)
            return True
        if not await self._cas_delete(record.task_id, item.revision, record.seq):
            return False
        if record.state == TaskState.DEAD:
            await self._drop_dead_copy(record)
        else:
            msg = await self._find_ticket(record.task_id)
            if msg is not None and (msg.headers or {}).get("Omniq-Rev"):
                await self._delete_ticket(int((msg.headers or {})["Nats-Sequence"]))
        return True

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        async with _errors(self.conn.where):
            if task_ids is None:
                records = [
                    (i.record, i.revision)
                    for i in await self._tasks(queue)
                    if i.record.state == TaskState.DEAD
                ]
            else:
                found = []
                for task_id in task_ids:
                    if _valid_id(task_id):
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
                    await self._drop_dead_copy(record)
                    count += 1
        return count


async def _chunked(calls: list[Any]) -> list[Any]:
    """Await ``calls`` (coroutines) concurrently, at most :data:`_CHUNK` at a time, in order."""
    out: list[Any] = []
    for start in range(0, len(calls), _CHUNK):
        out += await asyncio.gather(*calls[start : start + _CHUNK])
    return out


async def _scan(kv: KeyValue, subject: str | list[str], *, revisions: bool = False) -> list[Any]:
    """Every live key under ``subject`` (or several) with its value (and revision): an
    ephemeral consumer over the bucket's stream, last message per key, read until the count it
    started with is consumed (not nats-py's watcher, whose "caught up" marker can come early
    while the bucket is being written: a scan then missed records)."""
    bucket = kv._name  # nats-py keeps the bucket's name here
    js = kv._js
    nc = js._nc
    stream = f"KV_{bucket}"
    prefix = f"$KV.{bucket}."
    subjects = [subject] if isinstance(subject, str) else subject
    config = ConsumerConfig(
        filter_subject=prefix + subjects[0] if len(subjects) == 1 else None,
        filter_subjects=[prefix + s for s in subjects] if len(subjects) > 1 else None,
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
                deleted = (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE")
                key = msg.subject[len(prefix) :]
                if revisions:  # deletions too, flagged
                    out.append((key, msg.data, msg.metadata.sequence.stream, deleted))
                elif not deleted:
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


def _stale(headers: dict[str, str], done_seq: int) -> bool:
    """Whether a message found by a task's id, the task having no record, is no pending
    ticket: a retried task's old ticket, a dead letter's copy, or a ticket finished just now."""
    seq = int(headers.get("Nats-Sequence", "0"))
    dead = ".dead." in headers.get("Nats-Subject", "")
    return bool(headers.get("Omniq-Rev")) or dead or seq <= done_seq


def _expired_leases(key: str, value: Any, now: float) -> list[tuple[str, str, bool]]:
    """The expired leases a lease index entry lists: (task id, token, whether the entry is of
    the earlier one-per-claim layout ``l.<id>`` = ``[expires, token]``)."""
    if key.startswith("l."):
        return [(key[2:], str(value[1]), True)] if value[0] <= now else []
    return [(str(i), str(token), False) for i, expires, token in value if expires <= now]


def _valid_id(task_id: str) -> bool:
    from omniq import names

    try:
        names.validate_task_id(task_id)
    except Exception:
        return False
    return True
