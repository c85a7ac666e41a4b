"""The worker: claims tasks in batches under leases, runs them, and finishes them safely.

Finishing order is what makes a crash harmless: the result is stored, then the terminal event is
written, then the task is acked with its lease token. A crash anywhere before the ack leaves the
task claimed; its lease expires and another worker (or this one, restarted) runs it again, so a
task is never completed without its result (at-least-once). While a task runs, a lease keeper
extends every lease this worker holds in one call; a lease found lost stops the task here
(someone else owns it now), and a cancel request seen on renewal cancels it cooperatively.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from attrs import define, field, frozen

from omniq import names
from omniq._time import utcnow
from omniq.errors import FunctionNotAllowedError, SerializationError
from omniq.ids import new_id
from omniq.logging import get_logger
from omniq.models.config import WORKER_TYPES
from omniq.models.event import EventType, TaskEvent
from omniq.models.result import ResultStatus, TaskError, TaskResult
from omniq.models.task import ClaimedTask, Lease, RecoveredTask, Task, backoff_delay
from omniq.models.unchecked import unchecked_event
from omniq.plugins.lifecycle import LifecycleHooks
from omniq.runtime.events_sink import EventSink
from omniq.runtime.executors import Executor, LocalExecutor, describe_exception
from omniq.runtime.registry import FunctionRegistry
from omniq.runtime.supervision import raise_if_cancelled, supervise
from omniq.storage import Capability, ResultStorage, TaskQueueStorage

__all__ = ["Worker", "WorkerSettings"]

log = get_logger(__name__)

_Kind = Literal["success", "failure", "refused", "cancelled", "shutdown", "lost"]


def _positive(_: object, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _worker_type(_: object, __: object, value: str) -> None:
    if value not in WORKER_TYPES:
        raise ValueError(f"Invalid worker_type {value!r}: use one of {', '.join(WORKER_TYPES)}")


@frozen(kw_only=True)
class WorkerSettings:
    """How a worker claims, runs and finishes tasks."""

    queues: tuple[str, ...] = field(default=("default",), converter=names.validate_queue_names)
    """Queues served, in priority order: every ready task of the first before the second."""
    concurrency: int = field(default=10, validator=_positive)
    """Tasks run at once (coroutines, threads or child processes)."""
    worker_type: str = field(default="async", validator=_worker_type)
    lease_seconds: float = field(default=30.0, validator=_positive)
    """How long a claim holds a task; renewed every third of it while the task runs."""
    shutdown_grace: float = 30.0
    """Seconds a stopping worker lets running tasks finish before releasing them."""
    result_ttl: float | None = None
    """Default TTL of results, for tasks that set none."""
    idle_wait: float = field(default=5.0, validator=_positive)
    """Longest single wait for work (backends that push wake up sooner)."""
    recover_interval: float = field(default=5.0, validator=_positive)
    """Seconds between looks for expired leases of crashed workers."""
    retry_jitter: float = 0.25
    """Up to this fraction is added at random to each retry's backoff."""
    max_batch: int = field(default=500, validator=_positive)
    """Most tasks finished (results, events, acks) in one round of storage calls."""


@define(eq=False)
class _Running:
    claimed: ClaimedTask
    started: float
    job: asyncio.Task[None] | None = None
    stop_reason: _Kind | None = None


@frozen
class _Outcome:
    kind: _Kind
    claimed: ClaimedTask
    payload: bytes | None = None
    error: TaskError | None = None
    duration: float = 0.0
    retryable: bool = True


class Worker:
    """Runs the tasks of ``settings.queues`` from ``queue`` until stopped."""

    def __init__(
        self,
        queue: TaskQueueStorage,
        results: ResultStorage,
        event_sink: EventSink,
        registry: FunctionRegistry,
        settings: WorkerSettings | None = None,
        *,
        worker_id: str | None = None,
        hooks: LifecycleHooks | None = None,
    ) -> None:
        self.queue = queue
        self.results = results
        self.events = event_sink
        self.registry = registry
        self.settings = settings or WorkerSettings()
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{new_id()[-6:]}"
        self.hooks = hooks or LifecycleHooks()
        self.processed = 0
        """Tasks finished by this worker (any outcome but ``lost``/``shutdown``)."""
        self.loop_restarts = 0
        """How often one of the worker's loops ended unexpectedly and was started again."""
        self._loops_cancelled = False
        """Set by :meth:`stop` when it ends the finishing, lease and recovery loops itself."""
        self._executor = _make_executor(self.settings)
        self._running: dict[str, _Running] = {}
        self._held: dict[str, Lease] = {}
        self._outcomes: asyncio.Queue[_Outcome] = asyncio.Queue()
        self._slot_free = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._claiming: asyncio.Task[None] | None = None
        self._log = log.bind(worker_id=self.worker_id)
        self._waits_when_drained = Capability.PUSH_WAKEUP in queue.capabilities
        """A claim that got fewer tasks than it asked for emptied the queue: wait for work next
        instead of claiming again, when the queue's wait returns at once for a ready task (one
        empty claim less per idle spell: 0.36 ms of the event loop on Redis, measured)."""

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start claiming and running tasks in the background."""
        if self._claiming is not None:
            return
        await self._executor.start()
        self._claiming = self._supervised("omniq-claim", self._claim_loop)
        self._loops = [
            self._supervised("omniq-finish", self._finish_loop),
            self._supervised("omniq-leases", self._keep_leases),
            self._supervised("omniq-recover", self._recover_loop),
        ]
        self._log.info(
            "worker started",
            queues=list(self.settings.queues),
            concurrency=self.settings.concurrency,
            worker_type=self.settings.worker_type,
        )

    async def run_until_stopped(self) -> None:
        """Start if needed, then wait until :meth:`stop` finished."""
        await self.start()
        await self._stopped.wait()

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; let running tasks finish within ``grace`` seconds, then release the
        rest back to the queue (their attempt is not counted); finish everything, then return."""
        if self._claiming is None or self._stop.is_set():
            await self._stopped.wait()
            return
        grace = self.settings.shutdown_grace if grace is None else grace
        self._stop.set()
        await asyncio.gather(self._claiming, return_exceptions=True)  # it may have died
        jobs = [r.job for r in self._running.values() if r.job is not None]
        if jobs:
            await asyncio.wait(jobs, timeout=max(grace, 0.0))
        for running in list(self._running.values()):
            if running.job is not None and not running.job.done():
                running.stop_reason = "shutdown"
                running.job.cancel()
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)
        await self._outcomes.join()
        self._loops_cancelled = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self._executor.close()
        self._log.info("worker stopped", processed=self.processed)
        self._stopped.set()

    def _supervised(
        self, name: str, body: Callable[[], Coroutine[Any, Any, None]]
    ) -> asyncio.Task[None]:
        """Run one of the worker's loops, started again if it ends before the worker meant it
        to (see :mod:`omniq.runtime.supervision`): a worker never stops claiming or finishing
        silently."""
        return supervise(
            name,
            body,
            wanted=lambda _: not self._ended_on_purpose(name),
            restarted=self._restarted,
            log=self._log,
            event="worker loop ended unexpectedly, restarting it",
        )

    def _ended_on_purpose(self, name: str) -> bool:
        """Whether loop ``name`` was meant to end: the claim loop once the worker stops; the
        others only when :meth:`stop` cancels them, after the running tasks are finished (so
        a finishing or lease loop that dies during a shutdown is started again too)."""
        return self._loops_cancelled or (name == "omniq-claim" and self._stop.is_set())

    def _restarted(self, old: asyncio.Task[None], new: asyncio.Task[None]) -> None:
        self.loop_restarts += 1
        if old is self._claiming:
            self._claiming = new
        else:
            self._loops = [new if task is old else task for task in self._loops]

    # -- claiming --------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        settings = self.settings
        failures = 0
        while not self._stop.is_set():
            free = settings.concurrency - len(self._running)
            if free <= 0:
                self._slot_free.clear()
                await self._until_stopped(self._slot_free.wait())
                continue
            try:
                claimed = await self.queue.claim(
                    settings.queues,
                    limit=free,
                    lease_seconds=settings.lease_seconds,
                    worker_id=self.worker_id,
                )
                failures = 0
            except (Exception, asyncio.CancelledError) as exc:
                raise_if_cancelled(exc)
                failures += 1
                pause = min(0.1 * 2**failures, 10.0)
                self._log.warning("claim failed, pausing", error=repr(exc), pause=pause)
                await self._until_stopped(asyncio.sleep(pause))
                continue
            for item in claimed:
                self._begin(item)
            if not claimed or (len(claimed) < free and self._waits_when_drained):
                wait = self.queue.wait_for_work(settings.queues, settings.idle_wait)
                await self._until_stopped(wait)

    async def _until_stopped(self, awaitable: Any) -> None:
        """Await ``awaitable``, or give up on it as soon as the worker is told to stop."""
        waiting = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (waiting, stopping):
                if not future.done():
                    future.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await waiting

    def _begin(self, claimed: ClaimedTask) -> None:
        task, lease = claimed.task, claimed.lease
        self.events.emit(self._event(EventType.STARTED, claimed))
        # held from here on; if anything above failed, the lease runs out and it is recovered
        running = _Running(claimed, time.monotonic())
        self._running[task.id] = running
        self._held[task.id] = lease
        running.job = asyncio.create_task(self._execute(running), name=f"omniq-task-{task.id}")
        if self.hooks.active:
            self.hooks.call(
                "omniq_task_started", task=task, attempt=lease.attempt, worker_id=self.worker_id
            )

    # -- running ---------------------------------------------------------------------------------

    async def _execute(self, running: _Running) -> None:
        claimed = running.claimed
        task = claimed.task
        try:
            outcome = await self._outcome_of(running)
        finally:
            self._running.pop(task.id, None)
            self._slot_free.set()
        self._outcomes.put_nowait(outcome)

    async def _outcome_of(self, running: _Running) -> _Outcome:
        claimed = running.claimed
        task = claimed.task
        try:
            func = self.registry.resolve(task.func)
        except FunctionNotAllowedError as exc:
            error = TaskError(type="omniq.FunctionNotAllowed", message=str(exc))
            return _Outcome("refused", claimed, error=error, retryable=False)
        try:
            payload = await self._executor.run(func, task, task.timeout)
        except asyncio.CancelledError:
            reason = running.stop_reason
            current = asyncio.current_task()
            if reason is None or current is None:
                raise
            current.uncancel()
            return _Outcome(reason, claimed)
        except TimeoutError as exc:
            if task.timeout is None:
                return self._failed(claimed, exc, running)
            error = TaskError(type="TimeoutError", message=f"timed out after {task.timeout} s")
            return _Outcome("failure", claimed, error=error, duration=self._since(running))
        except Exception as exc:
            return self._failed(claimed, exc, running)
        return _Outcome("success", claimed, payload=payload, duration=self._since(running))

    def _failed(self, claimed: ClaimedTask, exc: Exception, running: _Running) -> _Outcome:
        return _Outcome(
            "failure",
            claimed,
            error=describe_exception(exc),
            duration=self._since(running),
            retryable=not isinstance(exc, SerializationError),
        )

    @staticmethod
    def _since(running: _Running) -> float:
        return time.monotonic() - running.started

    # -- finishing -------------------------------------------------------------------------------

    async def _finish_loop(self) -> None:
        outcomes = self._outcomes
        while True:
            batch = [await outcomes.get()]
            while len(batch) < self.settings.max_batch and not outcomes.empty():
                batch.append(outcomes.get_nowait())
            try:
                await self._finish(batch)
            except (Exception, asyncio.CancelledError) as exc:
                raise_if_cancelled(exc)  # then its supervisor restarts it, unless stop() ended it
                # nothing acked: the leases run out and the tasks are run again elsewhere
                self._log.error("could not finish tasks", error=repr(exc), tasks=len(batch))
            finally:
                for outcome in batch:
                    self._held.pop(outcome.claimed.task.id, None)
                    outcomes.task_done()

    async def _finish(self, batch: Sequence[_Outcome]) -> None:
        results: list[TaskResult] = []
        terminal: list[TaskEvent] = []
        acks: list[_Outcome] = []
        dead: list[_Outcome] = []
        retries: list[_Outcome] = []
        for outcome in batch:
            kind = outcome.kind
            if kind == "success" or kind == "cancelled":
                results.append(self._result(outcome))
                event = EventType.COMPLETED if kind == "success" else EventType.CANCELLED
                terminal.append(self._event(event, outcome.claimed, outcome.duration))
                acks.append(outcome)
            elif kind == "failure" and outcome.retryable and self._attempts_left(outcome):
                retries.append(outcome)
            elif kind in ("failure", "refused"):
                results.append(self._result(outcome))
                terminal.append(self._failure_event(outcome, will_retry=False))
                terminal.append(self._dead_event(outcome))
                dead.append(outcome)
            elif kind == "shutdown":
                await self._release(outcome)
            else:
                self._log.warning("lease lost; task left to its new owner", task_id=_id(outcome))
        if results:
            await self.results.store_many(results)
        if terminal:
            await self.events.write_now(terminal)
        if acks:
            acked = await self.queue.ack([o.claimed.lease for o in acks])
            self._report_lost(o for o, ok in zip(acks, acked, strict=True) if not ok)
        for outcome in dead:
            reason = outcome.error.message if outcome.error else "failed"
            if not await self.queue.dead_letter(outcome.claimed.lease, reason=reason):
                self._report_lost([outcome])
        for outcome in retries:
            await self._retry(outcome)
        self.processed += len(results)
        if self.hooks.active:
            self._call_finish_hooks(batch, retries)

    def _attempts_left(self, outcome: _Outcome) -> bool:
        return outcome.claimed.lease.attempt < outcome.claimed.task.max_attempts

    async def _retry(self, outcome: _Outcome) -> None:
        claimed = outcome.claimed
        jitter = random.random() * self.settings.retry_jitter
        retry_at = utcnow() + backoff_delay(claimed.task, claimed.lease.attempt, jitter=jitter)
        error = outcome.error
        message = f"{error.type}: {error.message}" if error else None
        if not await self.queue.nack(claimed.lease, retry_at=retry_at, error=message):
            self._report_lost([outcome])
            return
        self.events.emit_many(
            [
                self._failure_event(outcome, will_retry=True),
                self._event(
                    EventType.RETRYING, claimed, details={"retry_at": retry_at.isoformat()}
                ),
            ]
        )

    async def _release(self, outcome: _Outcome) -> None:
        """Give a task this worker did not finish back to the queue, ready now."""
        lease = outcome.claimed.lease
        if await self.queue.nack(lease, retry_at=utcnow(), error=None, count_attempt=False):
            self._log.info("task released at shutdown", task_id=lease.task_id)

    def _report_lost(self, outcomes: Any) -> None:
        for outcome in outcomes:
            self._log.warning("lease lost before finishing", task_id=_id(outcome))

    def _call_finish_hooks(self, batch: Sequence[_Outcome], retries: Sequence[_Outcome]) -> None:
        retrying = {id(o) for o in retries}
        for outcome in batch:
            task, lease = outcome.claimed.task, outcome.claimed.lease
            common = {"task": task, "attempt": lease.attempt, "worker_id": self.worker_id}
            if outcome.kind == "success":
                self.hooks.call("omniq_task_completed", duration=outcome.duration, **common)
            elif outcome.kind == "cancelled":
                self.hooks.call("omniq_task_cancelled", **common)
            elif outcome.kind in ("failure", "refused") and outcome.error is not None:
                will_retry = id(outcome) in retrying
                self.hooks.call(
                    "omniq_task_failed", error=outcome.error, will_retry=will_retry, **common
                )
                if not will_retry:
                    self.hooks.call(
                        "omniq_task_dead_lettered",
                        task_id=task.id,
                        queue=task.queue,
                        reason=outcome.error.message,
                    )

    # -- records ---------------------------------------------------------------------------------

    def _result(self, outcome: _Outcome) -> TaskResult:
        task, lease = outcome.claimed.task, outcome.claimed.lease
        status = {
            "success": ResultStatus.SUCCESS,
            "cancelled": ResultStatus.CANCELLED,
        }.get(outcome.kind, ResultStatus.FAILURE)
        error = outcome.error
        if outcome.kind == "cancelled":
            error = TaskError(type="omniq.Cancelled", message="the task was cancelled")
        return TaskResult(
            task_id=task.id,
            status=status,
            payload=outcome.payload,
            serializer=task.serializer,
            error=error,
            expires_at=_expiry(task, self.settings.result_ttl),
            attempt=lease.attempt,
            worker_id=self.worker_id,
        )

    def _event(
        self,
        event_type: EventType,
        claimed: ClaimedTask,
        duration: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> TaskEvent:
        details = dict(details or {})
        if duration is not None:
            details["duration"] = round(duration, 6)
        task = claimed.task
        return unchecked_event(
            event_type,
            task.id,
            queue=task.queue,
            worker_id=self.worker_id,
            attempt=claimed.lease.attempt,
            details=details,
        )

    def _failure_event(self, outcome: _Outcome, *, will_retry: bool) -> TaskEvent:
        error = outcome.error or TaskError(type="omniq.Unknown", message="")
        return self._event(
            EventType.FAILED,
            outcome.claimed,
            outcome.duration,
            details={
                "error_type": error.type,
                "error": error.message,
                "traceback": error.traceback,
                "will_retry": will_retry,
                "refused": outcome.kind == "refused",
            },
        )

    def _dead_event(self, outcome: _Outcome) -> TaskEvent:
        error = outcome.error
        reason = error.message if error else "failed"
        return self._event(EventType.DEAD_LETTERED, outcome.claimed, details={"reason": reason})

    # -- leases and recovery ---------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        period = self.settings.lease_seconds / 3
        while True:
            held = list(self._held.values())  # extend first: a restarted loop at once
            if held:
                await self._extend(held)
            await asyncio.sleep(period)

    async def _extend(self, held: list[Lease]) -> None:
        try:
            renewed = await self.queue.extend(held, self.settings.lease_seconds)
        except (Exception, asyncio.CancelledError) as exc:
            raise_if_cancelled(exc)
            self._log.warning("could not extend leases", error=repr(exc), leases=len(held))
            return
        for old, new in zip(held, renewed, strict=True):
            self._on_renewed(old, new)

    def _on_renewed(self, old: Lease, new: Lease | None) -> None:
        running = self._running.get(old.task_id)
        if new is None:
            self._held.pop(old.task_id, None)
            self._stop_running(running, "lost")
            return
        if old.task_id in self._held:
            self._held[old.task_id] = new
        if new.cancel_requested:
            self._stop_running(running, "cancelled")

    @staticmethod
    def _stop_running(running: _Running | None, reason: _Kind) -> None:
        if running is None or running.job is None or running.stop_reason is not None:
            return
        running.stop_reason = reason
        running.job.cancel()

    async def _recover_loop(self) -> None:
        last_purge = time.monotonic()
        while True:
            try:
                # stamped before the recovery: a re-delivery's STARTED (which can only follow
                # it, and with inline SQLite claims may be made before this loop resumes) then
                # sorts after EXPIRED
                before = utcnow()
                recovered = await self.queue.recover_expired()
                if recovered:
                    await self._recovered(recovered, before)
                if time.monotonic() - last_purge > 60:
                    last_purge = time.monotonic()
                    await self.results.purge_expired()
            except (Exception, asyncio.CancelledError) as exc:
                raise_if_cancelled(exc)
                self._log.warning("could not recover expired leases", error=repr(exc))
            await asyncio.sleep(self.settings.recover_interval)

    async def _recovered(self, recovered: Sequence[RecoveredTask], at: datetime) -> None:
        """Record what happened to tasks whose worker let their lease expire (events at
        ``at``, when the recovery started)."""
        events: list[TaskEvent] = []
        results: list[TaskResult] = []
        for item in recovered:
            events.append(_recovery_event(item, EventType.EXPIRED, at, {"dead": item.dead}))
            if item.dead:
                reason = "its lease expired on its last attempt (the worker died or hung)"
                events.append(
                    _recovery_event(item, EventType.DEAD_LETTERED, at, {"reason": reason})
                )
                results.append(
                    TaskResult(
                        task_id=item.task_id,
                        status=ResultStatus.FAILURE,
                        error=TaskError(type="omniq.LeaseExpired", message=reason),
                        attempt=item.attempt,
                        expires_at=_expiry(None, self.settings.result_ttl),
                    )
                )
        if results:
            await self.results.store_many(results)
        await self.events.write_now(events)
        self._log.info("expired leases recovered", tasks=len(recovered))


def _recovery_event(
    item: RecoveredTask, event_type: EventType, at: datetime, details: dict[str, Any]
) -> TaskEvent:
    return TaskEvent(
        event_type=event_type,
        task_id=item.task_id,
        timestamp=at,
        queue=item.queue,
        attempt=item.attempt,
        details=details,
    )


def _make_executor(settings: WorkerSettings) -> Executor:
    if settings.worker_type == "process_pool":
        from omniq.runtime.process_pool import ProcessPoolExecutor

        return ProcessPoolExecutor(settings.concurrency)
    return LocalExecutor(settings.concurrency)


def _expiry(task: Task | None, default_ttl: float | None) -> Any:
    ttl = task.result_ttl if task is not None and task.result_ttl is not None else default_ttl
    return None if ttl is None else utcnow() + timedelta(seconds=ttl)


def _id(outcome: _Outcome) -> str:
    return outcome.claimed.task.id
