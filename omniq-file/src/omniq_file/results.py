"""File results: one file per result under ``results/``; expired ones are never returned.

**Fencing.** A store compares the result's delivery with the stored one's and writes only if
it is not lower, under the task's lock (:mod:`omniq_file.locks`): on a local disk ``flock``
makes the read-compare-write exclusive across processes; on object stores only within this
process (run one consumer process per ``base_dir`` there, as for the queue).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from omniq._time import utcnow
from omniq.models.result import TaskResult
from omniq.storage import Capability, ResultStorage

from omniq_file import result_expiry
from omniq_file.base import FileStorageMixin
from omniq_file.blobs import LocalBlobs
from omniq_file.codec import CorruptFileError
from omniq_file.paths import component, is_component

__all__ = ["FileResultStorage"]


def _path(task_id: str) -> str:
    return f"results/{component(task_id, 'task id')}.result"


class FileResultStorage(FileStorageMixin, ResultStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.SYNC_PRODUCER}
    )

    async def store(self, result: TaskResult) -> bool:
        return (await self.store_many((result,)))[0]

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        stored = await self._run_spread(self._store, results)
        for result, accepted in zip(results, stored, strict=True):
            if accepted:
                self.files.waiters.wake(f"r:{result.task_id}")
        return stored

    def _store(self, results: list[TaskResult]) -> list[bool]:
        blobs, locks = self.files.blobs, self.files.result_locks
        stored: list[bool] = []
        for result in results:
            path = _path(result.task_id)
            with locks.hold(result.task_id):
                held = self._held(path)
                accepted = held is None or held.delivery <= result.delivery
                if accepted:
                    blobs.write(path, self.files.dump(result))
            stored.append(accepted)
        if isinstance(blobs, LocalBlobs):
            expiring = [
                (r.task_id, r.expires_at)
                for r, ok in zip(results, stored, strict=True)
                if ok and r.expires_at is not None
            ]
            result_expiry.note(blobs, expiring)
        return stored

    def _held(self, path: str) -> TaskResult | None:
        """The stored result (expired or not) the compare is against; an undecodable one is
        quarantined and replaced."""
        data = self.files.blobs.read(path)
        if data is None:
            return None
        try:
            return self.files.codec.loads(data, TaskResult, where=path)
        except CorruptFileError as exc:
            self.files.quarantine(path, exc)
            return None

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
        deleted: bool = await self._run(self._delete, task_id)
        return deleted

    def _delete(self, task_id: str) -> bool:
        with self.files.result_locks.hold(task_id):
            return self.files.blobs.delete(_path(task_id))

    async def purge_expired(self) -> int:
        count: int = await self._run(self._purge)
        return count

    def _purge(self) -> int:
        """On a local disk, only the results the expiry files name for the minutes begun
        (:mod:`omniq_file.result_expiry`); on object stores, which cannot append, every one."""
        blobs, now = self.files.blobs, utcnow()
        purged: list[str] = []

        def purge(task_ids: list[str]) -> list[tuple[str, datetime]]:
            kept = []
            for task_id in task_ids:
                if not is_component(task_id):
                    continue  # a damaged line
                with self.files.result_locks.hold(task_id):
                    result = self.files.load(_path(task_id), TaskResult)
                    if result is None or result.expires_at is None:
                        continue
                    if not result.is_expired(now):
                        kept.append((task_id, result.expires_at))
                    elif blobs.delete(_path(task_id)):
                        purged.append(task_id)
            return kept

        if not isinstance(blobs, LocalBlobs) or blobs.exists(result_expiry.UNINDEXED):
            names = blobs.list("results")
            kept = purge([n.removesuffix(".result") for n in names if n.endswith(".result")])
            if isinstance(blobs, LocalBlobs):  # results of an older layout: index them now
                result_expiry.note(blobs, kept)
                blobs.delete(result_expiry.UNINDEXED)
        if isinstance(blobs, LocalBlobs):
            result_expiry.take_due(blobs, now, purge)
        return len(purged)
