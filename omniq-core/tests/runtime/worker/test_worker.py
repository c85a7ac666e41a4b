"""The worker's promises, end to end through AsyncOmniQ on the memory backend."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from omniq import AsyncOmniQ, TaskFailedError
from omniq.models import EventType, TaskEvent, TaskState
from omniq.plugins.hookspecs import hookimpl
from omniq.plugins.lifecycle import LifecycleHooks
from omniq.runtime.events_sink import EventSink
from omniq.runtime.worker import Worker, WorkerSettings

pytestmark = pytest.mark.timeout(60)

FAST = {"lease_seconds": 0.6, "recover_interval": 0.1, "idle_wait": 0.5}


def app(workers: int = 4, worker_type: str = "async", **options: Any) -> AsyncOmniQ:
    return AsyncOmniQ(
        task_queue_url="memory://",
        workers=workers,
        worker_type=worker_type,
        worker_options={**FAST, **options},
    )


async def event_types(oq: AsyncOmniQ, task_id: str) -> list[EventType]:
    return [e.event_type for e in await oq.get_events(task_id)]


@pytest.mark.parametrize("worker_type", ["async", "thread_pool", "process_pool"])
async def test_each_worker_type_runs_sync_and_async_functions(
    tasks: ModuleType, worker_type: str
) -> None:
    async with app(worker_type=worker_type) as oq:
        plain = await oq.enqueue(tasks.add, 2, 3)
        coroutine = await oq.enqueue(tasks.async_add, 4, 5)
        assert await oq.get_result(plain, timeout=30) == 5
        assert await oq.get_result(coroutine, timeout=30) == 9
        assert await event_types(oq, plain) == [
            EventType.ENQUEUED,
            EventType.STARTED,
            EventType.COMPLETED,
        ]


async def test_process_pool_runs_tasks_in_other_processes(tasks: ModuleType) -> None:
    import os

    async with app(workers=2, worker_type="process_pool") as oq:
        ids = [await oq.enqueue(tasks.pid) for _ in range(4)]
        pids = {await oq.get_result(task_id, timeout=30) for task_id in ids}
    assert os.getpid() not in pids


async def test_failures_are_retried_with_backoff_then_dead_lettered(tasks: ModuleType) -> None:
    async with app() as oq:
        task_id = await oq.enqueue(tasks.explode, "boom", max_retries=2, retry_backoff=0.2)
        with pytest.raises(TaskFailedError) as caught:
            await oq.get_result(task_id, timeout=30)
        events = await oq.get_events(task_id)
        info = await oq.get_task(task_id)
    assert caught.value.error_type == "builtins.ValueError"
    assert "boom" in caught.value.error_message
    assert "Traceback" in caught.value.traceback
    assert [e.event_type for e in events] == [
        EventType.ENQUEUED,
        EventType.STARTED, EventType.FAILED, EventType.RETRYING,
        EventType.STARTED, EventType.FAILED, EventType.RETRYING,
        EventType.STARTED, EventType.FAILED, EventType.DEAD_LETTERED,
    ]  # fmt: skip
    assert [e.attempt for e in events if e.event_type is EventType.STARTED] == [1, 2, 3]
    failed = [e for e in events if e.event_type is EventType.FAILED]
    assert [e.details["will_retry"] for e in failed] == [True, True, False]
    # exponential backoff: the second retry waits about twice as long as the first
    retries = [e for e in events if e.event_type is EventType.RETRYING]
    delays = [
        datetime.fromisoformat(r.details["retry_at"]) - f.timestamp
        for r, f in zip(retries, failed, strict=False)
    ]
    assert timedelta(seconds=0.19) <= delays[0] <= timedelta(seconds=0.3)
    assert timedelta(seconds=0.39) <= delays[1] <= timedelta(seconds=0.55)
    assert info is not None and info.state is TaskState.DEAD and info.attempt == 3


@pytest.mark.parametrize(
    ("worker_type", "function"),
    [
        ("async", "async_sleep_then"),
        ("thread_pool", "sleep_then"),
        ("process_pool", "sleep_then"),
    ],
)
async def test_timeouts_stop_waiting_for_each_worker_type(
    tasks: ModuleType, worker_type: str, function: str
) -> None:
    async with app(workers=1, worker_type=worker_type) as oq:
        slow = await oq.enqueue(getattr(tasks, function), 20, "late", timeout=0.3)
        with pytest.raises(TaskFailedError) as caught:
            await oq.get_result(slow, timeout=15)
        # the worker is free again: the next task runs (a killed child process was replaced)
        quick = await oq.enqueue(tasks.add, 1, 1)
        assert await oq.get_result(quick, timeout=15) == 2
    assert caught.value.error_type == "TimeoutError"


async def test_cancel_a_pending_task(tasks: ModuleType) -> None:
    async with AsyncOmniQ(task_queue_url="memory://", workers=0) as oq:
        task_id = await oq.enqueue(tasks.record, "never")
        assert (await oq.cancel(task_id)).value == "cancelled"
        with pytest.raises(TaskFailedError) as caught:
            await oq.get_result(task_id, timeout=5)
    assert caught.value.status == "cancelled"
    assert tasks.calls == []


async def test_cancel_a_running_task_cooperatively(tasks: ModuleType) -> None:
    async with app(workers=1) as oq:
        task_id = await oq.enqueue(tasks.async_sleep_then, 30, "late")
        await _until_state(oq, task_id, TaskState.ACTIVE)
        assert (await oq.cancel(task_id)).value == "requested"
        with pytest.raises(TaskFailedError) as caught:
            await oq.get_result(task_id, timeout=15)
        kinds = await event_types(oq, task_id)
    assert caught.value.status == "cancelled"
    assert kinds[-1] is EventType.CANCELLED
    assert await_none_left(kinds)


def await_none_left(kinds: list[EventType]) -> bool:
    return EventType.COMPLETED not in kinds


async def test_graceful_shutdown_releases_unfinished_tasks(tasks: ModuleType) -> None:
    first = app(workers=2)
    async with first as oq:
        done = await oq.enqueue(tasks.async_sleep_then, 0.05, "quick")
        slow = await oq.enqueue(tasks.async_sleep_then, 30, "slow")
        await _until_state(oq, slow, TaskState.ACTIVE)
        assert await oq.get_result(done, timeout=10) == "quick"
        store = oq.stores
        await oq.worker.stop(grace=0.2)
        info = await store.task_queue.get(slow)
        assert info is not None
        assert (info.state, info.attempt) == (TaskState.PENDING, 0)
        assert await store.results.get(slow) is None


async def test_a_worker_recovers_tasks_of_a_dead_worker(tasks: ModuleType) -> None:
    """With the default max_retries=0: the crash was not the task's failure."""
    async with app(workers=0) as producer:
        task_id = await producer.enqueue(tasks.add, 20, 22)
        queue = producer.stores.task_queue
        # a worker that claims the task and dies without a word
        (claimed,) = await queue.claim(["default"], limit=1, lease_seconds=0.2, worker_id="dead")
        assert claimed.task.id == task_id
        worker = Worker(
            queue,
            producer.stores.results,
            producer.event_sink,
            producer.registry,
            WorkerSettings(concurrency=2, **FAST),
        )
        await worker.start()
        try:
            assert await producer.get_result(task_id, timeout=15) == 42
        finally:
            await worker.stop(1)
        kinds = await event_types(producer, task_id)
    assert EventType.EXPIRED in kinds and kinds[-1] is EventType.COMPLETED
    assert await queue_attempt_of(kinds) == 1


async def queue_attempt_of(kinds: list[EventType]) -> int:
    return kinds.count(EventType.STARTED)


async def test_functions_the_worker_may_not_import_are_dead_lettered() -> None:
    async with app() as oq:
        from omniq.models import Task

        task = Task(func="os:system", payload=b'[["echo pwned"],{}]')
        await oq.stores.task_queue.enqueue(task)
        with pytest.raises(TaskFailedError) as caught:
            await oq.get_result(task.id, timeout=10)
        events = await oq.get_events(task.id)
    assert caught.value.error_type == "omniq.FunctionNotAllowed"
    failed = [e for e in events if e.event_type is EventType.FAILED]
    assert failed and failed[0].details["refused"] is True
    assert events[-1].event_type is EventType.DEAD_LETTERED


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def omniq_task_started(self, task: Any, attempt: int) -> None:
        self.seen.append(("started", task.id))

    @hookimpl
    def omniq_task_completed(self, task: Any, duration: float) -> None:
        assert duration >= 0
        self.seen.append(("completed", task.id))

    @hookimpl
    def omniq_task_failed(self, task: Any, will_retry: bool) -> None:
        self.seen.append(("failed" if not will_retry else "retrying", task.id))


class Broken:
    @hookimpl
    def omniq_task_started(self) -> None:
        raise RuntimeError("a broken metrics plugin")


async def test_lifecycle_hooks_observe_and_cannot_crash_the_worker(tasks: ModuleType) -> None:
    recorder = Recorder()
    hooks = LifecycleHooks([Broken(), recorder], load_entry_points=False)
    async with app(workers=0) as oq:
        worker = Worker(
            oq.stores.task_queue,
            oq.stores.results,
            oq.event_sink,
            oq.registry,
            WorkerSettings(**FAST),
            hooks=hooks,
        )
        await worker.start()
        try:
            ok = await oq.enqueue(tasks.add, 1, 2)
            bad = await oq.enqueue(tasks.explode, "x")
            assert await oq.get_result(ok, timeout=10) == 3
            with pytest.raises(TaskFailedError):
                await oq.get_result(bad, timeout=10)
        finally:
            await worker.stop(1)
    assert ("started", ok) in recorder.seen and ("completed", ok) in recorder.seen
    assert ("failed", bad) in recorder.seen


def test_worker_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="worker_type"):
        WorkerSettings(worker_type="green_threads")
    with pytest.raises(ValueError, match="concurrency"):
        WorkerSettings(concurrency=0)
    with pytest.raises(ValueError, match="queue"):
        WorkerSettings(queues=("bad name",))


async def test_many_tasks_each_complete_once(tasks: ModuleType) -> None:
    async with app(workers=16) as oq:
        ids = await oq.enqueue_many([(tasks.record, (i,)) for i in range(2000)])
        values = [await oq.get_result(task_id, timeout=30) for task_id in ids]
    assert values == list(range(2000))
    assert sorted(tasks.calls) == list(range(2000))


async def _until_state(oq: AsyncOmniQ, task_id: str, state: TaskState) -> None:
    for _ in range(500):
        info = await oq.get_task(task_id)
        if info is not None and info.state is state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"task {task_id} never became {state}")


class LeakyQueue:
    """A queue whose first claim raises ``CancelledError`` though nobody cancelled the worker,
    as a library's mishandled timeout can (redis-py has had such bugs)."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        self.leaked = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    async def claim(self, *args: Any, **kwargs: Any) -> Any:
        if not self.leaked:
            self.leaked = True
            raise asyncio.CancelledError
        return await self._queue.claim(*args, **kwargs)


async def test_a_leaked_cancellation_does_not_stop_the_worker_claiming(tasks: ModuleType) -> None:
    async with app(workers=0) as oq:
        queue = LeakyQueue(oq.stores.task_queue)
        worker = Worker(
            queue, oq.stores.results, oq.event_sink, oq.registry, WorkerSettings(**FAST)
        )  # type: ignore[arg-type]
        await worker.start()
        try:
            task_id = await oq.enqueue(tasks.add, 1, 2)
            assert await oq.get_result(task_id, timeout=10) == 3
        finally:
            await worker.stop(1)
    assert queue.leaked and worker.loop_restarts == 0


class FailingOnce(EventSink):
    """An event sink whose first ``started`` event raises: an error the claim loop does not
    expect, which used to end it for good."""

    def emit(self, event: TaskEvent) -> None:
        if event.event_type is EventType.STARTED and not getattr(self, "failed", False):
            self.failed = True
            raise RuntimeError("an unexpected bug")
        super().emit(event)


async def test_a_worker_loop_that_dies_is_logged_and_restarted(tasks: ModuleType) -> None:
    async with app(workers=0) as oq:
        sink = oq.event_sink
        sink.__class__ = FailingOnce
        worker = Worker(
            oq.stores.task_queue, oq.stores.results, sink, oq.registry, WorkerSettings(**FAST)
        )
        await worker.start()
        try:
            # claimed, lost with the loop, recovered when its lease runs out, then run again
            task_id = await oq.enqueue(tasks.add, 2, 3)
            assert await oq.get_result(task_id, timeout=20) == 5
            assert EventType.EXPIRED in await event_types(oq, task_id)
        finally:
            await worker.stop(1)
    assert getattr(sink, "failed", False) and worker.loop_restarts == 1


class CancelsItselfOnce:
    """A queue whose ``method`` cancels the calling task once and never takes it back, as a
    library's mishandled timeout does, once ``armed``."""

    def __init__(self, queue: Any, method: str) -> None:
        self._queue = queue
        self._method = method
        self.armed = True
        self.leaked = False

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._queue, name)
        if name != self._method:
            return real

        async def leaky(*args: Any, **kwargs: Any) -> Any:
            if self.armed and not self.leaked:
                self.leaked = True
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
                await asyncio.sleep(1)
            return await real(*args, **kwargs)

        return leaky


async def test_stop_finishes_when_the_finishing_loop_dies_during_it(tasks: ModuleType) -> None:
    async with app(workers=0) as oq:
        queue = CancelsItselfOnce(oq.stores.task_queue, "ack")
        worker = Worker(
            queue, oq.stores.results, oq.event_sink, oq.registry, WorkerSettings(**FAST)
        )  # type: ignore[arg-type]
        await worker.start()
        first = await oq.enqueue(tasks.async_sleep_then, 0.3, 1)
        second = await oq.enqueue(tasks.async_sleep_then, 0.8, 2)
        await asyncio.sleep(0.1)
        await asyncio.wait_for(worker.stop(5), 10)  # hung in outcomes.join() before the fix
        assert queue.leaked and worker.loop_restarts == 1
        # the first outcome's ack was lost with the loop; its result was stored before it
        assert await oq.get_result(first, timeout=5) == 1
        assert await oq.get_result(second, timeout=5) == 2


async def test_leases_are_kept_when_the_lease_loop_dies_during_a_stop(tasks: ModuleType) -> None:
    async with app(workers=0) as oq:
        queue = CancelsItselfOnce(oq.stores.task_queue, "extend")
        queue.armed = False
        settings = WorkerSettings(**{**FAST, "lease_seconds": 2.0})  # outlasts a restart's pause
        worker = Worker(queue, oq.stores.results, oq.event_sink, oq.registry, settings)  # type: ignore[arg-type]
        other = Worker(
            oq.stores.task_queue,
            oq.stores.results,
            oq.event_sink,
            oq.registry,
            WorkerSettings(**FAST),
        )
        await worker.start()
        task_id = await oq.enqueue(tasks.async_sleep_then, 2.5, 1)
        await asyncio.sleep(0.2)
        queue.armed = True
        stopping = asyncio.create_task(worker.stop(5))
        await other.start()  # would recover the task if its lease ran out
        await stopping
        await other.stop(5)
        kinds = await event_types(oq, task_id)
    assert queue.leaked and worker.loop_restarts == 1
    assert EventType.EXPIRED not in kinds and kinds[-1] is EventType.COMPLETED


class AwayWhileDown:
    """A storage whose ``methods`` raise ``ConnectionError`` while ``down`` is set, as a
    store that went away does."""

    def __init__(self, storage: Any, *methods: str) -> None:
        self._storage = storage
        self._methods = methods
        self.down = False
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._storage, name)
        if name not in self._methods:
            return real

        async def away(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.refused += 1
                raise ConnectionError("the store is away")
            return await real(*args, **kwargs)

        return away


async def test_outcomes_are_kept_while_the_store_is_away(tasks: ModuleType) -> None:
    async with app(workers=0) as oq:
        results = AwayWhileDown(oq.stores.results, "store_many")
        worker = Worker(
            oq.stores.task_queue, results, oq.event_sink, oq.registry, WorkerSettings(**FAST)
        )  # type: ignore[arg-type]
        await worker.start()
        try:
            results.down = True
            first = await oq.enqueue(tasks.async_sleep_then, 0.1, 1)
            await asyncio.sleep(0.3)
            second = await oq.enqueue(tasks.add, 1, 1)
            await asyncio.sleep(1.5)  # past the 0.6 s lease: kept by its extensions
            assert results.refused >= 2
            info = await oq.get_task(second)
            assert info is not None and info.state is TaskState.PENDING  # no claims meanwhile
            results.down = False
            assert await oq.get_result(first, timeout=10) == 1
            assert await oq.get_result(second, timeout=10) == 2
        finally:
            await worker.stop(1)
        assert await event_types(oq, first) == [
            EventType.ENQUEUED,
            EventType.STARTED,
            EventType.COMPLETED,
        ]


async def test_the_worker_purges_events_past_their_retention(tasks: ModuleType) -> None:
    async with app(workers=0) as oq:
        events = oq.stores.events
        old = TaskEvent(
            event_type=EventType.COMPLETED,
            task_id="old-task",
            timestamp=datetime.now().astimezone() - timedelta(days=8),
        )
        await events.append(old)
        settings = WorkerSettings(**{**FAST, "purge_interval": 0.2})  # the default retention
        worker = Worker(
            oq.stores.task_queue, oq.stores.results, oq.event_sink, oq.registry, settings
        )
        kept = await oq.enqueue(tasks.add, 1, 2)
        await worker.start()
        try:
            assert await oq.get_result(kept, timeout=10) == 3
            for _ in range(50):
                if not await oq.get_events("old-task"):
                    break
                await asyncio.sleep(0.1)
        finally:
            await worker.stop(1)
        assert await oq.get_events("old-task") == []
        assert EventType.COMPLETED in await event_types(oq, kept)
