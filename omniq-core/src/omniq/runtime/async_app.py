"""``AsyncOmniQ``: the async task runtime API; :class:`~omniq.runtime.sync_app.OmniQ` wraps it.

::

    async with AsyncOmniQ() as oq:              # config from the environment, else SQLite
        task_id = await oq.enqueue(add, 1, 2, queue="default", delay=5)
        print(await oq.get_result(task_id, timeout=10))

An app opens the storages of the four roles, writes an ``enqueued`` event for every task
(batched), and by default runs a worker in-process (``workers=0`` makes a producer only).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import signal
import time
from collections.abc import (
    AsyncGenerator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar, overload

from omniq import _validate as check
from omniq import names
from omniq._time import utcnow
from omniq.errors import (
    ConfigurationError,
    StorageUnavailableError,
    TaskFailedError,
    TaskNotFoundError,
    ValidationError,
)
from omniq.ids import new_id
from omniq.logging import get_logger
from omniq.models.config import DEFAULT_WORKERS, OmniQConfig
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.result import ResultStatus, TaskError, TaskResult
from omniq.models.schedule import Schedule
from omniq.models.task import (
    DEFAULT_QUEUE,
    CancelOutcome,
    QueueStats,
    Task,
    TaskInfo,
    TaskState,
)
from omniq.runtime.building import (
    DEFAULT_MAX_PAYLOAD_SIZE,
    TaskBuilder,
    TaskOptions,
    enqueued_event,
    split_options,
)
from omniq.runtime.codec import decode_value
from omniq.runtime.components import TaskQueue
from omniq.runtime.events_sink import EventSink
from omniq.runtime.interrupts import releasing_notice, tell, waiting_notice
from omniq.runtime.registry import (
    LOCAL_PREFIX,
    FunctionRegistry,
    allowed_modules_from_env,
    parse_allowed_modules,
)
from omniq.runtime.reruns import (
    call_chooses_id,
    chooses_id,
    supersede_dead_results,
    supersede_results,
)
from omniq.runtime.settings import AppSettings, settings_from, settings_with
from omniq.runtime.stack_dump import dump_stacks
from omniq.runtime.stores import RoleSource, Stores, open_stores
from omniq.runtime.task_function import AsyncTaskFunction, Call, _BaseTaskFunction
from omniq.serialization.policy import allowed_serializers
from omniq.storage import (
    Capability,
    EventOutbox,
    Role,
    SyncTaskProducer,
    takes_single_enqueues,
)

if TYPE_CHECKING:
    from omniq.backend.base import Backend
    from omniq.runtime.eager import EagerRunner

__all__ = ["AsyncOmniQ", "TaskStatus"]

log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

ENQUEUE_BATCH = 1000
"""enqueue_many stores at most this many tasks per storage call."""


def outbox_batches(tasks: list[Task]) -> Iterator[tuple[list[Task], list[TaskEvent]]]:
    """``tasks`` in batches of :data:`ENQUEUE_BATCH`, each with its tasks' ``enqueued`` events
    (what an :class:`~omniq.storage.EventOutbox` stores together)."""
    for offset in range(0, len(tasks), ENQUEUE_BATCH):
        batch = tasks[offset : offset + ENQUEUE_BATCH]
        yield batch, [enqueued_event(task) for task in batch]


_WAIT_SLICE = 5.0
"""get_result re-checks the queue (dead letter, cancelled, unknown) this often while waiting."""
_FIRST_WAIT = 0.05
"""get_result first waits this long before it checks whether a result can come at all: a
result that comes sooner costs no look at the queue (three round trips on Redis, half the
enqueue-to-result latency there, measured), and an unknown or dead task is still reported
within this long."""


class TaskStatus(enum.StrEnum):
    """Where a task stands, from the queue and the result store together."""

    PENDING = "pending"
    """Waiting in the queue and ready to run."""
    DELAYED = "delayed"
    """Waiting in the queue for its ``eta``."""
    ACTIVE = "active"
    """Claimed by a worker."""
    DEAD = "dead"
    """In the dead letters."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    """Not in the queue and no (unexpired) result."""


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


CallSpec = Call | tuple[Any, ...]
"""An item of ``enqueue_many``: a :class:`Call` (``omniq.runtime.call(f, *args, **kw)`` or
``task_fn.call(...)``) or a tuple ``(func, args)``, ``(func, args, kwargs)`` or
``(func, args, kwargs, options)``."""


class AsyncOmniQ:
    """The async OmniQ app. See the module docstring and ``docs/guide.md``.

    Storages come from, per role: ``task_queue=``/``result_storage=``/``event_storage=``/
    ``schedule_storage=`` (a storage, a component, a ``Backend`` or a URL), ``backend=`` (for every
    role it has), ``*_url=``, then ``config`` (``OmniQConfig``; default: from the environment,
    else SQLite ``omniq.db`` in the working directory). Backends and storages given to the app
    are closed with it unless ``own_backends=False``. ``eager=True`` (or the configuration's
    ``eager``, ``OMNIQ_EAGER``) runs each task inline at enqueue, for tests (see
    :mod:`omniq.runtime.eager`).
    """

    def __init__(
        self,
        config: OmniQConfig | None = None,
        *,
        backend: Backend | None = None,
        task_queue: RoleSource = None,
        result_storage: RoleSource = None,
        event_storage: RoleSource = None,
        schedule_storage: RoleSource = None,
        task_queue_url: str | None = None,
        result_storage_url: str | None = None,
        event_storage_url: str | None = None,
        schedule_storage_url: str | None = None,
        workers: int | None = None,
        worker_type: str | None = None,
        queues: Sequence[str] | None = None,
        serializer: str | None = None,
        allowed_modules: Iterable[str] | str | None = None,
        max_payload_size: int | None = None,
        result_ttl: float | None = None,
        scheduler: bool | None = None,
        worker_options: Mapping[str, Any] | None = None,
        own_backends: bool = True,
        eager: bool | None = None,
    ) -> None:
        self.settings: AppSettings = settings_from(
            config,
            workers=workers,
            worker_type=worker_type,
            queues=queues,
            serializer=serializer,
            max_payload_size=max_payload_size,
            result_ttl=result_ttl,
            scheduler=scheduler,
            worker_options=worker_options,
            eager=eager,
        )
        self.config = self.settings.config
        self._backend = backend
        self._sources: dict[Role, RoleSource] = {
            Role.TASK_QUEUE: task_queue if task_queue is not None else task_queue_url,
            Role.RESULT_STORAGE: result_storage
            if result_storage is not None
            else result_storage_url,
            Role.EVENT_STORAGE: event_storage if event_storage is not None else event_storage_url,
            Role.SCHEDULE_STORAGE: schedule_storage
            if schedule_storage is not None
            else schedule_storage_url,
        }
        self._own_backends = own_backends
        modules = parse_allowed_modules(self.settings.allowed_modules)
        if allowed_modules is not None:
            modules += parse_allowed_modules(allowed_modules)
        modules += allowed_modules_from_env()
        self.registry = FunctionRegistry(
            modules, allow_pickled=self.settings.serializer == "pickle"
        )
        self._builder = TaskBuilder(
            serializer=self.settings.serializer,
            max_payload_size=self.settings.max_payload_size or DEFAULT_MAX_PAYLOAD_SIZE,
            default_result_ttl=self.settings.result_ttl,
        )
        self._state = _State.NEW
        self._start_lock = asyncio.Lock()
        self._stores: Stores | None = None
        self._sink: EventSink | None = None
        self._producer: SyncTaskProducer | None = None
        self._outbox: EventOutbox | None = None
        """The task queue, when it stores the ``enqueued`` events of a batch with its tasks (see
        :class:`~omniq.storage.EventOutbox`); the sink is not used for those then."""
        self._single_outbox: EventOutbox | None = None
        """The outbox again when one-at-a-time enqueues go through it too
        (:func:`~omniq.storage.takes_single_enqueues`)."""
        self._serialize_by_queue: dict[str, bool] = {}
        self._queues: tuple[str, ...] = self.settings.queues
        if isinstance(task_queue, TaskQueue) and not self.settings.queues_given:
            self._queues = task_queue.queues
        self._defaults = self._base_options()
        self.worker: Any = None
        self.scheduler: Any = None
        self._eager: EagerRunner | None = None
        """Runs each task at enqueue in eager mode (``eager=True``)."""
        self._loop: asyncio.AbstractEventLoop | None = None

    def _base_options(self, **changes: Any) -> TaskOptions:
        settings = self.settings
        options = TaskOptions(
            queue=_default_queue(self._queues),
            max_retries=settings.default_max_retries,
            retry_backoff=settings.retry_backoff,
        )
        return options.merged(**changes)

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
        if isinstance(backend, Mapping | str):
            raise TypeError("from_backend() takes a Backend; use OmniQ(config=...) for settings")
        return cls(
            backend=backend if not _is_component(backend) else None,
            task_queue=backend if _is_component(backend) else None,
            result_storage=result_store_backend,
            event_storage=event_store_backend,
            schedule_storage=schedule_store_backend,
            **kwargs,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._state is _State.RUNNING

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was ever called (the app may be running or closed since)."""
        return self._state is not _State.NEW

    async def where_stored(self) -> dict[Role, tuple[str, bool]]:
        """Per role: where its store is (secrets masked) and whether it exists, found out
        without creating any store (what ``omniq status`` reads first)."""
        if self._stores is not None:
            stores, made = self._stores, False
        else:
            stores, made = (
                open_stores(
                    config=self.config,
                    backend=self._backend,
                    sources=self._sources,
                    own_given=self._own_backends,
                ),
                True,
            )
        try:
            found: dict[Role, tuple[str, bool]] = {}
            for role in Role:
                storage = stores.storage(role)
                found[role] = (storage.describe(), await storage.exists())
            return found
        finally:
            if made:
                await stores.close()

    async def start(self) -> None:
        """Open the storages, start the event writer and, unless ``workers=0``, a worker
        (and the scheduler). Called by ``async with`` and on first use."""
        async with self._start_lock:
            if self._state is _State.RUNNING:
                return
            if self._state is _State.CLOSED:
                raise RuntimeError("This OmniQ app is closed; make a new one")
            self._loop = asyncio.get_running_loop()
            stores = open_stores(
                config=self.config,
                backend=self._backend,
                sources=self._sources,
                own_given=self._own_backends,
            )
            self._stores = stores  # so that a failed start closes what it opened
            try:
                await stores.connect()
                sink = EventSink(stores.events)
                await sink.start()
                self._sink = sink
                if self.settings.eager:
                    await self._start_eager(stores, sink)
                queue_storage = stores.task_queue
                if (
                    self._eager is None
                    and Capability.SYNC_PRODUCER in stores.capabilities[Role.TASK_QUEUE]
                    and isinstance(queue_storage, SyncTaskProducer)
                ):
                    self._producer = queue_storage
                if (
                    self._eager is None
                    and isinstance(queue_storage, EventOutbox)
                    and queue_storage.shares_events_with(stores.events)
                ):
                    self._outbox = queue_storage
                    if takes_single_enqueues(queue_storage):
                        self._single_outbox = queue_storage
                if self.settings.workers:
                    await self._start_worker()
                if self.settings.scheduler:
                    await self._start_scheduler()
            except BaseException:
                await self._shutdown(grace=0.0)
                raise
            self._state = _State.RUNNING

    async def _start_eager(self, stores: Stores, sink: EventSink) -> None:
        from omniq.runtime.eager import EagerRunner

        runner = EagerRunner(self, stores, sink)
        await runner.start()
        self._eager = runner

    async def _start_worker(self) -> None:
        from omniq.runtime.app_worker import make_worker

        assert self._stores is not None
        assert self._sink is not None
        self.worker = make_worker(self, self._stores, self._sink)
        await self.worker.start()

    async def _start_scheduler(self) -> None:
        from omniq.runtime.app_worker import make_scheduler

        assert self._stores is not None
        assert self._sink is not None
        self.scheduler = make_scheduler(self, self._stores, self._sink)
        await self.scheduler.start()

    async def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        worker_type: str | None = None,
        scheduler: bool | None = None,
        handle_signals: bool = True,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        """Run this app as a worker process (what ``omniq worker`` does): start the storages,
        a worker (with the given overrides) and, unless ``scheduler=False``, the scheduler;
        run until SIGTERM or SIGINT (or :meth:`request_stop`), then shut down gracefully within
        ``shutdown_grace`` so that no task is lost. ``on_started`` is called once the worker
        runs (``omniq worker`` prints its banner then)."""
        if self._state is not _State.NEW:
            raise RuntimeError("run_worker() needs an app that has not been started")
        if self.settings.eager:
            raise ConfigurationError(
                "A worker needs an app that is not eager: an eager app runs each task when it "
                "is enqueued, for tests (unset eager=True / OMNIQ_EAGER for a worker)"
            )
        changes: dict[str, Any] = {}
        if concurrency is not None:
            changes["workers"] = concurrency
        elif not self.settings.workers:
            changes["workers"] = DEFAULT_WORKERS
        if worker_type is not None:
            changes["worker_type"] = worker_type
        if scheduler is not None:
            changes["scheduler"] = scheduler
        if changes:
            self.settings = settings_with(self.settings, **changes)
        if queues is not None:
            self._queues = names.validate_queue_names(queues)
        self._stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        watched: list[signal.Signals] = []
        if handle_signals:
            loop.add_signal_handler(signal.SIGTERM, self._stop_requested.set)
            loop.add_signal_handler(signal.SIGINT, self._interrupted)
            loop.add_signal_handler(signal.SIGUSR1, dump_stacks)  # what is it waiting on?
            watched += [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1]
        try:
            if not await self._start_when_reachable(self._stop_requested):
                return  # told to stop before its storages could be reached
            if on_started is not None:
                on_started()
            log.info("worker process running", queues=list(self._queues), pid=os.getpid())
            await self._stop_requested.wait()
            log.info("worker process stopping", grace=self.settings.shutdown_grace)
        finally:
            try:
                await self.close()  # a Ctrl-C meanwhile releases the running tasks
                log.info("worker process stopped", pid=os.getpid())
            finally:
                for signum in watched:
                    loop.remove_signal_handler(signum)

    async def _start_when_reachable(self, stop: asyncio.Event) -> bool:
        """:meth:`start`, tried again with a backoff (0.5 s doubling to 10 s) while a store
        cannot be reached (:class:`~omniq.errors.StorageUnavailableError`), as Celery's worker
        does for its broker: a worker started before its server, or during a restart, waits for
        it. Any other error (credentials, configuration) is raised at once. ``False`` if
        ``stop`` was set first."""
        delay = 0.5
        while True:
            try:
                await self.start()
                return True
            except StorageUnavailableError as exc:
                log.warning(
                    "storage unavailable at start-up; retrying (stop with SIGTERM or Ctrl-C)",
                    error=str(exc),
                    retry_in=delay,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return False
            delay = min(delay * 2, 10.0)

    def _interrupted(self) -> None:
        """Ctrl-C in :meth:`run_worker`: the first stops gracefully, saying what it waits for;
        the next releases the running tasks to the queue at once."""
        self._interrupts = getattr(self, "_interrupts", 0) + 1
        if self._interrupts == 1:
            tell(waiting_notice(self.running_count(), self.settings.shutdown_grace))
            self._stop_requested.set()
        else:
            tell(releasing_notice(self.running_count()))
            self.release_running()

    def running_count(self) -> int:
        """How many tasks this app's worker is running (during a shutdown too)."""
        worker = self.worker or getattr(self, "_stopping_worker", None)
        return 0 if worker is None else worker.running_count

    def release_running(self) -> None:
        """End a shutdown's grace now: the tasks still running are released to the queue, their
        attempt not counted (what a second Ctrl-C does). Call it on the app's loop."""
        worker = self.worker or getattr(self, "_stopping_worker", None)
        if worker is not None:
            worker.release_now()

    def request_stop(self) -> None:
        """Ask :meth:`run_worker` to shut down gracefully (thread-safe)."""
        event = getattr(self, "_stop_requested", None)
        loop = self._loop
        if event is not None and loop is not None:
            loop.call_soon_threadsafe(event.set)

    async def close(self, grace: float | None = None) -> None:
        """Stop the scheduler and the worker (letting running tasks finish within ``grace``
        seconds), store the buffered events, and close the storages."""
        grace = check.optional_seconds("grace", grace, none="the configured shutdown_grace")
        async with self._start_lock:
            if self._state is _State.CLOSED:
                return
            self._state = _State.CLOSED
            await self._shutdown(grace)

    async def _shutdown(self, grace: float | None) -> None:
        errors: list[BaseException] = []
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            try:
                await scheduler.stop()
            except Exception as exc:
                errors.append(exc)
        worker, self.worker = self.worker, None
        if worker is not None:
            self._stopping_worker = worker  # a second Ctrl-C may still release its tasks
            try:
                await worker.stop(grace if grace is not None else self.settings.shutdown_grace)
            except Exception as exc:
                errors.append(exc)
            finally:
                self._stopping_worker = None
        eager, self._eager = self._eager, None
        if eager is not None:
            try:
                await eager.close()
            except Exception as exc:
                errors.append(exc)
        sink, self._sink = self._sink, None
        if sink is not None:
            try:
                await sink.close()
            except Exception as exc:
                log.error("could not store buffered events", error=repr(exc), lost=len(sink))
                errors.append(exc)
        stores, self._stores = self._stores, None
        self._producer = None
        self._outbox = None
        self._single_outbox = None
        if stores is not None:
            try:
                await stores.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _ready(self) -> Stores:
        if self._state is not _State.RUNNING:
            await self.start()
        assert self._stores is not None
        return self._stores

    # -- storages --------------------------------------------------------------------------------

    @property
    def stores(self) -> Stores:
        """The storages in use (after :meth:`start`)."""
        if self._stores is None:
            raise RuntimeError("The app is not started: use 'async with' or await start()")
        return self._stores

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues this app's worker serves, in priority order."""
        return self._queues

    @property
    def event_sink(self) -> EventSink:
        if self._sink is None:
            raise RuntimeError("The app is not started: use 'async with' or await start()")
        return self._sink

    # -- defining tasks --------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, R], /) -> AsyncTaskFunction[P, R]: ...

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
    ) -> Callable[[Callable[P, R]], AsyncTaskFunction[P, R]]: ...

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

        ``await fn.delay(*args, **kwargs)`` enqueues it with these defaults."""

        def decorate(func: Callable[..., Any]) -> AsyncTaskFunction[..., Any]:
            path, options = self._task_defaults(
                func, name, queue, priority, max_retries, retry_backoff, timeout, result_ttl
            )
            return AsyncTaskFunction(self, func, path, options)

        return decorate(fn) if fn is not None else decorate

    def _task_defaults(
        self,
        func: Callable[..., Any],
        name: str | None,
        queue: str | None,
        priority: int | None,
        max_retries: int | None,
        retry_backoff: float | None,
        timeout: float | None,
        result_ttl: float | None,
    ) -> tuple[str, TaskOptions]:
        path = self.registry.register(func, name)
        options = self._base_options(
            queue=queue,
            priority=priority,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            timeout=timeout,
            result_ttl=result_ttl,
        )
        return path, options

    # -- enqueueing ------------------------------------------------------------------------------

    async def enqueue(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
        """Enqueue ``func(*args, **kwargs)``; returns the task id.

        Options (not passed to ``func``): ``queue``, ``priority`` (-100..100, higher first),
        ``delay`` (seconds or timedelta) or ``eta`` (datetime), ``max_retries``,
        ``retry_backoff`` (seconds), ``timeout`` (seconds), ``result_ttl`` (seconds),
        ``task_id`` (enqueueing an id already queued does nothing; an id whose task finished runs
        again, its old result deleted first, so ``get_result`` waits for the new run). Pass a
        function argument named like an option in ``kwargs={...}``.
        """
        options, kwargs = split_options(kwargs)
        return await self._enqueue_prepared(func, args, kwargs, options)

    async def _enqueue_prepared(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: Mapping[str, Any],
    ) -> str:
        if self._state is not _State.RUNNING:
            await self.start()
        task = self.prepare(func, args, kwargs, options)
        stores = self._stores
        assert stores is not None
        if chooses_id(options):
            await supersede_results(stores, (task.id,))
        if self._eager is not None:
            await self._eager.run(task, enqueued_event(task))
            return task.id
        outbox = self._single_outbox
        if outbox is not None:
            await outbox.enqueue_with_events((task,), (enqueued_event(task),))
        elif await stores.task_queue.enqueue(task):
            self._sink.emit(enqueued_event(task))  # type: ignore[union-attr]
        return task.id

    async def enqueue_many(self, calls: Iterable[CallSpec]) -> list[str]:
        """Enqueue many calls in one batch; returns their task ids in order."""
        stores = await self._ready()
        items = list(calls)
        tasks = [self._prepare_call(item) for item in items]
        if not tasks:
            return []
        chosen = [t.id for t, item in zip(tasks, items, strict=True) if call_chooses_id(item)]
        if chosen:
            await supersede_results(stores, chosen)
        if self._eager is not None:
            for task in tasks:
                await self._eager.run(task, enqueued_event(task))
            return [task.id for task in tasks]
        events = await self._store_many(tasks, stores)
        self._sink.emit_many(events)  # type: ignore[union-attr]
        return [task.id for task in tasks]

    async def _store_many(self, tasks: list[Task], stores: Stores) -> list[TaskEvent]:
        """Store ``tasks``; the ``enqueued`` events left for the sink to write."""
        if self._outbox is not None:
            for batch, events in outbox_batches(tasks):
                await self._outbox.enqueue_with_events(batch, events)
            return []
        if any(len(task.id) != 26 for task in tasks):  # caller-chosen ids may already exist
            events = []
            for task in tasks:
                if await stores.task_queue.enqueue(task):
                    events.append(enqueued_event(task))
            return events
        for offset in range(0, len(tasks), ENQUEUE_BATCH):
            await stores.task_queue.enqueue_many(tasks[offset : offset + ENQUEUE_BATCH])
        return [enqueued_event(task) for task in tasks]

    def _prepare_call(self, item: CallSpec) -> Task:
        if isinstance(item, Call):
            return self.prepare(item.func, item.args, dict(item.kwargs), item.options)
        if not isinstance(item, tuple) or not 1 <= len(item) <= 4:
            raise ValidationError(
                f"Invalid call {item!r}: use omniq.runtime.call(func, *args, **kwargs), "
                "task_fn.call(...), or a tuple (func, args[, kwargs[, options]])"
            )
        func = item[0]
        args = tuple(item[1]) if len(item) > 1 else ()
        kwargs = dict(item[2]) if len(item) > 2 else {}
        options = dict(item[3]) if len(item) > 3 else {}
        return self.prepare(func, args, kwargs, options)

    def prepare(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: Mapping[str, Any],
        *,
        cross_process: bool | None = None,
    ) -> Task:
        """The task record for a call (validated, serialized); stores nothing. The app must be
        started. ``cross_process=True`` requires a function any process can find."""
        if isinstance(func, _BaseTaskFunction):
            defaults = func.options
            path = func.path
            if not path.startswith(LOCAL_PREFIX):
                return self._builder.build(path, args, kwargs, options, defaults)
            func = func.fn
        elif callable(func):
            defaults = self._defaults
        else:
            raise ValidationError(f"Cannot enqueue {func!r}: it is not callable")
        queue = options.get("queue")
        queue = defaults.queue if queue is None else self._builder.queue_name(queue)
        serializable = cross_process or self._serialize_by_queue.get(queue)
        if serializable is None:
            serializable = self._must_serialize(queue)
        path = self.registry.path_of(func, serializable)
        return self._builder.build(path, args, kwargs, options, defaults)

    def _must_serialize(self, queue: str) -> bool:
        """Whether a task on ``queue`` may have to run in another process."""
        if self._eager is not None:
            return False  # it runs here, now
        stores = self._stores
        assert stores is not None
        caps = stores.capabilities[Role.TASK_QUEUE]
        shared = Capability.MULTI_PROCESS in caps or Capability.PERSISTENT in caps
        settings = self.settings
        local_worker = bool(settings.workers) and queue in self._queues
        # A process pool runs every task in a child process, even from an in-memory queue.
        child_processes = local_worker and settings.worker_type == "process_pool"
        must = child_processes or (shared and not local_worker)
        if len(self._serialize_by_queue) < 10_000:
            self._serialize_by_queue[queue] = must
        return must

    # -- results ---------------------------------------------------------------------------------

    async def get_result(self, task_id: str, timeout: float | None = None) -> Any:
        """Wait for the task's result and return its value.

        ``timeout`` in seconds (``None`` waits as long as it takes). Raises ``TimeoutError`` when
        the wait runs out, :class:`~omniq.errors.TaskFailedError` (remote type, message and
        traceback) when the task failed, was dead-lettered or cancelled, and
        :class:`~omniq.errors.TaskNotFoundError` when the queue has no such task and there is no
        result (unknown id, or the result expired). A result whose record names a serializer
        this app's configuration does not allow raises
        :class:`~omniq.errors.SerializerNotAllowedError`, nothing decoded.
        """
        result = await self.wait_result(task_id, timeout)
        return unpack_result(result, serializers=allowed_serializers(self.settings.serializer))

    async def wait_result(
        self,
        task_id: str,
        timeout: float | None = None,
    ) -> TaskResult:
        """The stored :class:`~omniq.models.TaskResult` record, waiting as ``get_result`` does."""
        names.validate_task_id(task_id)
        timeout = check.optional_seconds("timeout", timeout, none=check.WAIT_FOREVER)
        stores = await self._ready()
        results = stores.results
        deadline = None if timeout is None else time.monotonic() + timeout
        slice_ = _FIRST_WAIT
        while True:
            # the wait looks for a stored result first: a finished task costs one read
            remaining = slice_ if deadline is None else deadline - time.monotonic()
            result = await results.wait(task_id, max(min(remaining, slice_), 0.0))
            if result is not None:
                return result
            await self._check_waitable(task_id, stores)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"No result for task {task_id} within {timeout} seconds")
            slice_ = _WAIT_SLICE

    async def _check_waitable(self, task_id: str, stores: Stores) -> None:
        """Raise if no result can come: the task is dead or unknown."""
        info = await stores.task_queue.get(task_id)
        if info is not None and info.state is not TaskState.DEAD:
            return
        # Workers store the result before they ack: look once more before concluding.
        if await stores.results.get(task_id) is not None:
            return
        if info is not None:
            raise TaskFailedError(
                task_id,
                "omniq.DeadLetter",
                info.last_error or "the task was dead-lettered",
                status="dead",
            )
        raise TaskNotFoundError(
            f"No task {task_id} in the queue and no result for it (unknown id, or its result "
            "expired or was deleted)"
        )

    async def get_task_result(self, task_id: str) -> TaskResult | None:
        """The stored result record now, without waiting (``None`` if there is none)."""
        names.validate_task_id(task_id)
        stores = await self._ready()
        return await stores.results.get(task_id)

    async def delete_result(self, task_id: str) -> bool:
        names.validate_task_id(task_id)
        stores = await self._ready()
        return await stores.results.delete(task_id)

    # -- events ----------------------------------------------------------------------------------

    async def get_events(self, task_id: str) -> list[TaskEvent]:
        """Every stored event of a task, oldest first (this process's own events included)."""
        names.validate_task_id(task_id)
        return await self.query_events(task_id=task_id, limit=100_000)

    async def query_events(
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
        query = _event_query(task_id, event_types, queue, since, until, after_id, limit)
        stores = await self._ready()
        await self._sink.flush()  # type: ignore[union-attr]
        return await stores.events.query(query)

    def follow_events(
        self,
        *,
        task_id: str | None = None,
        event_types: Iterable[EventType | str] | None = None,
        queue: str | None = None,
        after_id: str | None = None,
    ) -> AsyncGenerator[TaskEvent, None]:
        """Yield matching events as they are stored, from this call on (or after ``after_id``):
        ``async for event in oq.follow_events(task_id=...)``; stop iterating to end it."""
        # Ids sort by time, so a fresh id marks "now" without reading the whole log.
        cursor = after_id if after_id is not None else new_id()
        return self._follow(_event_query(task_id, event_types, queue, None, None, cursor, 1000))

    async def _follow(self, query: EventQuery) -> AsyncGenerator[TaskEvent, None]:
        stores = await self._ready()
        async for event in stores.events.subscribe(query):
            yield event

    # -- managing tasks and queues ---------------------------------------------------------------

    async def get_task(self, task_id: str) -> TaskInfo | None:
        """What the queue knows of a task (``None`` once it finished or if unknown)."""
        names.validate_task_id(task_id)
        stores = await self._ready()
        return await stores.task_queue.get(task_id)

    async def status(self, task_id: str) -> TaskStatus:
        """Where a task stands (queue first, then the result store)."""
        names.validate_task_id(task_id)
        stores = await self._ready()
        info = await stores.task_queue.get(task_id)
        if info is not None:
            if info.state is TaskState.ACTIVE:
                return TaskStatus.ACTIVE
            if info.state is TaskState.DEAD:
                return TaskStatus.DEAD
            return TaskStatus.DELAYED if info.task.eta > utcnow() else TaskStatus.PENDING
        result = await stores.results.get(task_id)
        if result is None:
            return TaskStatus.UNKNOWN
        return {
            ResultStatus.SUCCESS: TaskStatus.COMPLETED,
            ResultStatus.FAILURE: TaskStatus.FAILED,
            ResultStatus.CANCELLED: TaskStatus.CANCELLED,
        }[result.status]

    async def cancel(self, task_id: str) -> CancelOutcome:
        """Cancel a task: a pending one leaves the queue (its result becomes "cancelled"); a
        running one is asked to stop (its worker finds the request within its
        ``cancel_poll_interval``, 0.5 s, and stops it: see docs/workers.md)."""
        names.validate_task_id(task_id)
        stores = await self._ready()
        info = await stores.task_queue.get(task_id)
        outcome = await stores.task_queue.cancel(task_id)
        if outcome is CancelOutcome.CANCELLED:
            queue = info.task.queue if info is not None else None
            ttl = info.task.result_ttl if info is not None else self.settings.result_ttl
            now = utcnow()
            await stores.results.store(
                TaskResult(
                    task_id=task_id,
                    status=ResultStatus.CANCELLED,
                    error=TaskError(type="omniq.Cancelled", message="cancelled before it ran"),
                    completed_at=now,
                    expires_at=None if ttl is None else _after(now, ttl),
                    attempt=info.attempt if info is not None else 0,
                )
            )
            await self._sink.write_now(  # type: ignore[union-attr]
                [
                    TaskEvent(
                        event_type=EventType.CANCELLED,
                        task_id=task_id,
                        queue=queue,
                        details={"reason": "cancelled before it ran"},
                    )
                ]
            )
        return outcome

    async def queue_sizes(self, queues: Sequence[str] | None = None) -> dict[str, QueueStats]:
        """Counts per queue (``queues``, or every queue that holds a task)."""
        wanted = None if queues is None else names.validate_queue_names(queues)
        stores = await self._ready()
        return {s.queue: s for s in await stores.task_queue.stats(wanted)}

    async def list_tasks(
        self, queue: str, state: TaskState | str = TaskState.PENDING, limit: int = 100
    ) -> list[TaskInfo]:
        """Up to ``limit`` tasks of ``queue`` in ``state`` (pending, active or dead)."""
        check.count("limit", limit, minimum=1)
        names.validate_queue_name(queue)
        stores = await self._ready()
        return await stores.task_queue.list_tasks(queue, state=TaskState(state), limit=limit)

    async def purge(
        self, queue: str, states: Sequence[TaskState | str] = (TaskState.PENDING,)
    ) -> int:
        """Delete the tasks of ``queue`` in ``states`` (pending and/or dead); returns how many."""
        names.validate_queue_name(queue)
        wanted = [TaskState(s) for s in states]
        if TaskState.ACTIVE in wanted:
            raise ValidationError("Active tasks cannot be purged; cancel them instead")
        stores = await self._ready()
        return await stores.task_queue.purge(queue, states=wanted)

    async def retry_dead(self, queue: str, task_ids: Sequence[str] | None = None) -> int:
        """Move dead letters of ``queue`` (all, or ``task_ids``) back to the queue, ready now."""
        names.validate_queue_name(queue)
        if task_ids is not None:
            task_ids = [names.validate_task_id(t) for t in task_ids]
        stores = await self._ready()
        await supersede_dead_results(stores, queue, task_ids)
        return await stores.task_queue.requeue_dead(queue, task_ids)

    # -- schedules -------------------------------------------------------------------------------

    async def schedule(
        self,
        func: Callable[..., Any],
        /,
        *args: Any,
        cron: str | None = None,
        interval: float | timedelta | None = None,
        at: datetime | None = None,
        name: str | None = None,
        timezone: str = "UTC",
        queue: str | None = None,
        priority: int | None = None,
        max_retries: int | None = None,
        retry_backoff: float | None = None,
        timeout: float | None = None,
        result_ttl: float | None = None,
        misfire_policy: str | None = None,
        misfire_grace: float | None = None,
        paused: bool | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **func_kwargs: Any,
    ) -> Schedule:
        """Run ``func(*args, **kwargs)`` on a trigger: ``cron="*/5 * * * *"`` (read in
        ``timezone``), ``interval=`` seconds or timedelta, or once ``at=`` a datetime.

        A schedule is stored under ``name`` (default: the function's name) and replaced when
        scheduled again, keeping its pause state and, if the trigger is unchanged, its next fire
        time, so calling this at every start is safe. Schedulers (inside workers, or
        ``omniq scheduler``) fire each tick once.
        """
        from omniq.runtime.schedules import build_app_schedule

        stores = await self._ready()
        call_kwargs = dict(func_kwargs)
        if kwargs:
            call_kwargs.update(kwargs)
        return await build_app_schedule(
            self,
            stores,
            func,
            args,
            call_kwargs,
            cron=cron,
            interval=interval,
            at=at,
            name=name,
            timezone=timezone,
            options={
                "queue": queue,
                "priority": priority,
                "max_retries": max_retries,
                "retry_backoff": retry_backoff,
                "timeout": timeout,
                "result_ttl": result_ttl,
            },
            misfire_policy=misfire_policy,
            misfire_grace=misfire_grace,
            paused=paused,
        )

    async def get_schedule(self, name: str) -> Schedule | None:
        names.validate_schedule_name(name)
        stores = await self._ready()
        return await stores.schedules.get(name)

    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        stores = await self._ready()
        return await stores.schedules.list()

    async def pause_schedule(self, name: str) -> bool:
        """Stop firing a schedule until resumed; ``False`` if there is no such schedule."""
        names.validate_schedule_name(name)
        stores = await self._ready()
        return await stores.schedules.set_paused(name, True)

    async def resume_schedule(self, name: str) -> bool:
        """Fire a paused schedule again (ticks missed while paused follow the misfire policy)."""
        names.validate_schedule_name(name)
        stores = await self._ready()
        return await stores.schedules.set_paused(name, False)

    async def remove_schedule(self, name: str) -> bool:
        """Delete a schedule; ``False`` if there was none."""
        names.validate_schedule_name(name)
        stores = await self._ready()
        return await stores.schedules.remove(name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._state.value} queues={list(self._queues)}>"


def _is_component(value: Any) -> bool:
    from omniq.runtime.components import TaskQueue
    from omniq.storage import TaskQueueStorage

    return isinstance(value, TaskQueue | TaskQueueStorage)


def _default_queue(queues: Sequence[str]) -> str:
    return DEFAULT_QUEUE if DEFAULT_QUEUE in queues or not queues else queues[0]


def _after(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


def _event_query(
    task_id: str | None,
    event_types: Iterable[EventType | str] | None,
    queue: str | None,
    since: datetime | None,
    until: datetime | None,
    after_id: str | None,
    limit: int,
) -> EventQuery:
    if task_id is not None:
        names.validate_task_id(task_id)
    if queue is not None:
        names.validate_queue_name(queue)
    check.count("limit", limit, minimum=1)
    if isinstance(event_types, str):
        event_types = [event_types]
    try:
        return EventQuery(
            task_id=task_id,
            event_types=None
            if event_types is None
            else frozenset(EventType(t) for t in event_types),
            queue=queue,
            since=since,
            until=until,
            after_id=after_id,
            limit=limit,
        )
    except ValueError as exc:
        allowed = ", ".join(t.value for t in EventType)
        raise ValidationError(f"Invalid event type: {exc} (allowed: {allowed})") from exc


def unpack_result(result: TaskResult, *, serializers: Collection[str]) -> Any:
    """A result record's value, or :class:`~omniq.errors.TaskFailedError`. The value is decoded
    only if the serializer the record names is one of ``serializers`` (the reading app's
    configuration); else :class:`~omniq.errors.SerializerNotAllowedError`."""
    if result.status is ResultStatus.SUCCESS:
        if result.payload is None:
            return None
        what = f"the result of task {result.task_id}"
        return decode_value(result.serializer, result.payload, allowed=serializers, what=what)
    error = result.error or TaskError(type="omniq.Unknown", message="no error recorded")
    raise TaskFailedError(
        result.task_id, error.type, error.message, error.traceback, status=result.status.value
    )
