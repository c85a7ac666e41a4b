"""Threads for plain task functions that hand their outcomes back to the event loop in batches.

``loop.run_in_executor`` costs, per call, a concurrent future, an asyncio future wrapping it and
a wake-up of the loop through its self-pipe: about 23 µs per no-op call on the reference VM,
more than the rest of a ``def`` task's processing. Here a finished call appends its outcome to
a deque and wakes the loop only when no drain is already due, so a burst of calls finishing
together costs one wake-up (1 µs per call measured, against 23).

Threads are started as calls need them, up to ``size``, like ``ThreadPoolExecutor``'s. A call
nobody waits for any more (timed out, cancelled) is *abandoned*: if it has not started it never
runs; if it runs, its thread no longer counts towards ``size`` and ends when the call returns,
so the pool keeps its full concurrency while it runs on. A call whose outcome is no longer
wanted but whose end is (a cancelled task that was asked to stop: see
:mod:`omniq.runtime.cancellation`) is awaited with :meth:`TaskThreads.returned` instead.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import enum
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["TaskThreads", "ThreadCall"]


class _State(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ABANDONED = "abandoned"


class ThreadCall:
    """One call submitted to :class:`TaskThreads`; await :attr:`future` for its return value."""

    __slots__ = ("call", "context", "future", "returned", "state")

    def __init__(self, call: Callable[[], Any], future: asyncio.Future[Any]) -> None:
        self.call = call
        self.context = contextvars.copy_context()  # as asyncio.to_thread does
        self.future = future
        self.state = _State.QUEUED
        self.returned: asyncio.Future[None] | None = None
        """Set by :meth:`TaskThreads.returned`: resolved when the call returns or raises."""


class TaskThreads:
    """Up to ``size`` daemon threads running calls for one event loop."""

    def __init__(self, size: int, *, name: str = "omniq-task") -> None:
        self._size = max(size, 1)
        self._name = name
        self._calls: queue.SimpleQueue[ThreadCall | None] = queue.SimpleQueue()
        self._finished: collections.deque[tuple[ThreadCall, Any, BaseException | None]] = (
            collections.deque()
        )
        self._lock = threading.Lock()
        self._serving = 0  # threads that take calls (abandoned ones do not)
        self._waiting = 0  # of those, the ones not running a call (started, or between calls)
        self._queued = 0  # calls in the queue that are still wanted
        self._drain_due = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = 0

    def submit(self, call: Callable[[], Any]) -> ThreadCall:
        """Queue ``call`` for a thread; must be called on the event loop that awaits it."""
        loop = asyncio.get_running_loop()
        item = ThreadCall(call, loop.create_future())
        with self._lock:
            if self._closed:
                raise RuntimeError("TaskThreads is closed")
            if loop is not self._loop:  # a drain due on another loop will never run here
                self._loop, self._drain_due = loop, False
            self._queued += 1
            spawn = self._reserve_thread()
        if spawn:
            self._spawn()
        self._calls.put(item)
        return item

    def abandon(self, item: ThreadCall) -> None:
        """Nobody waits for ``item`` any more: skip it if it has not started, else let its thread
        end with it and serve further calls with a fresh one."""
        spawn = False
        with self._lock:
            if item.state is _State.QUEUED:
                item.state = _State.ABANDONED
                self._queued -= 1  # the thread that takes it skips it
            elif item.state is _State.RUNNING:
                item.state = _State.ABANDONED
                self._serving -= 1
                # calls queued behind it get a thread now, not at the next submit
                spawn = not self._closed and self._reserve_thread()
        if spawn:
            self._spawn()

    def returned(self, item: ThreadCall) -> asyncio.Future[None]:
        """A future resolved once ``item`` has returned or raised, whether or not its
        :attr:`~ThreadCall.future` is still awaited: to wait for the end of a call whose outcome
        is no longer wanted. Resolved at once if the call ended or was abandoned (an abandoned
        call's end is not tracked). Call it on the event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if item.returned is None:
                item.returned = loop.create_future()
                if item.state is not _State.QUEUED and item.state is not _State.RUNNING:
                    item.returned.set_result(None)
            return item.returned

    def close(self) -> None:
        """Let every thread end after its current call; later submits raise."""
        with self._lock:
            self._closed = True
            serving = self._serving
        for _ in range(serving):
            self._calls.put(None)

    def _reserve_thread(self) -> bool:
        """Whether a thread must be started for the queued calls (with the lock held): more are
        queued than threads wait, and the pool is below its size. If so, it is counted now."""
        if self._queued > self._waiting and self._serving < self._size:
            self._serving += 1
            self._waiting += 1
            return True
        return False

    # -- in the threads ----------------------------------------------------------------------

    def _spawn(self) -> None:
        self._started += 1
        name = f"{self._name}-{self._started}"
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        calls, lock = self._calls, self._lock
        while (item := calls.get()) is not None:
            with lock:
                if item.state is _State.ABANDONED:
                    continue  # still waiting: it ran nothing
                item.state = _State.RUNNING
                self._queued -= 1
                self._waiting -= 1
            try:
                value, error = item.context.run(item.call), None
            except BaseException as exc:  # handed to whoever awaits the call
                value, error = None, exc
            with lock:
                abandoned = item.state is _State.ABANDONED
                item.state = _State.DONE
                if not abandoned:
                    self._waiting += 1
            if abandoned:
                return  # replaced: this thread no longer counts towards the pool's size
            self._hand_back(item, value, error)

    def _hand_back(self, item: ThreadCall, value: Any, error: BaseException | None) -> None:
        self._finished.append((item, value, error))
        with self._lock:
            if self._drain_due:
                return
            self._drain_due = True
            loop = self._loop
        assert loop is not None, "set by submit, before any call reaches a thread"
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # a closed loop: nobody is left to wait
            with self._lock:
                self._drain_due = False

    # -- on the event loop -------------------------------------------------------------------

    def _drain(self) -> None:
        with self._lock:
            self._drain_due = False
        finished = self._finished
        while finished:
            item, value, error = finished.popleft()
            returned = item.returned
            if returned is not None and not returned.done():
                returned.set_result(None)
            future = item.future
            if future.done():
                continue
            try:
                if error is None:
                    future.set_result(value)
                elif isinstance(error, StopIteration):
                    # a future cannot hold StopIteration (before 3.13 it raises TypeError)
                    wrapped = RuntimeError(f"the task raised StopIteration: {error!r}")
                    wrapped.__cause__ = error
                    future.set_exception(wrapped)
                else:
                    future.set_exception(error)
            except Exception as exc:  # never strand the outcomes queued behind this one
                message = "TaskThreads could not hand back a call's outcome"
                future.get_loop().call_exception_handler({"message": message, "exception": exc})
