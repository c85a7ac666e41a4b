"""The worker: claims tasks in batches under leases, runs them, and finishes them safely.

Finishing order is what makes a crash harmless: the result is stored, then the terminal event is
written, then the task is acked with its lease token, each step fenced by the lease (see
:mod:`omniq.runtime.completion`). A crash anywhere before the ack leaves the task claimed; its
lease expires and another worker (or this one, restarted) runs it again, so a task is never
completed without its result (at-least-once), and a crash never counts as a failed attempt.
While a task runs, a lease keeper extends every lease this worker holds in one call; a lease
found lost stops the task here (someone else owns it now). Between extensions it looks for cancel
requests of the running tasks every ``cancel_poll_interval`` (a read where the queue offers
:class:`CancelPolling`), and a cancel request stops the task (see :mod:`omniq.runtime.executors`
for how, per worker type). An outcome the worker cannot store (the store is away) is kept and
retried with a backoff, its lease still extended, and the worker claims nothing new meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from attrs import define, field, frozen

from omniq import _validate as check
from omniq import names
from omniq._time import utcnow
from omniq.errors import (
    ConfigurationError,
    FunctionNotAllowedError,
    SerializationError,
    SerializerNotAllowedError,
)
from omniq.ids import new_id
from omniq.logging import get_logger
from omniq.models.completion import Completion, CompletionAction
from omniq.models.config import WORKER_TYPES
from omniq.models.event import EventType, TaskEvent
from omniq.models.result import ResultStatus, TaskError, TaskResult
from omniq.models.task import (
    DEFAULT_MAX_DELIVERIES,
    ClaimedTask,
    Lease,
    RecoveredTask,
    Task,
    backoff_delay,
    expired_reason,
)
from omniq.models.unchecked import unchecked_event
from omniq.plugins.lifecycle import LifecycleHooks
from omniq.runtime.cancellation import Cancellation, set_current
from omniq.runtime.completion import Finisher, PendingCompletion
from omniq.runtime.events_sink import EventSink
from omniq.runtime.executors import Executor, LocalExecutor, describe_exception
from omniq.runtime.presence import WorkerPresence
from omniq.runtime.registry import FunctionRegistry
from omniq.runtime.supervision import raise_if_cancelled, supervise
from omniq.runtime.task_lines import TaskLines
from omniq.serialization.policy import DEFAULT_SERIALIZERS, check_serializer, serializer_names
from omniq.storage import CancelPolling, Capability, ResultStorage, TaskQueueStorage

__all__ = ["Worker", "WorkerSettings"]

log = get_logger(__name__)

_Kind = Literal["success", "failure", "refused", "cancelled", "shutdown", "lost"]


_positive = check.seconds_field(above=True)


def _poll_interval(_: object, attribute: Any, value: float) -> None:
    number = not isinstance(value, bool) and isinstance(value, int | float)
    if not number or not 0 < value < math.inf:
        raise ConfigurationError(
            f"Invalid {attribute.name} {value!r}: use a finite number of seconds > 0 (default 0.5)"
        )


def _worker_type(_: object, __: object, value: str) -> None:
    if value not in WORKER_TYPES:
        raise ValueError(f"Invalid worker_type {value!r}: use one of {', '.join(WORKER_TYPES)}")


@frozen(kw_only=True)
class WorkerSettings:
    """How a worker claims, runs and finishes tasks."""

    queues: tuple[str, ...] = field(default=("default",), converter=names.validate_queue_names)
    """Queues served, in priority order: every ready task of the first before the second."""
    concurrency: int = field(
        default=10, validator=check.count_field(minimum=1, maximum=check.MAX_WORKERS)
    )
    """Tasks run at once (coroutines, threads or child processes)."""
    worker_type: str = field(default="async", validator=_worker_type)
    lease_seconds: float = field(default=30.0, validator=_positive)
    """How long a claim holds a task; renewed every third of it while the task runs."""
    shutdown_grace: float = field(default=30.0, validator=check.seconds_field())
    """Seconds a stopping worker lets running tasks finish before releasing them."""
    result_ttl: float | None = field(default=None, validator=check.seconds_field(none="no expiry"))
    """Default TTL of results, for tasks that set none."""
    idle_wait: float = field(default=5.0, validator=_positive)
    """Longest single wait for work (backends that push wake up sooner)."""
    recover_interval: float = field(default=5.0, validator=_positive)
    """Seconds between looks for expired leases of crashed workers."""
    retry_jitter: float = field(default=0.25, validator=check.fraction_field())
    """Up to this fraction is added at random to each retry's backoff."""
    max_batch: int = field(default=500, validator=check.count_field(minimum=1, maximum=100_000))
    """Most tasks finished (results, events, acks) in one round of storage calls."""
    max_deliveries: int = field(
        default=DEFAULT_MAX_DELIVERIES, validator=check.count_field(minimum=1)
    )
    """Deliveries after which a task whose lease keeps running out goes to the dead letters
    (a poison pill that crashes or hangs its workers). Crashes never count as failed attempts."""
    event_retention: float | None = field(
        default=7 * 86400.0, validator=check.seconds_field(above=True, none="no purge")
    )
    """Events older than this many seconds are purged by the worker (once a minute); ``None``
    keeps them forever."""
    purge_interval: float = field(default=60.0, validator=_positive)
    """Seconds between purges of expired results and of events past ``event_retention``."""
    serializers: tuple[str, ...] = field(default=DEFAULT_SERIALIZERS, converter=serializer_names)
    """Serializers task arguments are decoded with (the app's): a task whose record names
    another is refused and dead-lettered, nothing of it decoded."""
    cancel_poll_interval: float = field(default=0.5, validator=_poll_interval)
    """Seconds between looks for cancel requests of the running tasks (at most every lease
    extension, ``lease_seconds / 3``): how soon ``cancel()`` reaches a running task."""
    heartbeat_interval: float | None = field(
        default=15.0, validator=check.seconds_field(above=True, none="no worker registry")
    )
    """Seconds between the worker's presence events (the worker registry that ``omniq
    dashboard`` shows, see :mod:`omniq.runtime.presence`); ``None`` records none."""


@define(eq=False)
class _Running:
    claimed: ClaimedTask
    started: float
    job: asyncio.Task[None] | None = None
    stop_reason: _Kind | None = None
    cancellation: Cancellation = field(factory=Cancellation)
    """The flag the task's function sees (``omniq.cancellation_requested()``)."""


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
        self._finisher = Finisher(
            queue, results, event_sink, lease_seconds=self.settings.lease_seconds
        )
        self._can_claim = asyncio.Event()
        """Cleared while outcomes wait for a store that is away: claim nothing more then."""
        self._can_claim.set()
        self._give_up_at: float | None = None
        """Set by :meth:`stop`: when a stopping worker stops retrying outcomes it cannot store."""
        self._slot_free = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._release_now = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._claiming: asyncio.Task[None] | None = None
        self._log = log.bind(worker_id=self.worker_id)
        self._presence: WorkerPresence | None = None
        self._lines = TaskLines(self._log, info=False)
        """One line per task (see :mod:`omniq.runtime.task_lines`); INFO decided at start."""
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
        self._lines = TaskLines.of(self._log)
        self._claiming = self._supervised("omniq-claim", self._claim_loop)
        self._loops = [
            self._supervised("omniq-finish", self._finish_loop),
            self._supervised("omniq-leases", self._keep_leases),
            self._supervised("omniq-recover", self._recover_loop),
        ]
        if self.settings.heartbeat_interval is not None:
            self._presence = WorkerPresence(
                self.events.emit,
                worker_id=self.worker_id,
                queues=self.settings.queues,
                concurrency=self.settings.concurrency,
                worker_type=self.settings.worker_type,
                interval=self.settings.heartbeat_interval,
                counts=lambda: (self.processed, len(self._running)),
            )
            self._presence.start()
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
            await self._wait_within_grace(jobs, grace)
        for running in list(self._running.values()):
            if running.job is not None and not running.job.done():
                # a task asked to stop by a cancel keeps that outcome (its thread is abandoned)
                running.stop_reason = running.stop_reason or "shutdown"
                running.cancellation.request("shutdown")
                running.job.cancel()
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)
        self._give_up_at = time.monotonic() + max(grace, 0.0)
        await self._outcomes.join()
        self._loops_cancelled = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self._executor.close()
        if self._presence is not None:
            await self._presence.stop()
        self._log.info("worker stopped", processed=self.processed)
        self._stopped.set()

    @property
    def running_count(self) -> int:
        """How many tasks this worker is running now."""
        return len(self._running)

    def release_now(self) -> None:
        """End a stop's grace at once (a second Ctrl-C): the running tasks are released to the
        queue now, their attempt not counted, so any worker claims them again at once."""
        self._release_now.set()

    async def _wait_within_grace(self, jobs: list[asyncio.Task[Any]], grace: float) -> None:
        """Wait for ``jobs`` at most ``grace`` seconds, or until :meth:`release_now`."""
        deadline = time.monotonic() + max(grace, 0.0)
        hurry = asyncio.ensure_future(self._release_now.wait())
        pending: set[asyncio.Future[Any]] = set(jobs)
        try:
            while pending and not hurry.done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                done, _ = await asyncio.wait(
                    [*pending, hurry], timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
        finally:
            hurry.cancel()

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
            if not self._can_claim.is_set():
                await self._until_stopped(self._can_claim.wait())
                continue
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
        if self._lines.info:
            self._lines.received(claimed)
        if self.hooks.active:
            self.hooks.call(
                "omniq_task_started", task=task, attempt=lease.attempt, worker_id=self.worker_id
            )

    # -- running ---------------------------------------------------------------------------------

    async def _execute(self, running: _Running) -> None:
        claimed = running.claimed
        task = claimed.task
        set_current(running.cancellation)  # in this job's own context, seen by its function
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
            check_serializer(
                task.serializer, self.settings.serializers, what="the task's arguments"
            )
            func = self.registry.resolve(task.func)
        except SerializerNotAllowedError as exc:
            error = TaskError(type="omniq.SerializerNotAllowed", message=str(exc))
            return _Outcome("refused", claimed, error=error, retryable=False)
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
            finally:
                for outcome in batch:
                    self._held.pop(outcome.claimed.task.id, None)
                    outcomes.task_done()

    async def _finish(self, batch: Sequence[_Outcome]) -> None:
        finishing: list[tuple[_Outcome, PendingCompletion]] = []
        for outcome in batch:
            completion = self._completion(outcome)
            if completion is not None:
                finishing.append((outcome, PendingCompletion(completion)))
            elif outcome.kind == "shutdown":
                await self._release(outcome)
            else:
                self._log.warning("lease lost; task left to its new owner", task_id=_id(outcome))
        pending = [p for _, p in finishing]
        await self._until_finished(pending)
        lines = self._lines
        for outcome, item in finishing:
            if item.applied:
                action = item.completion.action
                self.processed += action is not CompletionAction.RETRY
                if lines.info or action is not CompletionAction.ACK:
                    lines.finished(
                        outcome.kind,
                        outcome.claimed,
                        item.completion,
                        duration=outcome.duration,
                        error=outcome.error,
                    )
            elif item.applied is False:
                self._report_lost([outcome])
        if self.hooks.active:
            self._call_finish_hooks([o for o, p in finishing if p.applied])

    async def _until_finished(self, pending: Sequence[PendingCompletion]) -> None:
        """Apply ``pending``, retrying with a backoff while the store is away (the leases are
        still extended meanwhile, and nothing new is claimed); a stopping worker gives up after
        its grace period, and the tasks are run again once their leases expire."""
        delay = 0.1
        try:
            while True:
                try:
                    await self._finisher.finish(pending)
                    return
                except (Exception, asyncio.CancelledError) as exc:
                    raise_if_cancelled(exc)
                    undecided = sum(p.applied is None for p in pending)
                    if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
                        self._log.error(
                            "could not finish tasks before shutdown; they run again once their "
                            "leases expire",
                            error=repr(exc),
                            tasks=undecided,
                        )
                        return
                    if self._can_claim.is_set():
                        self._can_claim.clear()
                        self._log.warning(
                            "could not finish tasks; keeping their outcomes and retrying, "
                            "claiming nothing new meanwhile",
                            error=repr(exc),
                            tasks=undecided,
                        )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            if not self._can_claim.is_set():
                self._log.info("finishing tasks again; claiming resumes")
                self._can_claim.set()

    def _completion(self, outcome: _Outcome) -> Completion | None:
        """What finishing ``outcome`` means, or ``None`` for a task this worker gives up."""
        kind, claimed = outcome.kind, outcome.claimed
        lease = self._held.get(claimed.task.id, claimed.lease)  # as last extended
        if kind == "success" or kind == "cancelled":
            event = EventType.COMPLETED if kind == "success" else EventType.CANCELLED
            return Completion(
                lease=lease,
                action=CompletionAction.ACK,
                result=self._result(outcome),
                events=(self._event(event, claimed, outcome.duration),),
            )
        if kind == "failure" and self._retries(outcome):
            jitter = random.random() * self.settings.retry_jitter
            retry_at = utcnow() + backoff_delay(claimed.task, claimed.lease.attempt, jitter=jitter)
            error = outcome.error
            failed = self._failure_event(outcome, will_retry=True)
            retrying = self._event(
                EventType.RETRYING, claimed, details={"retry_at": retry_at.isoformat()}
            )
            return Completion(
                lease=lease,
                action=CompletionAction.RETRY,
                events=(failed, retrying),
                retry_at=retry_at,
                error=f"{error.type}: {error.message}" if error else None,
            )
        if kind in ("failure", "refused"):
            return Completion(
                lease=lease,
                action=CompletionAction.DEAD_LETTER,
                result=self._result(outcome),
                events=(
                    self._failure_event(outcome, will_retry=False),
                    self._dead_event(outcome),
                ),
                reason=outcome.error.message if outcome.error else "failed",
            )
        return None

    def _retries(self, outcome: _Outcome) -> bool:
        """Whether a failed ``outcome`` is retried (its attempts counted against max_retries)."""
        attempts_left = outcome.claimed.lease.attempt < outcome.claimed.task.max_attempts
        return outcome.retryable and attempts_left

    async def _release(self, outcome: _Outcome) -> None:
        """Give a task this worker did not finish back to the queue, ready now."""
        lease = outcome.claimed.lease
        try:
            released = await self.queue.nack(
                lease, retry_at=utcnow(), error=None, count_attempt=False
            )
        except (Exception, asyncio.CancelledError) as exc:
            raise_if_cancelled(exc)
            self._log.warning(
                "could not release a task at shutdown; it runs again once its lease expires",
                task_id=lease.task_id,
                error=repr(exc),
            )
            return
        if released:
            self._log.info("task released at shutdown", task_id=lease.task_id)

    def _report_lost(self, outcomes: Any) -> None:
        for outcome in outcomes:
            self._log.warning(
                "lease lost before finishing; the outcome was refused", task_id=_id(outcome)
            )

    def _call_finish_hooks(self, finished: Sequence[_Outcome]) -> None:
        for outcome in finished:
            task, lease = outcome.claimed.task, outcome.claimed.lease
            common = {"task": task, "attempt": lease.attempt, "worker_id": self.worker_id}
            if outcome.kind == "success":
                self.hooks.call("omniq_task_completed", duration=outcome.duration, **common)
            elif outcome.kind == "cancelled":
                self.hooks.call("omniq_task_cancelled", **common)
            elif outcome.kind in ("failure", "refused") and outcome.error is not None:
                will_retry = outcome.kind == "failure" and self._retries(outcome)
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
            delivery=lease.delivery,
        )

    def _event(
        self,
        event_type: EventType,
        claimed: ClaimedTask,
        duration: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> TaskEvent:
        task = claimed.task
        details = {"func": task.func, **(details or {})}  # per-function metrics read it
        if duration is not None:
            details["duration"] = round(duration, 6)
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
        """Extend every held lease each ``lease_seconds / 3``; in between, look for cancel
        requests of the running tasks each ``cancel_poll_interval``."""
        extend_every = self.settings.lease_seconds / 3
        poll_every = min(self.settings.cancel_poll_interval, extend_every)
        poller = self.queue if isinstance(self.queue, CancelPolling) else None
        next_extend = time.monotonic()  # extend first: a restarted loop at once
        while True:
            if time.monotonic() >= next_extend:
                next_extend = time.monotonic() + extend_every
                held = list(self._held.values())
                if held:
                    await self._extend(held)
            else:
                await self._poll_cancels(poller)
            await asyncio.sleep(max(min(poll_every, next_extend - time.monotonic()), 0.0))

    async def _extend(self, held: list[Lease]) -> None:
        try:
            renewed = await self.queue.extend(held, self.settings.lease_seconds)
        except (Exception, asyncio.CancelledError) as exc:
            raise_if_cancelled(exc)
            self._log.warning("could not extend leases", error=repr(exc), leases=len(held))
            return
        for old, new in zip(held, renewed, strict=True):
            self._on_renewed(old, new)

    async def _poll_cancels(self, poller: CancelPolling | None) -> None:
        """Stop the running tasks whose cancel was requested: asked with a read where the
        queue offers one (:class:`CancelPolling`), else by extending their leases."""
        held = self._held
        leases = [
            held[task_id]
            for task_id, running in self._running.items()
            if running.stop_reason is None and task_id in held
        ]
        if not leases:
            return
        if poller is None:
            await self._extend(leases)
            return
        try:
            flags = await poller.cancel_requests(leases)
        except (Exception, asyncio.CancelledError) as exc:
            raise_if_cancelled(exc)
            # the next extension says whether the store is away; no warning twice a second
            self._log.debug("could not look for cancel requests", error=repr(exc))
            return
        for lease, flag in zip(leases, flags, strict=True):
            if flag:
                self._stop_running(self._running.get(lease.task_id), "cancelled")

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
        """Stop a running task: its function is told through its cancellation flag first, then
        the job awaiting it is cancelled (the executor stops the function per worker type)."""
        if running is None or running.job is None or running.stop_reason is not None:
            return
        running.stop_reason = reason
        running.cancellation.request(reason)
        running.job.cancel()

    async def _recover_loop(self) -> None:
        last_purge = time.monotonic()
        while True:
            try:
                # stamped before the recovery: a re-delivery's STARTED (which can only follow
                # it, and with inline SQLite claims may be made before this loop resumes) then
                # sorts after EXPIRED
                before = utcnow()
                recovered = await self.queue.recover_expired(
                    max_deliveries=self.settings.max_deliveries
                )
                if recovered:
                    await self._recovered(recovered, before)
            except (Exception, asyncio.CancelledError) as exc:
                raise_if_cancelled(exc)
                self._log.warning("could not recover expired leases", error=repr(exc))
            if time.monotonic() - last_purge > self.settings.purge_interval:
                last_purge = time.monotonic()
                await self._purge()
            await asyncio.sleep(self.settings.recover_interval)

    async def _purge(self) -> None:
        """Drop expired results and events past the retention, so that stores stay bounded
        without the user calling anything."""
        try:
            results = await self.results.purge_expired()
            events = 0
            retention = self.settings.event_retention
            if retention is not None:
                cutoff = utcnow() - timedelta(seconds=retention)
                events = await self.events.storage.purge(cutoff)
        except (Exception, asyncio.CancelledError) as exc:
            raise_if_cancelled(exc)
            self._log.warning("could not purge old results and events", error=repr(exc))
            return
        if results or events:
            self._log.info("purged old records", results=results, events=events)

    async def _recovered(self, recovered: Sequence[RecoveredTask], at: datetime) -> None:
        """Record what happened to tasks whose worker let their lease expire (events at
        ``at``, when the recovery started)."""
        events: list[TaskEvent] = []
        results: list[TaskResult] = []
        for item in recovered:
            events.append(_recovery_event(item, EventType.EXPIRED, at, {"dead": item.dead}))
            if item.dead:
                reason = expired_reason(item.delivery, dead=True)
                events.append(
                    _recovery_event(item, EventType.DEAD_LETTERED, at, {"reason": reason})
                )
                results.append(
                    TaskResult(
                        task_id=item.task_id,
                        status=ResultStatus.FAILURE,
                        error=TaskError(type="omniq.MaxDeliveries", message=reason),
                        attempt=item.attempt,
                        expires_at=_expiry(None, self.settings.result_ttl),
                        delivery=item.delivery,
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

        return ProcessPoolExecutor(settings.concurrency, settings.serializers)
    return LocalExecutor(settings.concurrency, settings.serializers)


def _expiry(task: Task | None, default_ttl: float | None) -> Any:
    ttl = task.result_ttl if task is not None and task.result_ttl is not None else default_ttl
    return None if ttl is None else utcnow() + timedelta(seconds=ttl)


def _id(outcome: _Outcome) -> str:
    return outcome.claimed.task.id
