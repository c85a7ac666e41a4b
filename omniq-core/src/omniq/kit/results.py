"""Result storage on a :class:`~omniq.kit.KVStore`: ``result/<task id>``, compare-and-set on the
delivery, expiry kept in the record (and given to a store that expires keys itself)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from omniq._time import utcnow
from omniq.kit._base import KitStorage
from omniq.kit.records import decode, encode
from omniq.kit.store import Item, KVStore, Write
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

    async def _attempt(self, result: TaskResult) -> tuple[Write | None, bool]:
        """The write that stores ``result`` if nobody writes in between, or ``None`` and the
        answer when no write is needed (a higher delivery is stored)."""
        key = f"{RESULTS}{result.task_id}"
        expires = None if result.expires_at is None else result.expires_at.timestamp()
        item = await self.kv.get(key)
        if item is not None:
            stored = self._decode(item)
            live = stored is not None and not stored.is_expired(utcnow())
            if live and stored is not None and stored.delivery > result.delivery:
                return None, False
            return Write(key, encode(result), item.version, expires), True
        return Write(key, encode(result), None, expires), True

    async def store(self, result: TaskResult) -> bool:
        self._check_open()
        while True:  # a compare-and-set on what was read; read again when another writer won
            write, answer = await self._attempt(result)
            if write is None:
                return answer
            if (await self.kv.apply([write]))[0]:
                return True

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        """One :meth:`~omniq.kit.KVStore.apply` for the batch; a write that lost a race is
        done again on its own."""
        self._check_open()
        attempts = [await self._attempt(result) for result in results]
        answers = [answer for _, answer in attempts]
        wanted = [i for i, (write, _) in enumerate(attempts) if write is not None]
        done = await self.kv.apply([w for w, _ in attempts if w is not None])
        for i, ok in zip(wanted, done, strict=True):
            if not ok:
                answers[i] = await self.store(results[i])
        return answers

    async def get(self, task_id: str) -> TaskResult | None:
        self._check_open()
        item = await self.kv.get(f"{RESULTS}{task_id}")
        result = None if item is None else self._decode(item)
        return None if result is None or result.is_expired(utcnow()) else result

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        self._check_open()
        if type(self.kv).watch is KVStore.watch:  # no change notification: poll
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
