"""The flag a running task checks to learn that its worker wants it to stop.

The worker makes one :class:`Cancellation` per task it runs and makes it the task's current one
(a context variable, so a plain function on a thread sees it as well as a coroutine). It is
requested when the task is cancelled (``oq.cancel``), when it timed out, when its lease was lost
or when the worker stops past its grace period. A coroutine is cancelled as well and a child
process is killed; a thread cannot be stopped from outside, so a plain function that may run
long checks the flag itself::

    @oq.task
    def crunch(items):
        for item in items:
            if omniq.cancellation_requested():
                return  # the outcome is recorded as cancelled whatever it returns
            work(item)

    @oq.task
    def poll_every_minute():
        while not omniq.wait_for_cancellation(60):  # a sleep that ends when cancelled
            check_something()
"""

from __future__ import annotations

import math
import threading
import time
from contextvars import ContextVar

__all__ = [
    "Cancellation",
    "cancellation_requested",
    "current_cancellation",
    "wait_for_cancellation",
]

_lock = threading.Lock()
"""Guards the lazy creation of a cancellation's event (rare: a wait or a request)."""


class Cancellation:
    """Whether (and why) the worker asked one running task to stop; set once, never cleared.

    Cheap to make (one per task): its ``threading.Event`` is created only when someone waits.
    """

    __slots__ = ("_event", "reason")

    def __init__(self) -> None:
        self.reason: str | None = None
        """Why the stop was asked (``"cancelled"``, ``"timeout"``, ``"lost"``, ``"shutdown"``),
        or ``None`` while it was not."""
        self._event: threading.Event | None = None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> bool:
        """Ask the task to stop; ``False`` (and no change) if that was asked before."""
        with _lock:
            if self.reason is not None:
                return False
            self.reason = reason
            event = self._event
        if event is not None:
            event.set()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stop is asked or ``timeout`` seconds passed; whether it was asked."""
        with _lock:
            if self.reason is not None:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)


_current: ContextVar[Cancellation | None] = ContextVar("omniq_cancellation", default=None)


def current_cancellation() -> Cancellation | None:
    """The running task's cancellation, or ``None`` outside a task run by a worker (and in a
    ``process_pool`` child, which is killed instead)."""
    return _current.get()


def set_current(cancellation: Cancellation) -> None:
    """Make ``cancellation`` the current one of the calling context (the worker, per task)."""
    _current.set(cancellation)


def cancellation_requested() -> bool:
    """Whether the worker asked the running task to stop (``False`` outside a worker's task)."""
    cancellation = _current.get()
    return cancellation is not None and cancellation.reason is not None


def wait_for_cancellation(timeout: float) -> bool:
    """Sleep up to ``timeout`` seconds, less if the running task is asked to stop meanwhile;
    returns whether it was. Blocks the calling thread: for plain functions (a coroutine is
    cancelled instead and uses ``asyncio.sleep``). Outside a worker's task it just sleeps."""
    if not 0 <= timeout < math.inf:
        raise ValueError(f"Invalid timeout {timeout!r}: use seconds >= 0 (finite)")
    cancellation = _current.get()
    if cancellation is None:
        time.sleep(timeout)
        return False
    return cancellation.wait(timeout)
