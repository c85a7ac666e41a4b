"""Where task functions run: on the event loop and a thread pool, or in child processes.

An executor runs one call and returns its return value already serialized, or raises. Per-task
timeouts are applied here: a coroutine is cancelled; a function in a thread cannot be stopped,
so the worker stops waiting for it and reports the timeout while the thread runs on (its result
is dropped); a child process is killed and replaced.

An executor decodes a task's arguments only with the serializers it was given (the worker's
configuration), whatever the task record names.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import traceback as traceback_module
from collections.abc import Callable, Collection
from typing import Any, Protocol

from omniq.models.result import TaskError
from omniq.models.task import Task
from omniq.runtime.codec import decode_call, encode_value
from omniq.runtime.threads import TaskThreads, ThreadCall
from omniq.serialization.policy import DEFAULT_SERIALIZERS

__all__ = ["Executor", "LocalExecutor", "TaskRaisedError", "describe_exception"]


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
                async with asyncio.timeout(timeout):
                    value = await func(*args, **kwargs)
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
        except (TimeoutError, asyncio.CancelledError):
            # a thread cannot be stopped: stop waiting, and keep the pool's full concurrency
            pool.abandon(call)
            raise
        return encode_value(task.serializer, value)

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
