"""File results: one file per result under ``results/``; expired ones are never returned."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from omniq._time import utcnow
from omniq.models.result import TaskResult
from omniq.storage import Capability, ResultStorage

from omniq_file.base import FileStorageMixin
from omniq_file.paths import component

__all__ = ["FileResultStorage"]


def _path(task_id: str) -> str:
    return f"results/{component(task_id, 'task id')}.result"


class FileResultStorage(FileStorageMixin, ResultStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.SYNC_PRODUCER}
    )

    async def store(self, result: TaskResult) -> None:
        await self.store_many((result,))

    async def store_many(self, results: Sequence[TaskResult]) -> None:
        await self._run_spread(self._store, results)
        for result in results:
            self.files.waiters.wake(f"r:{result.task_id}")

    def _store(self, results: list[TaskResult]) -> list[None]:
        for result in results:
            self.files.blobs.write(_path(result.task_id), self.files.dump(result))
        return [None] * len(results)

    async def get(self, task_id: str) -> TaskResult | None:
        result: TaskResult | None = await self._run(self.get_sync, task_id)
        return result

    def get_sync(self, task_id: str) -> TaskResult | None:
        result = self.files.load(_path(task_id), TaskResult)
        return None if result is None or result.is_expired(utcnow()) else result

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        waiters = self.files.waiters
        keys = (f"r:{task_id}",)
        deadline = time.monotonic() + timeout
        interval = self.files.options.poll_interval * (2 if self.files.blobs.atomic_rename else 10)
        while True:
            future = waiters.register(keys)
            try:
                result = await self.get(task_id)
                remaining = deadline - time.monotonic()
                if result is not None or remaining <= 0:
                    return result
                await waiters.wait(future, min(interval, remaining))
            finally:
                waiters.unregister(keys, future)

    async def delete(self, task_id: str) -> bool:
        deleted: bool = await self._run(self.files.blobs.delete, _path(task_id))
        return deleted

    async def purge_expired(self) -> int:
        count: int = await self._run(self._purge)
        return count

    def _purge(self) -> int:
        now, count = utcnow(), 0
        for name in self.files.blobs.list("results"):
            result = self.files.load(f"results/{name}", TaskResult)
            if result is not None and result.is_expired(now):
                count += self.files.blobs.delete(f"results/{name}")
        return count
