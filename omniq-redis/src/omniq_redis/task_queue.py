"""The Redis task queue: a hash per task and sorted sets per queue (ready, delayed, active,
dead), changed only by Lua scripts, so every claim, ack and recovery is atomic on the server.
Idle workers wait on a pub/sub wake-up (published by enqueues), not by polling.

An enqueue into one queue is one ``EVALSHA`` call. The set of queue names (a key outside the
queue's hash slot, so not in the script) gets a queue's name in the same round trip at most once
a second per process: often enough to come back after a server lost its data, rarely enough not
to cost each enqueue a pipeline (redis-py's pipelines cost more than the command they carry).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import orjson
from omniq._time import from_timestamp, utcnow
from omniq.errors import StorageError
from omniq.logging import get_logger
from omniq.models.completion import Completion, CompletionAction
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
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, EventStorage, ResultStorage, TaskQueueStorage

from omniq_redis import scripts
from omniq_redis.connection import (
    RedisConnection,
    connection_for,
    storage_errors,
    sync_storage_errors,
)
from omniq_redis.events import (
    RedisEventStorage,
    event_batch,
    event_rows,
    event_score,
    event_script_args,
    event_script_keys,
)
from omniq_redis.pipelines import ScriptSet, call_sync
from omniq_redis.results import RedisResultStorage, ttl_arg

__all__ = ["RedisTaskQueue"]

log = get_logger(__name__)

_PIPELINED = ScriptSet(
    {
        name: getattr(scripts, name)
        for name in (
            "ENQUEUE", "ENQUEUE_WITH_EVENTS", "ENQUEUE_ONE_WITH_EVENT", "EXTEND", "ACK",
            "COMPLETE", "CLAIM", "NACK", "DEAD_LETTER", "RECOVER", "CANCEL", "PURGE",
            "REQUEUE_DEAD",
        )
    }
)  # fmt: skip
"""The queue's scripts, sent by SHA alone or on pipelines (in the same round trip as the other
commands), on the backend's multiplexed connection."""

REGISTER_EVERY = 1.0
"""Seconds between two additions of a queue's name to the set of queues, per process."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _queue_of_token(token: str) -> str:
    return token.split("|", 1)[0]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisTaskQueue(TaskQueueStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.PERSISTENT,
            Capability.MULTI_PROCESS,
            Capability.PUSH_WAKEUP,
            Capability.SYNC_PRODUCER,
        }
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.redis = connection_for(ctx)
        self.keys = self.redis.keys
        self._registered: dict[str, float] = {}
        """Queue name -> when this process last added it to the set of queues (monotonic)."""
        self._outbox_keys: dict[str, tuple[list[str], str, str]] = {}
        """Queue name -> the one-task outbox script's keys, the task prefix, the wake channel."""
        self._event_script_args: list[Any] | None = None
        self._armed: dict[tuple[str, ...], _Armed] = {}
        """Queues -> the wake-up registered before their last claim, and what it left."""

    async def connect(self) -> None:
        await self.redis.connect()

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of the scripts, with connection errors made clear."""
        calls = self.redis.calls
        return await storage_errors(
            self.redis.where, lambda: _PIPELINED.call(calls, script, keys, args)
        )

    # -- producing ---------------------------------------------------------------------------

    async def enqueue(self, task: Task) -> bool:
        return await self.enqueue_many((task,)) == 1

    async def enqueue_many(self, tasks: Sequence[Task]) -> int:
        grouped = _by_queue(tasks)
        if not grouped:
            return 0
        unregistered = self._unregistered(grouped)
        if len(grouped) == 1 and not unregistered:
            ((queue, items),) = grouped.items()
            return int(await self._run("ENQUEUE", *self._enqueue_args(queue, items)))
        build = self._enqueue_pipeline(grouped, unregistered)
        calls = self.redis.calls
        replies = await storage_errors(self.redis.where, lambda: _PIPELINED.execute(calls, build))
        self._mark_registered(unregistered)
        return sum(int(r) for r in replies[: len(grouped)])

    def enqueue_sync(self, task: Task) -> bool:
        return self.enqueue_many_sync((task,)) == 1

    def enqueue_many_sync(self, tasks: Sequence[Task]) -> int:
        grouped = _by_queue(tasks)
        if not grouped:
            return 0
        unregistered = self._unregistered(grouped)
        if len(grouped) == 1 and not unregistered:
            ((queue, items),) = grouped.items()
            keys, args = self._enqueue_args(queue, items)
            return int(self._call_sync("ENQUEUE", keys, args))
        build = self._enqueue_pipeline(grouped, unregistered)
        return self._pipeline_sync(build, grouped, unregistered)

    def _call_sync(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """One script call on the lean synchronous path (:mod:`omniq_redis.direct`)."""
        direct = self.redis.direct
        return sync_storage_errors(
            self.redis.where, lambda: call_sync(_PIPELINED, direct, script, keys, args)
        )

    def _pipeline_sync(
        self, build: Callable[[Any], None], grouped: dict[str, Any], unregistered: list[str]
    ) -> int:
        """Run an enqueue pipeline (a script per queue, then any queue names to register) on
        the sync client; returns how many tasks were added."""
        client = self.redis.sync_client
        replies = sync_storage_errors(
            self.redis.where, lambda: _PIPELINED.execute_sync(client, build)
        )
        self._mark_registered(unregistered)
        return sum(int(r) for r in replies[: len(grouped)])

    # -- enqueueing with events (omniq.storage.EventOutbox) --------------------------------------

    outbox_single_enqueues: ClassVar[bool] = True
    """One-at-a-time enqueues go through the outbox too: the task and its event in one script
    call cost about what the task alone does, one round trip, and take the background event
    writer's work (a second client's per task) off the producer's process."""

    def shares_events_with(self, events: EventStorage) -> bool:
        """Whether ``events`` is this backend's event storage (the same server and prefix)."""
        return isinstance(events, RedisEventStorage) and events.redis is self.redis

    async def enqueue_with_events(self, tasks: Sequence[Task], events: Sequence[TaskEvent]) -> int:
        if len(tasks) == 1 and self._registered_lately(tasks[0].queue):
            keys, args = self._one_with_event(tasks[0], events[0])
            return self._added_one(tasks[0], await self._run("ENQUEUE_ONE_WITH_EVENT", keys, args))
        grouped = _by_queue_with_events(tasks, events)
        if not grouped:
            return 0
        unregistered = self._unregistered(grouped)
        build = self._outbox_pipeline(self._outbox_calls(grouped), unregistered)
        calls = self.redis.calls
        replies = await storage_errors(self.redis.where, lambda: _PIPELINED.execute(calls, build))
        self._mark_registered(unregistered)
        return sum(int(r) for r in replies[: len(grouped)])

    def enqueue_with_events_sync(self, tasks: Sequence[Task], events: Sequence[TaskEvent]) -> int:
        if len(tasks) == 1 and self._registered_lately(tasks[0].queue):
            keys, args = self._one_with_event(tasks[0], events[0])
            return self._added_one(tasks[0], self._call_sync("ENQUEUE_ONE_WITH_EVENT", keys, args))
        grouped = _by_queue_with_events(tasks, events)
        if not grouped:
            return 0
        unregistered = self._unregistered(grouped)
        calls = self._outbox_calls(grouped)
        if len(calls) == 1 and not unregistered:
            ((keys, args),) = calls
            return int(self._call_sync("ENQUEUE_WITH_EVENTS", keys, args))
        build = self._outbox_pipeline(calls, unregistered)
        return self._pipeline_sync(build, grouped, unregistered)

    def _added_one(self, task: Task, reply: Any) -> int:
        """The one-task outbox script's reply as a count; a reply of 2 says it woke the queue's
        idle workers, and this process's are woken at once (not after the message's hop)."""
        added = int(reply)
        if added == 2:
            self.redis.waiters.wake(f"q:{task.queue}")
        return min(added, 1)

    def _one_with_event(self, task: Task, event: TaskEvent) -> tuple[list[str], list[Any]]:
        """The keys and arguments of the outbox script for one task (values, not JSON)."""
        queue = task.queue
        known = self._outbox_keys.get(queue)
        if known is None:
            keys = self.keys.queue(queue)
            known = (
                [keys.ready, keys.delayed, *event_script_keys(self.keys)],
                keys.task_prefix,
                self.keys.wake_channel(queue),
            )
            if len(self._outbox_keys) < 10_000:
                self._outbox_keys[queue] = known
        script_keys, prefix, channel = known
        return script_keys, [
            prefix, _now_ms(), channel, task.id, dumps_record(task), str(task.priority),
            str(_ms(task.eta)), str(task.max_attempts), *self._event_args(), event.id,
            str(event_score(event.timestamp)), dumps_record(event),
        ]  # fmt: skip

    def _event_args(self) -> list[Any]:
        args = self._event_script_args
        if args is None:
            args = self._event_script_args = event_script_args(self.redis)
        return args

    def _outbox_calls(
        self, grouped: dict[str, tuple[list[Task], list[TaskEvent]]]
    ) -> list[tuple[list[str], list[Any]]]:
        """The outbox script's keys and arguments, per queue."""
        event_keys, event_args = event_script_keys(self.keys), event_script_args(self.redis)
        calls = []
        for queue, (queue_tasks, queue_events) in grouped.items():
            keys, args = self._enqueue_args(queue, queue_tasks)
            calls.append(([*keys, *event_keys], [*args, *event_args, event_batch(queue_events)]))
        return calls

    def _outbox_pipeline(
        self, calls: list[tuple[list[str], list[Any]]], unregistered: list[str]
    ) -> Callable[[Any], None]:
        """The outbox script per queue, then the names due to be added to the set of queues."""

        def build(pipe: Any) -> None:
            for keys, args in calls:
                _PIPELINED.queue(pipe, "ENQUEUE_WITH_EVENTS", keys, args)
            if unregistered:
                pipe.sadd(self.keys.queues, *unregistered)

        return build

    def _enqueue_args(self, queue: str, tasks: Sequence[Task]) -> tuple[list[str], list[Any]]:
        keys = self.keys.queue(queue)
        batch = orjson.dumps(
            [
                (
                    t.id,
                    dumps_record(t).decode(),
                    str(t.priority),
                    str(_ms(t.eta)),
                    str(t.max_attempts),
                )
                for t in tasks
            ]
        )
        return [keys.ready, keys.delayed], [
            keys.task_prefix,
            _now_ms(),
            self.keys.wake_channel(queue),
            batch,
        ]

    def _enqueue_pipeline(
        self, grouped: dict[str, list[Task]], unregistered: list[str]
    ) -> Callable[[Any], None]:
        """The enqueue script per queue, then the names due to be added to the set of queues."""
        batches = [self._enqueue_args(queue, items) for queue, items in grouped.items()]

        def build(pipe: Any) -> None:
            for keys, args in batches:
                _PIPELINED.queue(pipe, "ENQUEUE", keys, args)
            if unregistered:
                pipe.sadd(self.keys.queues, *unregistered)

        return build

    def _registered_lately(self, queue: str) -> bool:
        """Whether this process added ``queue`` to the set of queues within the last
        :data:`REGISTER_EVERY` seconds."""
        return time.monotonic() - self._registered.get(queue, -REGISTER_EVERY) < REGISTER_EVERY

    def _unregistered(self, grouped: Mapping[str, object]) -> list[str]:
        """The queues of ``grouped`` this process has not added to the set of queues lately."""
        now = time.monotonic()
        registered = self._registered
        return [q for q in grouped if now - registered.get(q, -REGISTER_EVERY) >= REGISTER_EVERY]

    def _mark_registered(self, queues: list[str]) -> None:
        now = time.monotonic()
        for queue in queues:
            self._registered[queue] = now

    # -- consuming ---------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker_id: str
    ) -> list[ClaimedTask]:
        """One script call per queue; a task that cannot be decoded is set aside as a corrupt
        record (by the script, or here for a record that does not decode) and the claim goes on,
        so one damaged hash never stops a queue.

        The queues' wake-up is registered before the scripts run and kept with what they report
        left (tasks still ready, the earliest delayed one) for :meth:`wait_for_work`: a worker
        that claimed fewer than it asked for then waits with no round trip of its own, and a
        task enqueued after the claim wakes it (its message resolves the registered future)."""
        self._disarm(queues)
        wake_keys = [f"q:{q}" for q in queues]
        armed = _Armed(wake_keys, self.redis.waiters.register(wake_keys))
        try:
            claimed = await self._claim(queues, limit, lease_seconds, worker_id, armed)
        except BaseException:
            self.redis.waiters.unregister(wake_keys, armed.future)
            raise
        self._armed[tuple(queues)] = armed
        return claimed

    async def _claim(
        self, queues: Sequence[str], limit: int, lease_seconds: float, worker_id: str,
        armed: _Armed,
    ) -> list[ClaimedTask]:  # fmt: skip
        claimed: list[ClaimedTask] = []
        now = _now_ms()
        until = now + int(lease_seconds * 1000)
        expires_at = from_timestamp(until / 1000)
        for queue in queues:
            keys = self.keys.queue(queue)
            script_keys = [keys.ready, keys.delayed, keys.active, keys.dead]
            again = True
            while again and len(claimed) < limit:  # again if damaged records took places
                token_base = f"{queue}|{os.urandom(8).hex()}-"
                args = [
                    keys.task_prefix, now, limit - len(claimed), until, worker_id, token_base,
                    CORRUPT_RECORD,
                ]  # fmt: skip
                rows, set_aside, ready_left, first_due = await self._run("CLAIM", script_keys, args)
                armed.saw(queue, int(ready_left), first_due)
                for task_id in set_aside:
                    _warn_corrupt(_text(task_id), queue, "its hash is not what enqueue writes")
                again = False
                for task_id, data, attempt, token, delivery in rows:
                    lease = Lease(
                        task_id=_text(task_id),
                        token=_text(token),
                        expires_at=expires_at,
                        attempt=int(attempt),
                        worker_id=worker_id,
                        delivery=int(delivery),
                    )
                    try:
                        task = _claimed_task(data, lease.task_id, queue)
                    except _CorruptRecord as exc:
                        await self.dead_letter(lease, reason=CORRUPT_RECORD)
                        _warn_corrupt(lease.task_id, queue, str(exc))
                        again = True
                        continue
                    claimed.append(ClaimedTask(task=task, lease=lease))
        return claimed

    def _disarm(self, queues: Sequence[str]) -> None:
        armed = self._armed.pop(tuple(queues), None)
        if armed is not None:
            self.redis.waiters.unregister(armed.keys, armed.future)

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Wait until a task of ``queues`` may be ready, at most ``timeout`` seconds: right
        after a claim of these queues, on the wake-up that claim registered (no round trip);
        else registered now, after a check of the queues."""
        waiters = self.redis.waiters
        armed = self._armed.pop(tuple(queues), None)
        if armed is not None and armed.complete(queues):
            try:
                await waiters.wait(armed.future, min(timeout, armed.ready_in()))
            finally:
                waiters.unregister(armed.keys, armed.future)
            return
        if armed is not None:
            waiters.unregister(armed.keys, armed.future)
        keys = [f"q:{q}" for q in queues]
        future = waiters.register(keys)
        try:
            wait = min(timeout, await self._ready_in(queues))
            await waiters.wait(future, wait)
        finally:
            waiters.unregister(keys, future)

    async def _ready_in(self, queues: Sequence[str]) -> float:
        """Seconds until a task of ``queues`` is ready: 0 if one is, else the earliest delay."""
        commands: list[tuple[Any, ...]] = []
        for queue in queues:
            keys = self.keys.queue(queue)
            commands += [("ZCARD", keys.ready), ("ZRANGE", keys.delayed, 0, 0, "WITHSCORES")]
        replies = await self.redis.calls.pipeline(commands)
        soonest = float("inf")
        for ready, delayed in zip(replies[0::2], replies[1::2], strict=True):
            if isinstance(ready, Exception) or isinstance(delayed, Exception):
                raise ready if isinstance(ready, Exception) else delayed
            if ready:
                return 0.0
            if delayed:  # [member, score] (RESP2), [[member, score]] (RESP3)
                score = delayed[0][1] if isinstance(delayed[0], list) else delayed[1]
                soonest = min(soonest, float(score) / 1000 - time.time())
        return max(soonest, 0.0)

    async def extend(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease | None]:
        until = _now_ms() + int(lease_seconds * 1000)
        expires_at = from_timestamp(until / 1000)
        grouped = _by_token_queue(leases)
        flags: dict[int, int] = {}

        def build(pipe: Any) -> None:
            for queue, items in grouped.items():
                keys = self.keys.queue(queue)
                args: list[Any] = [keys.task_prefix, until]
                for _, lease in items:
                    args += [lease.task_id, lease.token]
                _PIPELINED.queue(pipe, "EXTEND", [keys.active], args)

        calls = self.redis.calls
        replies = await storage_errors(self.redis.where, lambda: _PIPELINED.execute(calls, build))
        for (_, items), reply in zip(grouped.items(), replies, strict=True):
            for (index, _), flag in zip(items, reply, strict=True):
                flags[index] = int(flag)
        renewed: list[Lease | None] = []
        for index, lease in enumerate(leases):
            flag = flags[index]
            renewed.append(
                None
                if flag < 0
                else Lease(
                    task_id=lease.task_id,
                    token=lease.token,
                    expires_at=expires_at,
                    attempt=lease.attempt,
                    worker_id=lease.worker_id,
                    cancel_requested=bool(flag),
                    delivery=lease.delivery,
                )
            )
        return renewed

    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        """Which leases' tasks were asked to stop (:class:`~omniq.storage.CancelPolling`): one
        pipelined round trip of ``HMGET``, nothing written."""
        if not leases:
            return []
        client = self.redis.client
        async with client.pipeline(transaction=False) as pipe:
            for lease in leases:
                prefix = self.keys.queue(_queue_of_token(lease.token)).task_prefix
                pipe.hmget(prefix + lease.task_id, "state", "token", "cancel")
            replies = await storage_errors(self.redis.where, pipe.execute)
        return [
            _text(state or b"") == "active"
            and _text(token or b"") == lease.token
            and _text(cancel or b"0") == "1"
            for lease, (state, token, cancel) in zip(leases, replies, strict=True)
        ]

    async def ack(self, leases: Sequence[Lease]) -> list[bool]:
        grouped = _by_token_queue(leases)
        done: dict[int, bool] = {}

        def build(pipe: Any) -> None:
            for queue, items in grouped.items():
                keys = self.keys.queue(queue)
                args: list[Any] = [keys.task_prefix]
                for _, lease in items:
                    args += [lease.task_id, lease.token]
                _PIPELINED.queue(pipe, "ACK", [keys.active], args)

        calls = self.redis.calls
        replies = await storage_errors(self.redis.where, lambda: _PIPELINED.execute(calls, build))
        for (_, items), reply in zip(grouped.items(), replies, strict=True):
            for (index, _lease), ok in zip(items, reply, strict=True):
                done[index] = bool(ok)
        return [done[index] for index in range(len(leases))]

    async def nack(
        self,
        lease: Lease,
        *,
        retry_at: datetime,
        error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        queue = _queue_of_token(lease.token)
        keys = self.keys.queue(queue)
        args = [
            keys.task_prefix, lease.task_id, lease.token, _ms(retry_at), _now_ms(),
            error or "", 0 if count_attempt else 1, self.keys.wake_channel(queue),
        ]  # fmt: skip
        return bool(await self._run("NACK", [keys.ready, keys.delayed, keys.active], args))

    async def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        keys = self.keys.queue(_queue_of_token(lease.token))
        args = [keys.task_prefix, lease.task_id, lease.token, reason, _now_ms()]
        return bool(await self._run("DEAD_LETTER", [keys.active, keys.dead], args))

    async def recover_expired(
        self, *, limit: int = 1000, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> list[RecoveredTask]:
        queues = sorted(_text(q) for q in await self.redis.client.smembers(self.keys.queues))
        recovered: list[RecoveredTask] = []
        now = _now_ms()
        dead_before, dead_after = _dead_reason_parts()
        for queue in queues:
            if len(recovered) >= limit:
                break
            keys = self.keys.queue(queue)
            args = [
                keys.task_prefix, now, limit - len(recovered), self.keys.wake_channel(queue),
                max_deliveries, expired_reason(0, False), dead_before, dead_after,
            ]  # fmt: skip
            rows = await self._run("RECOVER", [keys.ready, keys.active, keys.dead], args)
            recovered += [
                RecoveredTask(
                    task_id=_text(i), queue=queue, attempt=int(a), dead=bool(d), delivery=int(n)
                )
                for i, a, d, n in rows
            ]
        return recovered

    # -- finishing in one script (omniq.storage.AtomicCompletion) -------------------------------

    def completes_with(self, results: ResultStorage, events: EventStorage) -> bool:
        """Whether ``results`` and ``events`` are this backend's storages on the same server
        and key prefix (and event limits): then :meth:`complete` writes all three at once."""
        return (
            isinstance(results, RedisResultStorage)
            and isinstance(events, RedisEventStorage)
            and _same_store(self.redis, results.redis)
            and _same_store(self.redis, events.redis)
        )

    async def complete(self, completions: Sequence[Completion]) -> list[bool]:
        """The whole batch in one script call (:data:`~omniq_redis.scripts.COMPLETE`): each
        completion, only under its current lease, stores its result (refused if a newer
        delivery's is stored, and then nothing else of it is applied), appends its events
        (trimmed to ``max_events``), then acks, dead-letters or retries the task; waiting
        workers and result waiters are woken in the same call."""
        if not completions:
            return []
        now = utcnow()
        now_ms = _ms(now)
        indexes: dict[str, int] = {}
        queues: list[list[str]] = []
        rows: list[list[Any]] = []
        for completion in completions:
            lease = completion.lease
            queue = _queue_of_token(lease.token)
            index = indexes.get(queue)
            if index is None:
                qk = self.keys.queue(queue)
                queues.append(
                    [qk.task_prefix, qk.ready, qk.delayed, qk.active, qk.dead,
                     self.keys.wake_channel(queue)]
                )  # fmt: skip
                index = indexes[queue] = len(queues)  # Lua counts from 1
            rows.append(
                [index, lease.task_id, lease.token, completion.action.value,
                 self._result_row(completion, now), event_rows(completion.events),
                 _note(completion), str(now_ms if completion.retry_at is None
                                        else _ms(completion.retry_at))]
            )  # fmt: skip
        args = [
            now_ms, *self._event_args(), self.keys.result_channel,
            orjson.dumps(queues), orjson.dumps(rows),
        ]  # fmt: skip
        script_keys = event_script_keys(self.keys)
        task_ids = [row[1] for row in rows]
        completing = self.redis.completing
        completing.update(task_ids)
        applied: list[bool] = [False] * len(rows)
        try:
            reply = await self._run("COMPLETE", script_keys, args)
            applied = [bool(flag) for flag in reply]
        finally:
            completing.difference_update(task_ids)
            self._wake_result_waiters(rows, applied)
        return applied

    def _wake_result_waiters(self, rows: list[list[Any]], applied: list[bool]) -> None:
        """Hand the stored results to this process's waiters at once (other processes' are
        woken by the script's message, which this process ignores for the tasks it is
        completing: it could arrive before the reply, and the waiter would read the result
        back): they need not read it. A waiter of a completion not applied (refused, or the
        call failed) is woken to read what is stored."""
        waiters, fresh = self.redis.waiters, self.redis.fresh_results
        for row, ok in zip(rows, applied, strict=True):
            key = f"r:{row[1]}"
            if not waiters.has(key):
                continue
            result = row[4]
            if ok and result and (result[3] == "" or int(result[3]) > 0):
                fresh[row[1]] = result[1]
            waiters.wake(key)

    def _result_row(self, completion: Completion, now: datetime) -> list[str] | bool:
        result = completion.result
        if result is None:
            return False
        return [
            self.keys.result(result.task_id), dumps_record(result).decode(),
            str(result.delivery), ttl_arg(result.expires_at, now),
        ]  # fmt: skip

    # -- inspecting and managing -------------------------------------------------------------

    async def _queue_of(self, task_id: str) -> str | None:
        """The queue holding ``task_id``: the task's hash is looked for in every known queue
        (one pipeline), so enqueues and acks keep no global id index up to date."""
        client = self.redis.client
        queues = sorted(_text(q) for q in await client.smembers(self.keys.queues))
        if not queues:
            return None
        async with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.exists(self.keys.queue(queue).task_prefix + task_id)
            found = await storage_errors(self.redis.where, pipe.execute)
        return next((queue for queue, hit in zip(queues, found, strict=True) if hit), None)

    async def get(self, task_id: str) -> TaskInfo | None:
        queue = await self._queue_of(task_id)
        if queue is None:
            return None
        key = self.keys.queue(queue).task_prefix + task_id
        fields = await self.redis.client.hgetall(key)
        if not fields:
            return None
        try:
            return _info(fields)
        except _CorruptRecord as exc:
            raise StorageError(
                f"The stored task {task_id!r} cannot be decoded ({exc}); it is kept as it is. "
                f"Inspect it with redis-cli (HGETALL {key}), then delete it or purge the dead "
                "letters."
            ) from exc

    async def cancel(self, task_id: str) -> CancelOutcome:
        queue = await self._queue_of(task_id)
        if queue is None:
            return CancelOutcome.NOT_FOUND
        keys = self.keys.queue(queue)
        reply = await self._run("CANCEL", [keys.ready, keys.delayed], [keys.task_prefix, task_id])
        return CancelOutcome(_text(reply))

    async def stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        if queues is None:
            names = sorted(_text(q) for q in await self.redis.client.smembers(self.keys.queues))
        else:
            names = sorted(set(queues))
        now = _now_ms()
        async with self.redis.client.pipeline(transaction=False) as pipe:
            for name in names:
                keys = self.keys.queue(name)
                pipe.zcard(keys.ready)
                pipe.zcount(keys.delayed, "-inf", now)
                pipe.zcard(keys.delayed)
                pipe.zcard(keys.active)
                pipe.zcard(keys.dead)
            replies = await storage_errors(self.redis.where, pipe.execute)
        found: list[QueueStats] = []
        for i, name in enumerate(names):
            ready, due, delayed, active, dead = replies[i * 5 : i * 5 + 5]
            stats = QueueStats(
                queue=name, ready=ready + due, delayed=delayed - due, active=active, dead=dead
            )
            if queues is not None or stats.pending or stats.active or stats.dead:
                found.append(stats)
        return found

    async def list_tasks(self, queue: str, *, state: TaskState, limit: int = 100) -> list[TaskInfo]:
        keys = self.keys.queue(queue)
        client = self.redis.client
        if state is TaskState.PENDING:
            ids = await client.zrange(keys.ready, 0, -1) + await client.zrange(keys.delayed, 0, -1)
        else:
            source = keys.active if state is TaskState.ACTIVE else keys.dead
            ids = await client.zrange(source, 0, limit - 1)
        async with client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hgetall(keys.task_prefix + _text(task_id))
            rows = await pipe.execute()
        infos: list[TaskInfo] = []
        for task_id, fields in zip(ids, rows, strict=True):
            if not fields:
                continue
            try:
                infos.append(_info(fields))
            except _CorruptRecord as exc:
                log.warning(
                    "left out a task that cannot be decoded",
                    task_id=_text(task_id),
                    queue=queue,
                    error=str(exc),
                )
        if state is TaskState.PENDING:
            infos.sort(key=lambda i: (-i.task.priority, _ready_time(i), i.task.id))
        elif state is TaskState.ACTIVE:
            infos.sort(key=lambda i: (i.task.enqueued_at, i.task.id))
        return infos[:limit]

    async def purge(self, queue: str, *, states: Sequence[TaskState] = (TaskState.PENDING,)) -> int:
        keys = self.keys.queue(queue)
        sets: list[str] = []
        if TaskState.PENDING in states:
            sets += [keys.ready, keys.delayed]
        if TaskState.DEAD in states:
            sets.append(keys.dead)
        if not sets:
            return 0
        return int(await self._run("PURGE", sets, [keys.task_prefix]))

    async def requeue_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        keys = self.keys.queue(queue)
        args: list[Any] = [keys.task_prefix, _now_ms(), self.keys.wake_channel(queue)]
        if task_ids is not None:
            if not task_ids:
                return 0
            args += list(task_ids)
        return int(await self._run("REQUEUE_DEAD", [keys.ready, keys.dead], args))

    def server_warnings(self) -> list[str]:
        """Server settings found at connect under which tasks can be lost."""
        return list(self.redis.warnings)


class _Armed:
    """A wake-up registered before a claim, and what the claim's scripts saw left per queue."""

    __slots__ = ("first_due_ms", "future", "keys", "ready", "seen")

    def __init__(self, keys: list[str], future: asyncio.Future[None]) -> None:
        self.keys = keys
        self.future = future
        self.seen: set[str] = set()
        self.ready = 0
        self.first_due_ms: float | None = None

    def saw(self, queue: str, ready_left: int, first_due: Any) -> None:
        self.seen.add(queue)
        self.ready += ready_left
        if first_due:
            due = float(first_due)
            if self.first_due_ms is None or due < self.first_due_ms:
                self.first_due_ms = due

    def complete(self, queues: Sequence[str]) -> bool:
        """Whether the claim looked at every one of ``queues`` (it stops at its limit)."""
        return all(q in self.seen for q in queues)

    def ready_in(self) -> float:
        """Seconds until a task may be ready: 0 if one was left, else until the earliest
        delayed one (a later enqueue or recovery wakes the future sooner)."""
        if self.ready:
            return 0.0
        if self.first_due_ms is None:
            return float("inf")
        return max(self.first_due_ms / 1000 - time.time(), 0.0)


def _by_queue(tasks: Sequence[Task]) -> dict[str, list[Task]]:
    grouped: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        grouped[task.queue].append(task)
    return grouped


def _by_queue_with_events(
    tasks: Sequence[Task], events: Sequence[TaskEvent]
) -> dict[str, tuple[list[Task], list[TaskEvent]]]:
    grouped: dict[str, tuple[list[Task], list[TaskEvent]]] = {}
    for task, event in zip(tasks, events, strict=True):
        queue_tasks, queue_events = grouped.setdefault(task.queue, ([], []))
        queue_tasks.append(task)
        queue_events.append(event)
    return grouped


def _by_token_queue(leases: Sequence[Lease]) -> dict[str, list[tuple[int, Lease]]]:
    grouped: dict[str, list[tuple[int, Lease]]] = defaultdict(list)
    for index, lease in enumerate(leases):
        grouped[_queue_of_token(lease.token)].append((index, lease))
    return grouped


class _CorruptRecord(StorageError):
    """A stored task that cannot be decoded (damaged, or written by hand)."""


def _claimed_task(data: Any, task_id: str, queue: str) -> Task:
    """The claimed hash's task record; :class:`_CorruptRecord` if it does not decode to the
    task of that id and queue."""
    try:
        task = loads_record(data, Task)
    except Exception as exc:  # orjson, cattrs and the records' validators raise many kinds
        raise _CorruptRecord(f"its record does not decode: {exc}") from exc
    if (task.id, task.queue) != (task_id, queue):
        raise _CorruptRecord(
            f"its record names task {task.id!r} of queue {task.queue!r}, not the hash's own"
        )
    return task


def _warn_corrupt(task_id: str, queue: str, problem: str) -> None:
    log.warning(
        "moved a task that cannot be decoded to the dead letters",
        task_id=task_id,
        queue=queue,
        reason=CORRUPT_RECORD,
        error=problem,
    )


def _same_store(one: RedisConnection, other: RedisConnection) -> bool:
    """Whether two connections reach the same data the same way: server, prefix, event limits."""
    if one is other:
        return True
    mine, theirs = one.options, other.options
    return (
        one.where == other.where
        and one.keys == other.keys
        and (mine.max_events, mine.event_ttl) == (theirs.max_events, theirs.event_ttl)
    )


def _note(completion: Completion) -> str:
    """The text kept as the task's ``last_error``: a dead letter's reason, a retry's error."""
    if completion.action is CompletionAction.DEAD_LETTER:
        return completion.reason or "failed"
    return completion.error or ""


_COUNT_MARK = 987_654_321


def _dead_reason_parts() -> tuple[str, str]:
    """The text of :func:`~omniq.models.task.expired_reason` for a dead task, before and after
    its count of deliveries (the recovery script puts each task's count in between)."""
    text = expired_reason(_COUNT_MARK, True)
    before, mark, after = text.partition(str(_COUNT_MARK))
    return (before, after) if mark else (text, "")


def _ready_time(info: TaskInfo) -> datetime:
    return info.task.eta


def _info(fields: dict[Any, Any]) -> TaskInfo:
    """The task's info; :class:`_CorruptRecord` if its hash cannot be decoded."""

    def text(name: str) -> str:
        value = fields.get(name.encode(), b"")
        return _text(value)

    try:
        task = loads_record(fields[b"data"], Task)
        lease = text("lease")
        attempt = int(text("attempt") or 0)
        return TaskInfo(
            task=task,
            state=TaskState(text("state")),
            attempt=attempt,
            lease_expires_at=from_timestamp(int(lease) / 1000) if lease else None,
            worker_id=text("worker") or None,
            last_error=text("error") or None,
            cancel_requested=text("cancel") == "1",
            deliveries=int(text("deliveries") or attempt),
        )
    except Exception as exc:  # a missing field, bad JSON, a text number, an unknown state
        raise _CorruptRecord(f"{type(exc).__name__}: {exc}") from exc
