"""Where task functions run: on the event loop and a thread pool, or in child processes.

An executor runs one call and returns its return value already serialized, or raises. Per-task
timeouts are applied here: a coroutine is cancelled; a function in a thread cannot be stopped,
so the worker stops waiting for it and reports the timeout while the thread runs on (its result
is dropped); a child process is killed and replaced.

An executor decodes a task's arguments only with the serializers it was given (the worker's
configuration), whatever the task record names.

The worker stops a running task by cancelling the asyncio task that awaits :meth:`Executor.run`,
after requesting the task's :class:`~omniq.runtime.cancellation.Cancellation` (its reason says
why). The run then raises ``CancelledError`` once the function no longer runs: a coroutine is
cancelled; a child process is killed. A thread is told through the cancellation flag; for a
cancel request (reason ``"cancelled"``) the run waits until the function returns, so a
cancelled outcome always means it stopped; for any other reason (lease lost, shutdown) it is
abandoned as on a timeout. A function that returns after its stop was requested (a coroutine
that swallowed ``CancelledError``) still ends in ``CancelledError``: never a success.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import traceback as traceback_module
from collections.abc import Callable, Collection
from typing import Any, Protocol

from omniq.logging import get_logger
from omniq.models.result import TaskError
from omniq.models.task import Task
from omniq.runtime.cancellation import current_cancellation
from omniq.runtime.codec import decode_call, encode_value
from omniq.runtime.threads import TaskThreads, ThreadCall
from omniq.serialization.policy import DEFAULT_SERIALIZERS

__all__ = [
    "Executor",
    "LocalExecutor",
    "TaskRaisedError",
    "describe_exception",
    "raise_if_stop_requested",
    "request_stop",
]

log = get_logger(__name__)

WAITS_FOR_RETURN = "cancelled"
"""The stop reason for which a thread's function is waited for instead of abandoned."""


def request_stop(reason: str) -> None:
    """Set the running task's cancellation flag (if it has one) with ``reason``."""
    cancellation = current_cancellation()
    if cancellation is not None:
        cancellation.request(reason)


def raise_if_stop_requested() -> None:
    """Raise ``CancelledError`` if the running task was asked to stop: a function that returned
    after that (it swallowed its cancellation, or ignored the flag) never ends as a success."""
    cancellation = current_cancellation()
    if cancellation is not None and cancellation.reason is not None:
        raise asyncio.CancelledError


class TaskRaisedError(Exception):
    """A task's exception as text, from where it ran (a child process)."""

    def __init__(self, error: TaskError) -> None:
        super().__init__(f"{error.type}: {error.message}")
        self.error = error


def describe_exception(exc: BaseException) -> TaskError:
    """The text form of ``exc`` that results and events carry."""
    if isinstance(exc, TaskRaisedError):
        return exc.error
    cls = type(exc)
    return TaskError(
        type=f"{cls.__module__}.{cls.__qualname__}",
        message=str(exc),
        traceback="".join(traceback_module.format_exception(exc)),
    )


class Executor(Protocol):
    async def start(self) -> None: ...

    async def run(self, func: Callable[..., Any], task: Task, timeout: float | None) -> bytes:
        """Run ``func`` with ``task``'s arguments; its return value serialized."""
        ...

    async def close(self) -> None: ...


class LocalExecutor:
    """Coroutine functions on the event loop, plain functions in :class:`TaskThreads`."""

    def __init__(self, threads: int, serializers: Collection[str] = DEFAULT_SERIALIZERS) -> None:
        self._threads = max(threads, 1)
        self._serializers = frozenset(serializers)
        self._pool: TaskThreads | None = None

    async def start(self) -> None:
        if self._pool is None:
            self._pool = TaskThreads(self._threads)

    async def run(self, func: Callable[..., Any], task: Task, timeout: float | None) -> bytes:
        args, kwargs = decode_call(task.serializer, task.payload, allowed=self._serializers)
        if inspect.iscoroutinefunction(func):
            if timeout is None:  # no timeout context: it costs a tenth of a no-op task
                value = await func(*args, **kwargs)
            else:
                try:
                    async with asyncio.timeout(timeout):
                        value = await func(*args, **kwargs)
                except TimeoutError:
                    request_stop("timeout")  # for the threads it may have started
                    raise
            raise_if_stop_requested()
            return encode_value(task.serializer, value)
        pool = self._pool
        assert pool is not None, "executor not started"
        call = pool.submit(functools.partial(func, *args, **kwargs))
        try:
            if timeout is None:
                value = await self._outcome(call)
            else:
                async with asyncio.timeout(timeout):
                    value = await self._outcome(call)
        except TimeoutError:
            # a thread cannot be stopped: tell it, stop waiting, keep the pool's concurrency
            request_stop("timeout")
            pool.abandon(call)
            raise
        except asyncio.CancelledError:
            await self._stopped(pool, call, task)
            raise
        raise_if_stop_requested()
        return encode_value(task.serializer, value)

    @staticmethod
    async def _stopped(pool: TaskThreads, call: ThreadCall, task: Task) -> None:
        """After the worker cancelled a call on a thread: wait until the function returns if it
        was asked to stop by a cancel request (it was told through its flag), else abandon it."""
        cancellation = current_cancellation()
        if cancellation is None or cancellation.reason != WAITS_FOR_RETURN:
            pool.abandon(call)
            return
        log.info("asked a task running on a thread to stop; waiting for it", task_id=task.id)
        try:
            await pool.returned(call)
        except asyncio.CancelledError:  # given up on after all (the worker is stopping)
            pool.abandon(call)
            raise

    @staticmethod
    async def _outcome(call: ThreadCall) -> Any:
        """The call's return value, awaited too if it is awaitable (a plain function that
        returns a coroutine, an object with an ``async def __call__``): under the same timeout."""
        value = await call.future
        if inspect.isawaitable(value):
            value = await value
        return value

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()  # threads of timed-out tasks may still run: do not wait for them
