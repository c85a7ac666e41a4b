"""A buffered writer of task events, shared by producers and workers.

``emit`` is cheap and may be called from any thread: it appends to a buffer that a background
coroutine on the runtime's event loop writes with ``append_many`` in batches. ``flush`` waits until
everything emitted so far is stored (the app calls it before reading events, so a process reads
its own writes). ``write_now`` stores events at once, together with anything still buffered, for
the terminal events a worker must store before it acks. ``close`` flushes: events are never lost on
a clean shutdown. If the store fails, the sink keeps the events and retries with a backoff, up to
``max_buffer`` events (then it drops the oldest and logs how many).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence

from omniq.logging import get_logger
from omniq.models.event import TaskEvent
from omniq.runtime.supervision import raise_if_cancelled, supervise
from omniq.storage.events import EventStorage

__all__ = ["EventSink"]

log = get_logger(__name__)


class EventSink:
    """Batches events into ``storage.append_many`` calls."""

    def __init__(
        self,
        storage: EventStorage,
        *,
        max_batch: int = 1000,
        flush_interval: float = 0.02,
        max_buffer: int = 1_000_000,
    ) -> None:
        self.storage = storage
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        """How long the writer waits after the first buffered event, to gather a batch."""
        self.max_buffer = max_buffer
        self._buffer: deque[TaskEvent] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._write_lock: asyncio.Lock | None = None
        self._writer: asyncio.Task[None] | None = None
        self._signalled = False
        self._closed = False
        self.dropped = 0
        """Events dropped because the store kept failing and the buffer was full."""
        self.writer_restarts = 0
        """How often the background writer ended unexpectedly and was started again."""

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background writer on the running loop (idempotent)."""
        if self._writer is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._writer = self._start_writer()
        if self._buffer:
            self._wake.set()

    def _start_writer(self) -> asyncio.Task[None]:
        """The background writer, started again if it ends before :meth:`close` (see
        :mod:`omniq.runtime.supervision`), so events never pile up unwritten."""
        wake, lock = self._wake, self._write_lock
        assert wake is not None
        assert lock is not None
        return supervise(
            "omniq-event-sink",
            lambda: self._run(wake, lock),
            wanted=lambda writer: not self._closed and writer is self._writer,
            restarted=self._restarted,
            log=log,
            event="event writer ended unexpectedly, restarting it",
        )

    def _restarted(self, _old: asyncio.Task[None], new: asyncio.Task[None]) -> None:
        self.writer_restarts += 1
        self._writer = new
        assert self._wake is not None
        self._wake.set()

    async def close(self) -> None:
        """Stop the writer and store every buffered event.

        The writer is stopped between two writes (under the write lock), never inside one: a
        storage call cancelled mid-flight can leave its connection unusable for the next user
        of the pool (redis-py issues #2665 and #4121)."""
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            lock = self._write_lock
            assert lock is not None
            async with lock:
                writer.cancel()
            try:
                await writer
            except asyncio.CancelledError:
                # Re-raise if *we* are being cancelled, not just the writer.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        await self.flush()

    # -- producing -------------------------------------------------------------------------------

    def emit(self, event: TaskEvent) -> None:
        """Buffer one event; safe from any thread, never blocks."""
        self._buffer.append(event)
        self._signal()

    def emit_many(self, events: Sequence[TaskEvent]) -> None:
        """Buffer several events."""
        self._buffer.extend(events)
        self._signal()

    def _signal(self) -> None:
        if self._signalled or self._wake is None:
            return
        self._signalled = True
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            loop = self._loop
            if loop is not None:
                try:
                    loop.call_soon_threadsafe(self._wake.set)
                except RuntimeError:  # loop closed: close() flushes what is left
                    self._signalled = False

    async def flush(self) -> None:
        """Wait until every event emitted before this call is stored."""
        if self._write_lock is None:
            if self._buffer:
                await self._drain()
            return
        async with self._write_lock:
            await self._drain()

    async def write_now(self, events: Sequence[TaskEvent]) -> None:
        """Store ``events`` (and anything buffered before them) before returning.

        Raises if the store fails; the caller decides (a worker then does not ack).
        """
        if self._write_lock is None:
            await self._drain(then=events)
            return
        async with self._write_lock:
            await self._drain(then=events)

    # -- writing ---------------------------------------------------------------------------------

    async def _drain(self, then: Sequence[TaskEvent] = ()) -> None:
        """Write what is buffered now, then ``then``, in batches of at most ``max_batch`` (the
        last buffered batch carries ``then``: one write, not two). Events emitted meanwhile wait
        for the next drain, so a busy producer cannot keep the writer in tiny batches. On failure
        the buffered events of the failed batch go back to the buffer, and the error is raised.
        """
        buffer = self._buffer
        left = len(buffer)
        while left:
            taken = min(self.max_batch, left)
            batch = [buffer.popleft() for _ in range(taken)]
            left -= taken
            if not left and then:
                batch.extend(then)
                then = ()
            try:
                await self.storage.append_many(batch)
            except BaseException:
                buffer.extendleft(reversed(batch[:taken]))
                raise
        if then:
            await self.storage.append_many(then)

    async def _run(self, wake: asyncio.Event, lock: asyncio.Lock) -> None:
        delay = 0.05
        while True:
            await wake.wait()
            if self.flush_interval:
                await asyncio.sleep(self.flush_interval)
            wake.clear()
            self._signalled = False
            try:
                async with lock:
                    await self._drain()
                delay = 0.05
            except (Exception, asyncio.CancelledError) as exc:
                raise_if_cancelled(exc)
                log.warning(
                    "event storage append failed; will retry",
                    buffered=len(self._buffer),
                    error=repr(exc),
                    retry_in=delay,
                )
                self._trim()
                wake.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _trim(self) -> None:
        excess = len(self._buffer) - self.max_buffer
        if excess > 0:
            for _ in range(excess):
                self._buffer.popleft()
            self.dropped += excess
            log.error("event buffer full; dropped the oldest events", dropped=excess)

    def __len__(self) -> int:
        return len(self._buffer)
