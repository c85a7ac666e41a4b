"""``OmniQ``: the synchronous API, running :class:`~omniq.runtime.async_app.AsyncOmniQ` on one
background event-loop thread.

::

    with OmniQ() as oq:
        task_id = oq.enqueue(calculate_sum, 10, 20)
        print(oq.get_result(task_id, timeout=10))

Calls hop into the loop thread, except where the storage offers synchronous producer calls
(capability ``sync_producer``): then ``enqueue``/``enqueue_many`` and the first look at a result
run in the caller's thread. Safe to use from many threads at once. An app used without ``with``
starts on first use and closes at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import signal
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar, overload

from omniq import _validate as check
from omniq import names
from omniq.models.config import OmniQConfig
from omniq.models.event import EventType, TaskEvent
from omniq.models.result import TaskResult
from omniq.models.schedule import Schedule
from omniq.models.task import CancelOutcome, QueueStats, TaskInfo, TaskState
from omniq.runtime.async_app import (
    ENQUEUE_BATCH,
    AsyncOmniQ,
    CallSpec,
    TaskStatus,
    outbox_batches,
    unpack_result,
)
from omniq.runtime.building import enqueued_event, split_options
from omniq.runtime.interrupts import releasing_notice, tell, waiting_notice
from omniq.runtime.loop_thread import LoopThread
from omniq.runtime.reruns import call_chooses_id, chooses_id
from omniq.runtime.task_function import TaskFunction
from omniq.serialization.policy import allowed_serializers
from omniq.storage import Capability, Role, SyncResultReader

if TYPE_CHECKING:
    from omniq.backend.base import Backend
    from omniq.runtime.events_sink import EventSink
    from omniq.runtime.stores import Stores

__all__ = ["OmniQ"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class OmniQ:
    """The sync OmniQ app; takes the same arguments as :class:`AsyncOmniQ`."""

    def __init__(self, config: OmniQConfig | None = None, **kwargs: Any) -> None:
        self._core = AsyncOmniQ(config, **kwargs)
        self._thread = LoopThread()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._result_reader: SyncResultReader | None = None

    @classmethod
    def from_backend(
        cls,
        backend: Backend | Any,
        *,
        result_store_backend: Backend | Any = None,
        event_store_backend: Backend | Any = None,
        schedule_store_backend: Backend | Any = None,
        **kwargs: Any,
    ) -> Self:
        """An app whose roles use ``backend``, except those given their own backend."""
        self = cls.__new__(cls)
        self._core = AsyncOmniQ.from_backend(
            backend,
            result_store_backend=result_store_backend,
            event_store_backend=event_store_backend,
            schedule_store_backend=schedule_store_backend,
            **kwargs,
        )
        self._thread = LoopThread()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._result_reader = None
        return self

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def async_app(self) -> AsyncOmniQ:
        """The async app underneath (use it only on :attr:`loop`)."""
        return self._core

    @property
    def settings(self) -> Any:
        return self._core.settings

    @property
    def registry(self) -> Any:
        return self._core.registry

    @property
    def running(self) -> bool:
        return self._started and not self._closed

    def start(self) -> None:
        """Start the loop thread and the app (idempotent; also done on first use)."""
        with self._lock:
            if self._started:
                return
            if self._closed:
                raise RuntimeError("This OmniQ app is closed; make a new one")
            self._thread.start()
            try:
                self._thread.run(self._core.start())
            except BaseException:
                self._thread.stop()
                raise
            stores = self._core.stores
            reader = stores.results
            if Capability.SYNC_PRODUCER in stores.capabilities[Role.RESULT_STORAGE] and isinstance(
                reader, SyncResultReader
            ):
                self._result_reader = reader
            self._started = True
            atexit.register(self._close_at_exit)

    def close(self, grace: float | None = None) -> None:
        """Stop the worker (running tasks get ``grace`` seconds), store buffered events, close the
        storages and the loop thread. Idempotent."""
        self._close(grace, interrupted=False)

    def _close(self, grace: float | None, *, interrupted: bool) -> None:
        grace = check.optional_seconds("grace", grace, none="the configured shutdown_grace")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            started, self._started = self._started, False
            self._result_reader = None
            atexit.unregister(self._close_at_exit)
            if not started:
                return
            try:
                self._close_core(grace, interrupted)
            finally:
                self._thread.stop()

    def _close_core(self, grace: float | None, interrupted: bool) -> None:
        """Close the core on its loop. While it closes, Ctrl-C (in the main thread) releases
        the running tasks to the queue instead of raising, which would abandon the shutdown
        and leave them leased. ``interrupted``: a Ctrl-C ended the ``with`` block: say what
        the shutdown waits for."""
        loop = self._thread.loop
        if loop is None or not self._thread.running:
            return
        previous = _on_sigint(lambda: self._release_on_interrupt(loop))
        try:
            if interrupted:
                wait = self._core.settings.shutdown_grace if grace is None else grace
                tell(waiting_notice(self._core.running_count(), wait))
            asyncio.run_coroutine_threadsafe(self._core.close(grace), loop).result()
        finally:
            _restore_sigint(previous)

    def _release_on_interrupt(self, loop: asyncio.AbstractEventLoop) -> None:
        tell(releasing_notice(self._core.running_count()))
        loop.call_soon_threadsafe(self._core.release_running)

    def _close_at_exit(self) -> None:
        self.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(None, interrupted=exc_type is KeyboardInterrupt)

    @property
    def loop(self) -> Any:
        """The event loop the app runs on (``None`` until started)."""
        return self._thread.loop

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if not self._started:
            try:
                self.start()
            except BaseException:
                coro.close()
                raise
        return self._thread.run(coro)

    @property
    def stores(self) -> Stores:
        return self._core.stores

    @property
    def queues(self) -> tuple[str, ...]:
        return self._core.queues

    @property
    def worker(self) -> Any:
        return self._core.worker

    @property
    def event_sink(self) -> EventSink:
        return self._core.event_sink

    # -- defining tasks --------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, R], /) -> TaskFunction[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_retries: int | None = None,
        retry_backoff: float | None = None,
        timeout: float | None = None,
        result_ttl: float | None = None,
    ) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_retries: int | None = None,
        retry_backoff: float | None = None,
        timeout: float | None = None,
        result_ttl: float | None = None,
    ) -> Any:
        """Register a task function: ``@oq.task`` or ``@oq.task(queue="emails", max_retries=3)``.

        ``fn.delay(*args, **kwargs)`` (or ``fn.send``) enqueues it with these defaults;
        ``fn.enqueue(*args, queue=..., **kwargs)`` takes per-call options; ``fn(...)`` runs it now.
        """

        def decorate(func: Callable[..., Any]) -> TaskFunction[..., Any]:
            path, options = self._core._task_defaults(
                func, name, queue, priority, max_retries, retry_backoff, timeout, result_ttl
            )
            return TaskFunction(self, func, path, options)

        return decorate(fn) if fn is not None else decorate

    # -- enqueueing ------------------------------------------------------------------------------

    def enqueue(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
        """Enqueue ``func(*args, **kwargs)``; returns the task id. Options as in
        :meth:`AsyncOmniQ.enqueue` (``queue``, ``priority``, ``delay``/``eta``, ``max_retries``,
        ``retry_backoff``, ``timeout``, ``result_ttl``, ``task_id``; ``kwargs={...}`` for function
        arguments named like an option)."""
        options, kwargs = split_options(kwargs)
        return self._enqueue_prepared(func, args, kwargs, options)

    def _enqueue_prepared(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: Mapping[str, Any],
    ) -> str:
        if not self._started:
            self.start()
        core = self._core
        producer = core._producer
        if producer is None or chooses_id(options):  # a chosen id may have an old result
            return self._thread.run(core._enqueue_prepared(func, args, kwargs, options))
        task = core.prepare(func, args, kwargs, options)
        outbox = core._single_outbox
        if outbox is not None:
            outbox.enqueue_with_events_sync((task,), (enqueued_event(task),))
        elif producer.enqueue_sync(task):
            core._sink.emit(enqueued_event(task))  # type: ignore[union-attr]
        return task.id

    def enqueue_many(self, calls: Iterable[CallSpec]) -> list[str]:
        """Enqueue many calls in one batch; returns their task ids in order."""
        if not self._started:
            self.start()
        core = self._core
        producer = core._producer
        calls = list(calls)
        if producer is None or any(map(call_chooses_id, calls)):
            return self._thread.run(core.enqueue_many(calls))
        tasks = [core._prepare_call(item) for item in calls]
        if not tasks:
            return []
        outbox = core._outbox
        if outbox is not None:
            for batch, events in outbox_batches(tasks):
                outbox.enqueue_with_events_sync(batch, events)
            return [task.id for task in tasks]
        if any(len(task.id) != 26 for task in tasks):
            events = [enqueued_event(t) for t in tasks if producer.enqueue_sync(t)]
        else:
            for offset in range(0, len(tasks), ENQUEUE_BATCH):
                producer.enqueue_many_sync(tasks[offset : offset + ENQUEUE_BATCH])
            events = [enqueued_event(t) for t in tasks]
        core._sink.emit_many(events)  # type: ignore[union-attr]
        return [task.id for task in tasks]

    # -- results ---------------------------------------------------------------------------------

    def get_result(self, task_id: str, timeout: float | None = None) -> Any:
        """Wait up to ``timeout`` seconds (``None``: as long as it takes) for the task's result
        and return its value; raises ``TimeoutError``, :class:`~omniq.errors.TaskFailedError` or
        :class:`~omniq.errors.TaskNotFoundError` as :meth:`AsyncOmniQ.get_result` does."""
        timeout = check.optional_seconds("timeout", timeout, none=check.WAIT_FOREVER)
        if not self._started:
            self.start()
        reader = self._result_reader
        if reader is not None:
            names.validate_task_id(task_id)
            result = reader.get_sync(task_id)
            if result is not None:
                serializers = allowed_serializers(self._core.settings.serializer)
                return unpack_result(result, serializers=serializers)
        return self._run(self._core.get_result(task_id, timeout))

    def wait_result(self, task_id: str, timeout: float | None = None) -> TaskResult:
        """The stored result record, waiting as :meth:`get_result` does."""
        timeout = check.optional_seconds("timeout", timeout, none=check.WAIT_FOREVER)
        return self._run(self._core.wait_result(task_id, timeout))

    def get_task_result(self, task_id: str) -> TaskResult | None:
        """The stored result record now, without waiting."""
        return self._run(self._core.get_task_result(task_id))

    def delete_result(self, task_id: str) -> bool:
        return self._run(self._core.delete_result(task_id))

    # -- events ----------------------------------------------------------------------------------

    def get_events(self, task_id: str) -> list[TaskEvent]:
        """Every stored event of a task, oldest first."""
        return self._run(self._core.get_events(task_id))

    def query_events(
        self,
        *,
        task_id: str | None = None,
        event_types: Iterable[EventType | str] | None = None,
        queue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_id: str | None = None,
        limit: int = 1000,
    ) -> list[TaskEvent]:
        """Stored events matching every given filter, ordered by time, at most ``limit``."""
        return self._run(
            self._core.query_events(
                task_id=task_id,
                event_types=event_types,
                queue=queue,
                since=since,
                until=until,
                after_id=after_id,
                limit=limit,
            )
        )

    def follow_events(
        self,
        *,
        task_id: str | None = None,
        event_types: Iterable[EventType | str] | None = None,
        queue: str | None = None,
        after_id: str | None = None,
    ) -> Generator[TaskEvent, None, None]:
        """Yield matching events as they are stored, from this call on (blocking between
        events); ``break`` or ``close()`` ends the stream."""
        if not self._started:
            self.start()
        stream = self._core.follow_events(
            task_id=task_id, event_types=event_types, queue=queue, after_id=after_id
        )
        return self._iterate(stream)

    def _iterate(self, stream: AsyncGenerator[TaskEvent, None]) -> Generator[TaskEvent, None, None]:
        try:
            while True:
                try:
                    yield self._run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            if self._started and not self._closed:
                self._thread.run(stream.aclose())

    # -- managing tasks and queues ---------------------------------------------------------------

    def get_task(self, task_id: str) -> TaskInfo | None:
        return self._run(self._core.get_task(task_id))

    def status(self, task_id: str) -> TaskStatus:
        return self._run(self._core.status(task_id))

    def cancel(self, task_id: str) -> CancelOutcome:
        return self._run(self._core.cancel(task_id))

    def queue_sizes(self, queues: Iterable[str] | None = None) -> dict[str, QueueStats]:
        return self._run(self._core.queue_sizes(None if queues is None else list(queues)))

    def list_tasks(
        self, queue: str, state: TaskState | str = TaskState.PENDING, limit: int = 100
    ) -> list[TaskInfo]:
        return self._run(self._core.list_tasks(queue, state, limit))

    def purge(self, queue: str, states: Iterable[TaskState | str] = (TaskState.PENDING,)) -> int:
        return self._run(self._core.purge(queue, list(states)))

    def retry_dead(self, queue: str, task_ids: Iterable[str] | None = None) -> int:
        return self._run(self._core.retry_dead(queue, None if task_ids is None else list(task_ids)))

    # -- schedules -------------------------------------------------------------------------------

    def schedule(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Schedule:
        """Run ``func(*args, **kwargs)`` on a trigger (``cron=``, ``interval=`` or ``at=``); see
        :meth:`AsyncOmniQ.schedule` for the options."""
        return self._run(self._core.schedule(func, *args, **kwargs))

    def get_schedule(self, name: str) -> Schedule | None:
        return self._run(self._core.get_schedule(name))

    def list_schedules(self) -> list[Schedule]:
        return self._run(self._core.list_schedules())

    def pause_schedule(self, name: str) -> bool:
        return self._run(self._core.pause_schedule(name))

    def resume_schedule(self, name: str) -> bool:
        return self._run(self._core.resume_schedule(name))

    def remove_schedule(self, name: str) -> bool:
        return self._run(self._core.remove_schedule(name))

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._started else "new"
        return f"<OmniQ {state} queues={list(self._core.queues)}>"


async def _next(stream: AsyncGenerator[TaskEvent, None]) -> TaskEvent:
    return await stream.__anext__()


_NOT_INSTALLED = object()


def _on_sigint(handler: Callable[[], None]) -> Any:
    """Install ``handler`` for SIGINT if this is the main thread; what to restore after."""
    if threading.current_thread() is not threading.main_thread():
        return _NOT_INSTALLED
    previous = signal.signal(signal.SIGINT, lambda signum, frame: handler())
    return signal.default_int_handler if previous is None else previous


def _restore_sigint(previous: Any) -> None:
    if previous is not _NOT_INSTALLED:
        signal.signal(signal.SIGINT, previous)
