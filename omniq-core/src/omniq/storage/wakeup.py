"""Wake coroutines waiting on a key (a queue name, a task id), from any thread, without polling.

For storage authors: a backend that cannot be told of new work by its store can still wake the
waiters of its own process at once (and poll only for other processes' writes)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["Waiters"]

K = TypeVar("K", bound=Hashable)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Waiters(Generic[K]):
    """Futures waiting for keys (queue names, task ids); :meth:`wake` resolves them.

    A waiter registers *before* it checks the state it waits for, so a wake that happens between
    the check and the wait is never lost.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[K, set[asyncio.Future[None]]] = {}

    def register(self, keys: Iterable[K]) -> asyncio.Future[None]:
        """A future of the running loop that resolves when one of ``keys`` is woken."""
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            for key in keys:
                self._waiting.setdefault(key, set()).add(future)
        return future

    def unregister(self, keys: Iterable[K], future: asyncio.Future[None]) -> None:
        with self._lock:
            for key in keys:
                futures = self._waiting.get(key)
                if futures is not None:
                    futures.discard(future)
                    if not futures:
                        del self._waiting[key]

    def has(self, key: K) -> bool:
        """Whether anyone waits for ``key`` now."""
        return key in self._waiting

    def wake(self, key: K) -> None:
        """Resolve every future waiting for ``key`` (thread-safe; cheap when nobody waits)."""
        if not self._waiting:
            return
        with self._lock:
            futures = self._waiting.pop(key, None)
        if not futures:
            return
        current = _running_loop()
        for future in futures:
            loop = future.get_loop()
            if loop is current:
                _resolve(future)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    def wake_all(self) -> None:
        """Resolve every waiting future: after a lapse in which wake-ups may have been missed
        (a push connection lost and opened again), every waiter checks again."""
        with self._lock:
            keys = list(self._waiting)
        for key in keys:
            self.wake(key)

    async def wait(self, future: asyncio.Future[None], timeout: float) -> None:
        """Wait for ``future`` at most ``timeout`` seconds; the future stays pending when the time
        runs out, so a poll loop can wait on it again (a timeout around ``await future`` would
        cancel it, and every later wait would return at once: a busy loop)."""
        if timeout <= 0 or future.done():
            return
        await asyncio.wait((future,), timeout=timeout)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
