"""Result storage on a :class:`~omniq.kit.KVStore`: ``result/<task id>``, compare-and-set on the
delivery, expiry kept in the record (and given to a store that expires keys itself)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from omniq._time import utcnow
from omniq.kit._base import KitStorage
from omniq.kit.records import decode, encode
from omniq.kit.store import Item
from omniq.logging import get_logger
from omniq.models.result import TaskResult
from omniq.storage import ResultStorage

__all__ = ["KitResultStorage"]

log = get_logger(__name__)
RESULTS = "result/"


class KitResultStorage(KitStorage, ResultStorage):
    """Task results as records of a key-value store."""

    def _decode(self, item: Item) -> TaskResult | None:
        try:
            return decode(item.value, TaskResult)
        except Exception as exc:
            log.warning("undecodable result skipped", key=item.key, error=repr(exc))
            return None

    async def store(self, result: TaskResult) -> bool:
        self._check_open()
        key, value = f"{RESULTS}{result.task_id}", encode(result)
        expires = None if result.expires_at is None else result.expires_at.timestamp()
        while True:  # a compare-and-set on what was read; read again when another writer won
            item = await self.kv.get(key)
            if item is None:
                if await self.kv.put_if_absent(key, value, expires_at=expires):
                    return True
                continue
            stored = self._decode(item)
            live = stored is not None and not stored.is_expired(utcnow())
            if live and stored is not None and stored.delivery > result.delivery:
                return False
            if await self.kv.compare_and_set(key, value, item.version, expires_at=expires):
                return True

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        return [await self.store(result) for result in results]

    async def get(self, task_id: str) -> TaskResult | None:
        self._check_open()
        item = await self.kv.get(f"{RESULTS}{task_id}")
        result = None if item is None else self._decode(item)
        return None if result is None or result.is_expired(utcnow()) else result

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        self._check_open()
        if self.kv.watch(RESULTS) is None:
            return await super().wait(task_id, timeout)
        deadline = time.monotonic() + timeout
        while True:
            watch = self.kv.watch(f"{RESULTS}{task_id}")
            assert watch is not None
            try:
                result = await self.get(task_id)
                remaining = deadline - time.monotonic()
                if result is not None or remaining <= 0:
                    return result
                await watch.wait(remaining)
            finally:
                watch.close()

    async def delete(self, task_id: str) -> bool:
        self._check_open()
        return await self.kv.delete(f"{RESULTS}{task_id}")

    async def purge_expired(self) -> int:
        self._check_open()
        if self.kv.expires:
            return 0
        now, dropped = utcnow(), 0
        for item in await self.kv.scan(RESULTS):
            result = self._decode(item)
            if result is not None and result.is_expired(now):
                dropped += await self.kv.delete(item.key, item.version)
        return dropped
