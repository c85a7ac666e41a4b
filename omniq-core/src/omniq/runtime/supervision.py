"""Keeping the runtime's background loops alive: the worker's loops and the event writer.

A loop must never end silently. Some client libraries leak a ``CancelledError`` from their own
timeouts, so a loop re-raises only what may be a real cancel (:func:`raise_if_cancelled`), and
a loop that ends anyway is logged and started again (:func:`supervise`) unless its owner meant
it to end, or the event loop itself is ending (``asyncio.run`` returning with the app still
open cancels every task: that is not a loop to restart, and restarting it would leave a task on
a dying event loop).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["RESTART_PAUSE", "ending", "raise_if_cancelled", "run_by_omniq", "supervise"]

RESTART_PAUSE = 0.5
"""Seconds before a loop that ended unexpectedly is started again."""


_warned_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_own_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_ending_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def run_by_omniq(loop: asyncio.AbstractEventLoop) -> None:
    """``loop`` is run by OmniQ (the sync API's loop thread), which calls
    :func:`ending` before it cancels what is left on it."""
    _own_loops.add(loop)


def ending(loop: asyncio.AbstractEventLoop) -> None:
    """OmniQ's ``loop`` is ending: loops cancelled from now on are not restarted."""
    _ending_loops.add(loop)


def _event_loop_ending() -> bool:
    """Whether the running event loop is ending. OmniQ's own loops say so (:func:`ending`).
    Another is taken to be ending when every unfinished task has a cancellation request, as
    when ``asyncio.run`` ends: it cancels them all before any of them finishes, while in a
    running program its main task (or whatever else it runs) is not being cancelled."""
    loop = asyncio.get_running_loop()
    if loop in _own_loops:
        return loop in _ending_loops
    return all(task.cancelling() > 0 for task in asyncio.all_tasks() if not task.done())


def raise_if_cancelled(exc: BaseException) -> None:
    """Re-raise ``exc`` if it is a ``CancelledError`` while the running task has a cancellation
    request; return for any other error, for the loop to count as a failed call and go on.

    A ``CancelledError`` with no cancellation request did not come from a cancel at all (a
    library raised it). With one, it may be a real cancel or a library's timeout that cancelled
    the task and failed to take it back: the two look alike, so the loop ends and its
    supervisor (which knows whether its owner is stopping) starts it again or lets it go."""
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        if task is not None and task.cancelling() > 0:
            raise exc


def supervise(
    name: str,
    body: Callable[[], Coroutine[Any, Any, None]],
    *,
    wanted: Callable[[asyncio.Task[None]], bool],
    restarted: Callable[[asyncio.Task[None], asyncio.Task[None]], None],
    log: Any,
    event: str,
) -> asyncio.Task[None]:
    """Run ``body()`` as task ``name``. If it ends while ``wanted(task)`` (its owner still
    wants it running), log ``event`` with the loop's name and the cause, and after
    :data:`RESTART_PAUSE`, if it is still wanted, start it again and hand ``restarted`` the
    old task and the new one (each new task is supervised the same way)."""

    def start() -> asyncio.Task[None]:
        task = asyncio.create_task(body(), name=name)
        task.add_done_callback(ended)
        return task

    def ended(task: asyncio.Task[None]) -> None:
        if not wanted(task):
            return
        if task.cancelled() and _event_loop_ending():
            loop = asyncio.get_running_loop()
            if loop not in _warned_loops:
                _warned_loops.add(loop)
                log.warning(
                    "event loop ended with an OmniQ app still open: close it before the loop "
                    "ends (async with AsyncOmniQ(...), or await app.close())",
                    loop=name,
                )
            return
        cause = "cancelled" if task.cancelled() else repr(task.exception())
        log.error(event, loop=name, error=cause)

        def restart() -> None:
            if wanted(task) and not _event_loop_ending():
                restarted(task, start())

        asyncio.get_running_loop().call_later(RESTART_PAUSE, restart)

    return start()
