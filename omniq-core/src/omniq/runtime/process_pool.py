"""An executor of child processes: one task at a time per child, killed on timeout or cancel.

Children are started with ``spawn`` (safe beside the runtime's threads). The function goes to
the child pickled *by reference* (its module and name), so the child imports it the way
``multiprocessing`` does; the parent has already checked that it may run it. The parent also
refuses a task whose record names a serializer the worker's configuration does not allow, before
anything reaches a child; the child decodes with that serializer only. A child that dies mid-task
(crash, OOM kill) fails that attempt and is replaced.

A task cancelled while it runs (``oq.cancel``, lease lost, shutdown past its grace) or timed out
has its child killed with SIGKILL (no ``finally`` blocks, no ``atexit`` handlers run there: a hard
stop, as Celery's ``revoke(terminate=True, signal="SIGKILL")``); the run ends once the child is
dead, and a fresh child takes the slot in the background, so the outcome is not held up by the
new child's start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import multiprocessing
import pickle
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection
from typing import Any

from omniq.logging import get_logger
from omniq.models.result import TaskError
from omniq.models.task import Task
from omniq.runtime.codec import decode_call, encode_value
from omniq.runtime.executors import TaskRaisedError, describe_exception
from omniq.serialization.policy import DEFAULT_SERIALIZERS, check_serializer

__all__ = ["ProcessPoolExecutor"]

log = get_logger(__name__)
_CONTEXT = multiprocessing.get_context("spawn")


def _child_main(conn: Connection) -> None:
    """A child's loop: receive a call, run it, send back the encoded result or the error."""
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            func, serializer, payload = pickle.loads(message)  # noqa: S301 (from our parent)
            args, kwargs = decode_call(serializer, payload, allowed=(serializer,))  # parent checked
            value = func(*args, **kwargs)
            if inspect.isawaitable(value):
                value = asyncio.run(_awaited(value))
            reply: tuple[Any, ...] = ("ok", encode_value(serializer, value))
        except BaseException as exc:  # the task's failure, whatever it is
            error = describe_exception(exc)
            reply = ("error", error.type, error.message, error.traceback)
        conn.send_bytes(pickle.dumps(reply))


async def _awaited(value: Any) -> Any:
    return await value


class _Child:
    def __init__(self) -> None:
        parent, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_child_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.conn = parent

    async def call(self, message: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[bytes] = loop.create_future()
        fd = self.conn.fileno()

        def readable() -> None:
            loop.remove_reader(fd)
            if reply.done():
                return
            try:
                reply.set_result(self.conn.recv_bytes())
            except (EOFError, OSError):
                reply.set_exception(ChildProcessError("the worker process died while running"))

        self.conn.send_bytes(message)
        loop.add_reader(fd, readable)
        try:
            return await reply
        finally:
            loop.remove_reader(fd)

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class ProcessPoolExecutor:
    """``size`` child processes; a task that times out or is cancelled kills its child."""

    def __init__(self, size: int, serializers: Collection[str] = DEFAULT_SERIALIZERS) -> None:
        self._size = max(size, 1)
        self._serializers = frozenset(serializers)
        self._idle: asyncio.Queue[_Child] | None = None
        self._children: list[_Child] = []
        self._starting: set[asyncio.Task[None]] = set()
        """Replacements of killed children being started."""

    async def start(self) -> None:
        if self._idle is not None:
            return
        self._idle = asyncio.Queue()
        children = await asyncio.to_thread(lambda: [_Child() for _ in range(self._size)])
        for child in children:
            self._children.append(child)
            self._idle.put_nowait(child)

    async def run(self, func: Callable[..., Any], task: Task, timeout: float | None) -> bytes:
        assert self._idle is not None, "executor not started"
        check_serializer(task.serializer, self._serializers, what="a task's arguments")
        try:
            message = pickle.dumps((func, task.serializer, task.payload))
        except Exception as exc:
            raise TypeError(
                f"Cannot send {task.func!r} to a worker process: {exc}. Define the function at "
                "module level in an importable module."
            ) from exc
        child = await self._idle.get()
        healthy = False
        try:
            async with asyncio.timeout(timeout):
                reply = pickle.loads(await child.call(message))  # noqa: S301 (from our child)
            healthy = True
        finally:
            if healthy:
                self._idle.put_nowait(child)
            else:
                await self._replace(child)
        if reply[0] == "ok":
            result: bytes = reply[1]
            return result
        raise TaskRaisedError(TaskError(type=reply[1], message=reply[2], traceback=reply[3]))

    async def _replace(self, child: _Child) -> None:
        """Kill ``child`` (returns once it is dead) and start a fresh one in its slot."""
        await asyncio.to_thread(child.kill)
        self._children.remove(child)
        if self._idle is None:
            return
        starting = asyncio.create_task(self._start_child(), name="omniq-process-pool-child")
        self._starting.add(starting)
        starting.add_done_callback(self._starting.discard)

    async def _start_child(self) -> None:
        pause = 0.1
        while True:
            try:
                fresh = await asyncio.to_thread(_Child)
                break
            except Exception as exc:  # out of processes or memory: the slot waits, say so
                log.error("could not start a worker process", error=repr(exc), retry_in=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)
                if self._idle is None:
                    return
        idle = self._idle
        if idle is None:  # closed meanwhile
            await asyncio.to_thread(fresh.kill)
            return
        self._children.append(fresh)
        idle.put_nowait(fresh)

    async def close(self) -> None:
        self._idle = None  # replacements being started kill their child and end
        if self._starting:
            await asyncio.gather(*self._starting, return_exceptions=True)
        children, self._children = self._children, []
        for child in children:
            with contextlib.suppress(Exception):
                child.conn.close()
        for child in children:
            await asyncio.to_thread(child.process.join, 5)
            if child.process.is_alive():
                child.kill()
