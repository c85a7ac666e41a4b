"""Where task functions run: on the event loop and a thread pool, or in child processes.

An executor runs one call and returns its return value already serialized, or raises. Per-task
timeouts are applied here: a coroutine is cancelled; a function in a thread cannot be stopped,
so the worker stops waiting for it and reports the timeout while the thread runs on (its result
is dropped); a child process is killed and replaced.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import traceback as traceback_module
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from omniq.models.result import TaskError
from omniq.models.task import Task
from omniq.runtime.codec import decode_call, encode_value

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
    """Coroutine functions on the event loop, plain functions in a thread pool."""

    def __init__(self, threads: int) -> None:
        self._threads = max(threads, 1)
        self._pool: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="omniq-task")

    async def run(self, func: Callable[..., Any], task: Task, timeout: float | None) -> bytes:
        args, kwargs = decode_call(task.serializer, task.payload)
        if inspect.iscoroutinefunction(func):
            if timeout is None:  # no timeout context: it costs a tenth of a no-op task
                value = await func(*args, **kwargs)
            else:
                async with asyncio.timeout(timeout):
                    value = await func(*args, **kwargs)
            return encode_value(task.serializer, value)
        pool = self._pool
        assert pool is not None, "executor not started"
        call = functools.partial(func, *args, **kwargs)
        try:
            if timeout is None:
                value = await self._in_thread(pool, call)
            else:
                async with asyncio.timeout(timeout):
                    value = await self._in_thread(pool, call)
        except (TimeoutError, asyncio.CancelledError):
            self._abandon(pool)
            raise
        return encode_value(task.serializer, value)

    @staticmethod
    async def _in_thread(pool: ThreadPoolExecutor, call: Callable[[], Any]) -> Any:
        value = await asyncio.get_running_loop().run_in_executor(pool, call)
        if inspect.isawaitable(value):
            value = await value
        return value

    def _abandon(self, pool: ThreadPoolExecutor) -> None:
        """A thread of ``pool`` runs a task nobody waits for any more: new tasks go to a fresh
        pool, so the worker keeps its full concurrency while that thread runs on."""
        if self._pool is pool:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="omniq-task")
            pool.shutdown(wait=False)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # threads of timed-out tasks may still run: do not wait for them
            pool.shutdown(wait=False, cancel_futures=True)
