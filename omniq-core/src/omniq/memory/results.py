"""The memory result storage: a dict of results, and waiters woken when one is stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import ClassVar

from attrs import define, field

from omniq._time import utcnow
from omniq.memory.base import MemoryStorageMixin
from omniq.models.result import TaskResult
from omniq.plugins.specs import BackendContext
from omniq.storage import Capability, ResultStorage
from omniq.storage.wakeup import Waiters

__all__ = ["MemoryResultStorage"]


@define
class ResultData:
    """The result role's part of a memory store."""

    lock: threading.Lock = field(factory=threading.Lock)
    results: dict[str, TaskResult] = field(factory=dict)
    waiters: Waiters[str] = field(factory=Waiters)


class MemoryResultStorage(MemoryStorageMixin, ResultStorage):
    """Results in this process's memory; expired ones are never returned and dropped on read."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PUSH_WAKEUP, Capability.SYNC_PRODUCER}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self._state = self._data(ctx, "result_storage", ResultData)

    async def store(self, result: TaskResult) -> bool:
        return (await self.store_many((result,)))[0]

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        self._check_open()
        stored: list[bool] = []
        with self._state.lock:
            for result in results:
                held = self._state.results.get(result.task_id)
                accepted = held is None or held.delivery <= result.delivery
                if accepted:
                    self._state.results[result.task_id] = result
                stored.append(accepted)
        for result, accepted in zip(results, stored, strict=True):
            if accepted:
                self._state.waiters.wake(result.task_id)
        return stored

    async def get(self, task_id: str) -> TaskResult | None:
        return self.get_sync(task_id)

    def get_sync(self, task_id: str) -> TaskResult | None:
        self._check_open()
        with self._state.lock:
            result = self._state.results.get(task_id)
            if result is not None and result.is_expired(utcnow()):
                del self._state.results[task_id]
                return None
            return result

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        deadline = time.monotonic() + timeout
        waiters = self._state.waiters
        while True:
            future = waiters.register((task_id,))
            try:
                result = self.get_sync(task_id)
                remaining = deadline - time.monotonic()
                if result is not None or remaining <= 0:
                    return result
                await waiters.wait(future, remaining)
            finally:
                waiters.unregister((task_id,), future)

    async def delete(self, task_id: str) -> bool:
        self._check_open()
        with self._state.lock:
            return self._state.results.pop(task_id, None) is not None

    async def purge_expired(self) -> int:
        self._check_open()
        now = utcnow()
        with self._state.lock:
            expired = [key for key, r in self._state.results.items() if r.is_expired(now)]
            for key in expired:
                del self._state.results[key]
            return len(expired)
