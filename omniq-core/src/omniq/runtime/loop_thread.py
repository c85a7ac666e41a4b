"""One background thread running an asyncio event loop, for the sync API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from omniq.runtime import supervision

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An event loop in a daemon thread; :meth:`run` submits coroutines from other threads."""

    def __init__(self, name: str = "omniq-loop") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> asyncio.AbstractEventLoop:
        """Start the thread (idempotent) and return its loop."""
        with self._lock:
            if self.loop is not None and self.running:
                return self.loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    supervision.ending(loop)  # what is cancelled now is not to be restarted
                    _cancel_leftovers(loop)
                    loop.close()

            supervision.run_by_omniq(loop)

            thread = threading.Thread(target=main, name=self.name, daemon=True)
            thread.start()
            ready.wait()
            self.loop, self._thread = loop, thread
            return loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result from this (another) thread."""
        loop = self.loop
        if loop is None or not self.running:
            coro.close()
            raise RuntimeError("OmniQ's event-loop thread is not running (the app is closed)")
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                "The sync OmniQ API was called from its own event loop (inside an async task?); "
                "use AsyncOmniQ and await it there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise
        except BaseException:
            if not future.done():
                future.cancel()
            raise

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the loop and join the thread (idempotent)."""
        with self._lock:
            loop, thread = self.loop, self._thread
            self.loop = self._thread = None
        if loop is None or thread is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            if threading.current_thread() is not thread:
                thread.join(timeout)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
