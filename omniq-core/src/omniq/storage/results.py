"""The result storage contract.

A result is written once a task finished (success, final failure or cancellation) and read by
task id. Results past ``expires_at`` are never returned, whether or not the store has dropped
them yet.

**Fencing.** Every result carries the :attr:`~omniq.models.TaskResult.delivery` that produced
it. A store refuses a result whose delivery is lower than the stored one's (compare-and-set,
atomic against concurrent writers): a worker that was paused past its lease and wakes after a
newer delivery finished can never replace the newer outcome. An equal or higher delivery
replaces the stored result (a worker retrying its own write is harmless).
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from omniq.models.result import TaskResult
from omniq.storage.base import Storage

__all__ = ["ResultStorage", "SyncResultReader"]


class ResultStorage(Storage):
    """Task results by id, with TTL expiry and waiting."""

    @abstractmethod
    async def store(self, result: TaskResult) -> bool:
        """Store the result of ``result.task_id``, replacing a stored one of an equal or lower
        delivery; ``False`` (and no change) if the stored result is of a higher delivery."""

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        """Store several results (each as :meth:`store` does); backends should do it in one
        round trip. Returns, in order, whether each was stored."""
        return [await self.store(result) for result in results]

    @abstractmethod
    async def get(self, task_id: str) -> TaskResult | None:
        """The stored, unexpired result of ``task_id``, or ``None``."""

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        """Wait up to ``timeout`` seconds for the result of ``task_id``; ``None`` if none came.

        The default polls :meth:`get` with a backoff from 1 ms to 50 ms; backends that can be
        told of a stored result (``PUSH_WAKEUP``) override it.
        """
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            result = await self.get(task_id)
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)

    @abstractmethod
    async def delete(self, task_id: str) -> bool:
        """Delete a result; ``True`` if there was one."""

    @abstractmethod
    async def purge_expired(self) -> int:
        """Drop expired results now; returns how many (stores with native TTL may return 0)."""


@runtime_checkable
class SyncResultReader(Protocol):
    """Optional synchronous read of results (capability ``SYNC_PRODUCER``), thread-safe."""

    def get_sync(self, task_id: str) -> TaskResult | None: ...
