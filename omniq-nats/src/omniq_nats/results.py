"""Results in the ``<prefix>_results`` KV bucket (key: task id), the bucket's TTL bounding every
result's life and each result's own ``expires_at`` checked on read.

``store`` is a compare-and-set on the key's revision: read, refuse if the stored result's
delivery is higher, else write with the revision read (``create`` when there is none), again on
a conflict. ``wait`` is woken by the key's writes (a core subscription), no polling, and is
handed a result this process stored at once (it need not read it back)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.kv import KeyValue
from omniq._time import utcnow
from omniq.errors import StorageError
from omniq.logging import get_logger
from omniq.models.result import TaskResult
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, ResultStorage

from omniq_nats.connection import connection_for, unavailable_as_storage_error
from omniq_nats.publisher import Message, Outcome, Stored

__all__ = ["NATSResultStorage"]

log = get_logger(__name__)
_WRONG_LAST = 10071


class NATSResultStorage(ResultStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.PUSH_WAKEUP}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.conn = connection_for(ctx)
        self._kv: KeyValue | None = None
        self._waits: dict[str, set[asyncio.Queue[TaskResult | None]]] = {}
        """This storage's waits per task id, handed the results stored here."""
        self._storing: Counter[str] = Counter()
        """Task ids whose result this storage is writing: a wait woken by that write's message
        is handed the result when JetStream acknowledges it, instead of reading it back."""

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "connect() first"
        return self._kv

    async def connect(self) -> None:
        if self._kv is None:
            await self.conn.connect()
            self._kv = await self.conn.bucket(
                self.conn.names.result_bucket, ttl=self.conn.options.result_ttl
            )

    async def close(self) -> None:
        self._kv = None

    async def _entry(self, task_id: str) -> tuple[TaskResult | None, int]:
        try:
            entry = await self.kv.get(task_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError) as exc:
            revision = getattr(getattr(exc, "entry", None), "revision", None) or 0
            return None, revision
        if entry.value is None:
            return None, entry.revision or 0
        try:
            return loads_record(entry.value, TaskResult), entry.revision or 0
        except Exception:
            log.warning("undecodable NATS result", task_id=task_id)
            return None, entry.revision or 0

    async def store(self, result: TaskResult) -> bool:
        return (await self.store_many([result]))[0]

    async def store_many(self, results: Sequence[TaskResult]) -> list[bool]:
        """The first result of each task in one pipelined batch of ``create`` writes (the
        common case); a task that has one already is compared and replaced one by one."""
        encoded, creates = self.creates(results)
        try:
            async with unavailable_as_storage_error(self.conn.where):
                outcomes = await self.conn.publish_many(creates)
        except BaseException:
            self.abandon(results)
            raise
        return await self.settle(results, encoded, outcomes)

    def creates(self, results: Sequence[TaskResult]) -> tuple[list[bytes], list[Message]]:
        """The records of ``results`` and their ``create`` writes (to publish, then
        :meth:`settle`): a pipelined completion sends them with its events."""
        encoded = [dumps_record(r) for r in results]
        for result, data in zip(results, encoded, strict=True):
            self.conn.check_payload(len(data), f"the result of task {result.task_id}")
        bucket = self.conn.names.result_bucket
        self._storing.update(r.task_id for r in results)
        creates: list[Message] = [
            (f"$KV.{bucket}.{r.task_id}", data, {"Nats-Expected-Last-Subject-Sequence": "0"})
            for r, data in zip(results, encoded, strict=True)
        ]
        return encoded, creates

    async def settle(
        self, results: Sequence[TaskResult], encoded: Sequence[bytes], outcomes: Sequence[Outcome]
    ) -> list[bool]:
        """Whether each result of :meth:`creates` is stored, given JetStream's answers: one
        refused because the task has a result already is compared and replaced; this
        process's waits are handed the results stored."""
        done: list[bool] = []
        try:
            async with unavailable_as_storage_error(self.conn.where):
                for result, data, outcome in zip(results, encoded, outcomes, strict=True):
                    if isinstance(outcome, Stored):
                        done.append(True)
                    elif outcome.wrong_last:
                        done.append(await self._replace(result, data))
                    else:
                        raise StorageError(
                            f"NATS refused the result of task {result.task_id} "
                            f"({outcome.description}) on {self.conn.where}"
                        )
        finally:
            self.abandon(results, [r for r, ok in zip(results, done, strict=False) if ok])
        return done

    def abandon(
        self, results: Sequence[TaskResult], stored: Sequence[TaskResult] | None = None
    ) -> None:
        """The writes of :meth:`creates` are over: hand this process's waits the results
        ``stored``; the others' waits read the key again."""
        handed = {r.task_id: r for r in stored or ()}
        for result in results:
            task_id = result.task_id
            self._storing[task_id] -= 1
            if self._storing[task_id] <= 0:
                del self._storing[task_id]
            for waiting in self._waits.get(task_id, ()):
                waiting.put_nowait(handed.get(task_id))

    async def _replace(self, result: TaskResult, data: bytes) -> bool:
        """Store over an existing result unless it is of a later delivery (compare-and-set)."""
        for _ in range(20):
            stored, revision = await self._entry(result.task_id)
            if stored is not None and stored.delivery > result.delivery:
                return False
            try:
                await self.kv.update(result.task_id, data, last=revision)
                return True
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            except nats.js.errors.APIError as exc:
                if exc.err_code != _WRONG_LAST:
                    raise
        return False

    async def get(self, task_id: str) -> TaskResult | None:
        if not _valid(task_id):
            return None
        async with unavailable_as_storage_error(self.conn.where):
            result, _ = await self._entry(task_id)
        if result is None or result.is_expired(utcnow()):
            return None
        return result

    async def wait(self, task_id: str, timeout: float) -> TaskResult | None:
        """A core subscription on the key's subject (every write to the key is published on
        it), then one KV read: a result stored before the subscription was registered is
        read, one stored after it wakes the wait. A message seen there is not trusted (a write
        the bucket refused, a stale delivery's, is published to subscribers all the same): it
        makes the wait read the key again. No JetStream consumer is made per wait, and no poll.
        A result this storage stores meanwhile is handed to the wait as it is stored."""
        if not _valid(task_id):
            return None
        if timeout <= 0:
            return await self.get(task_id)
        woken: asyncio.Queue[TaskResult | None] = asyncio.Queue()

        async def wake(msg: Msg) -> None:
            if task_id in self._storing:
                return  # this storage's own write: handed over once acknowledged
            if not (msg.headers or {}).get("KV-Operation"):
                woken.put_nowait(None)

        subject = f"$KV.{self.conn.names.result_bucket}.{task_id}"
        waits = self._waits.setdefault(task_id, set())
        waits.add(woken)
        try:
            async with unavailable_as_storage_error(self.conn.where):
                sub = await self.conn.nc.subscribe(subject, cb=wake)
                try:
                    async with asyncio.timeout(timeout):
                        stored = await self.get(task_id)  # the server has the subscription now
                        while stored is None:
                            handed = await woken.get()
                            if handed is not None and not handed.is_expired(utcnow()):
                                return handed  # stored by this process just now
                            stored = await self.get(task_id)
                        return stored
                except TimeoutError:
                    return None
                finally:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
        finally:
            waits.discard(woken)
            if not waits:
                self._waits.pop(task_id, None)

    async def delete(self, task_id: str) -> bool:
        if not _valid(task_id):
            return False
        async with unavailable_as_storage_error(self.conn.where):
            stored, _ = await self._entry(task_id)
            if stored is None:
                return False
            await self.kv.purge(task_id)
        return True

    async def purge_expired(self) -> int:
        """Deletes results past their own ``expires_at`` (the bucket's TTL drops the rest)."""
        from omniq_nats.task_queue import _scan

        now = utcnow()
        count = 0
        async with unavailable_as_storage_error(self.conn.where):
            for key, value in await _scan(self.kv, ">"):
                with contextlib.suppress(Exception):
                    if loads_record(value, TaskResult).is_expired(now):
                        await self.kv.purge(key)
                        count += 1
        return count


def _valid(task_id: str) -> bool:
    from omniq import names

    try:
        names.validate_task_id(task_id)
    except Exception:
        return False
    return True
