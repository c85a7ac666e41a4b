"""Redis results: a string per result with the TTL set natively (``PX``); a stored result is
announced on a pub/sub channel, so waits wake at once instead of polling.

A batch is one script call (:data:`~omniq_redis.scripts.STORE_RESULTS`) that compares each
result's delivery with the stored one's and refuses a lower one, so a worker paused past its
lease never replaces the newer delivery's result."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from omniq._time import utcnow
from omniq.models.result import TaskResult
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ResultStorage

from omniq_redis import scripts
from omniq_redis.connection import connection_for, storage_errors
from omniq_redis.pipelines import ScriptSet

__all__ = ["RedisResultStorage", "result_script_args", "ttl_arg"]

_SCRIPTS = ScriptSet({"STORE": scripts.STORE_RESULTS})


def ttl_arg(expires_at: datetime | None, now: datetime) -> str:
    """A result's TTL as the scripts take it: milliseconds, or ``''`` for none."""
    if expires_at is None:
        return ""
    return str(int((expires_at - now).total_seconds() * 1000))


def result_script_args(result: TaskResult, now: datetime) -> list[Any]:
    """A result as the result scripts take it: task id, record, delivery, TTL."""
    return [
        result.task_id,
        dumps_record(result),
        str(result.delivery),
        ttl_arg(result.expires_at, now),
    ]


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

    async def store(self, result: TaskResult) -> bool:
        return (await self.store_many((result,)))[0]

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        """One script call for the batch: each result is compared with the stored one's
        delivery and written (with its TTL) unless that is higher; the stored ones are
        announced to waiters in the same call."""
        if not results:
            return []
        now = utcnow()
        keys = [self.keys.result(r.task_id) for r in results]
        args: list[Any] = [self.keys.result_channel]
        for result in results:
            args += result_script_args(result, now)
        calls = self.redis.calls
        reply = await storage_errors(
            self.redis.where, lambda: _SCRIPTS.call(calls, "STORE", keys, args)
        )
        return [bool(flag) for flag in reply]

    async def get(self, task_id: str) -> TaskResult | None:
        key = self.keys.result(task_id)
        data = await storage_errors(self.redis.where, lambda: self.redis.calls.call("GET", key))
        return self._decode(data)

    def get_sync(self, task_id: str) -> TaskResult | None:
        return self._decode(self.redis.sync_client.get(self.keys.result(task_id)))

    @staticmethod
    def _decode(data: bytes | str | None) -> TaskResult | None:
        if data is None:
            return None
        result = loads_record(data, TaskResult)
        return None if result.is_expired(utcnow()) else result

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        waiters = self.redis.waiters
        keys = (f"r:{task_id}",)
        deadline = time.monotonic() + timeout
        fresh = self.redis.fresh_results
        try:
            while True:
                future = waiters.register(keys)
                try:
                    record = fresh.pop(task_id, None)  # stored by a worker of this process
                    result = await self.get(task_id) if record is None else self._decode(record)
                    remaining = deadline - time.monotonic()
                    if result is not None or remaining <= 0:
                        return result
                    # the wake-up is the fast path; a slow poll covers a lost pub/sub message
                    await waiters.wait(future, min(remaining, 1.0))
                finally:
                    waiters.unregister(keys, future)
        finally:
            if not waiters.has(keys[0]):
                fresh.pop(task_id, None)  # handed over while no one else waits: not kept

    async def delete(self, task_id: str) -> bool:
        return bool(await self.redis.client.delete(self.keys.result(task_id)))

    async def purge_expired(self) -> int:
        return 0  # Redis drops expired keys by itself
