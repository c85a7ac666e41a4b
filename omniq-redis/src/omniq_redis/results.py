"""Redis results: a string per result with the TTL set natively (``PX``); a stored result is
announced on a pub/sub channel, so waits wake at once instead of polling."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from omniq._time import utcnow
from omniq.models.result import TaskResult
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ResultStorage

from omniq_redis.connection import connection_for, storage_errors

__all__ = ["RedisResultStorage"]


class RedisResultStorage(ResultStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.PERSISTENT,
            Capability.MULTI_PROCESS,
            Capability.PUSH_WAKEUP,
            Capability.SYNC_PRODUCER,
        }
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.redis = connection_for(ctx)
        self.keys = self.redis.keys

    async def connect(self) -> None:
        await self.redis.connect()

    async def store(self, result: TaskResult) -> None:
        await self.store_many((result,))

    async def store_many(self, results: Sequence[TaskResult]) -> None:
        if not results:
            return
        now = utcnow()
        stored: list[str] = []
        async with self.redis.client.pipeline(transaction=False) as pipe:
            for result in results:
                key = self.keys.result(result.task_id)
                if result.expires_at is None:
                    pipe.set(key, dumps_record(result))
                else:
                    ttl_ms = int((result.expires_at - now).total_seconds() * 1000)
                    if ttl_ms <= 0:
                        pipe.delete(key)
                        continue
                    pipe.set(key, dumps_record(result), px=ttl_ms)
                stored.append(result.task_id)
            if stored:  # one wake-up message per batch: the task ids, space-separated
                pipe.publish(self.keys.result_channel, " ".join(stored))
            await storage_errors(self.redis.where, pipe.execute)

    async def get(self, task_id: str) -> TaskResult | None:
        data = await storage_errors(
            self.redis.where, lambda: self.redis.client.get(self.keys.result(task_id))
        )
        return self._decode(data)

    def get_sync(self, task_id: str) -> TaskResult | None:
        return self._decode(self.redis.sync_client.get(self.keys.result(task_id)))

    @staticmethod
    def _decode(data: bytes | None) -> TaskResult | None:
        if data is None:
            return None
        result = loads_record(data, TaskResult)
        return None if result.is_expired(utcnow()) else result

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        waiters = self.redis.waiters
        keys = (f"r:{task_id}",)
        deadline = time.monotonic() + timeout
        while True:
            future = waiters.register(keys)
            try:
                result = await self.get(task_id)
                remaining = deadline - time.monotonic()
                if result is not None or remaining <= 0:
                    return result
                # the wake-up is the fast path; a slow poll covers a lost pub/sub message
                await waiters.wait(future, min(remaining, 1.0))
            finally:
                waiters.unregister(keys, future)

    async def delete(self, task_id: str) -> bool:
        return bool(await self.redis.client.delete(self.keys.result(task_id)))

    async def purge_expired(self) -> int:
        return 0  # Redis drops expired keys by itself
