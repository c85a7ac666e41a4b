"""Conformance tests of the result storage contract (:class:`omniq.storage.ResultStorage`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from omniq.ids import new_id
from omniq.models.result import ResultStatus, TaskError, TaskResult
from omniq.storage import Capability, ResultStorage, Role, SyncResultReader
from omniq.testing._base import ConformanceBase, StorageOpener
from omniq.testing._records import ODD_BYTES, soon

__all__ = ["ResultStorageConformance"]

TTL = 0.3
PAST_TTL = 0.6
PUSH_WAIT = 10.0
PUSH_DEADLINE = 3.0


def make_result(**changes: object) -> TaskResult:
    fields: dict[str, object] = {
        "task_id": new_id(),
        "status": ResultStatus.SUCCESS,
        "payload": b'{"answer": 42}',
        "attempt": 2,
        "worker_id": "w-1",
        "delivery": 3,
        "expires_at": soon(3600),
    }
    fields.update(changes)
    return TaskResult(**fields)  # type: ignore[arg-type]


class ResultStorageConformance(ConformanceBase):
    """The result storage contract: store, get, wait, delete and TTL."""

    @pytest_asyncio.fixture
    async def result_storage(self, opener: StorageOpener) -> AsyncIterator[ResultStorage]:
        yield await opener.result_storage()

    @pytest.mark.asyncio
    async def test_result_store_then_get_round_trips(self, result_storage: ResultStorage) -> None:
        success = make_result(payload=ODD_BYTES, serializer="msgpack")
        failure = make_result(
            status=ResultStatus.FAILURE,
            payload=None,
            expires_at=None,
            error=TaskError(type="builtins.ValueError", message="bad ünï", traceback="Trace..."),
        )
        await result_storage.store(success)
        await result_storage.store(failure)
        assert await result_storage.get(success.task_id) == success
        assert await result_storage.get(failure.task_id) == failure
        assert await result_storage.get(new_id()) is None

    @pytest.mark.asyncio
    async def test_result_store_replaces(self, result_storage: ResultStorage) -> None:
        first = make_result(status=ResultStatus.FAILURE, payload=None)
        second = make_result(task_id=first.task_id, payload=b"2")
        assert await result_storage.store(first) is True
        assert await result_storage.store(second) is True  # the same delivery writes again
        assert await result_storage.get(first.task_id) == second
        newer = make_result(task_id=first.task_id, payload=b"3", delivery=4)
        assert await result_storage.store(newer) is True
        assert await result_storage.get(first.task_id) == newer

    @pytest.mark.asyncio
    async def test_result_of_an_older_delivery_is_refused(
        self, result_storage: ResultStorage
    ) -> None:
        """Fencing: a worker paused past its lease cannot replace the newer delivery's result."""
        newer = make_result(delivery=5, worker_id="w-new")
        assert await result_storage.store(newer) is True
        stale = make_result(task_id=newer.task_id, delivery=4, worker_id="w-stale", payload=b"0")
        assert await result_storage.store(stale) is False
        assert await result_storage.store_many([stale]) == [False]
        assert await result_storage.get(newer.task_id) == newer

    @pytest.mark.asyncio
    async def test_result_store_many(self, result_storage: ResultStorage) -> None:
        results = [make_result(payload=str(i).encode()) for i in range(50)]
        assert await result_storage.store_many(results) == [True] * 50
        assert [await result_storage.get(r.task_id) for r in results] == results
        held = make_result(delivery=9)
        await result_storage.store(held)
        stale = make_result(task_id=held.task_id, delivery=1)
        fresh = make_result()
        assert await result_storage.store_many([stale, fresh]) == [False, True]
        assert await result_storage.get(held.task_id) == held
        assert await result_storage.get(fresh.task_id) == fresh

    @pytest.mark.asyncio
    async def test_result_concurrent_writers_keep_the_highest_delivery(
        self, result_storage: ResultStorage
    ) -> None:
        task_id = new_id()
        writes = [
            make_result(task_id=task_id, delivery=d, payload=str(d).encode())
            for d in (3, 7, 1, 6, 2, 5, 4)
        ]
        await asyncio.gather(*(result_storage.store(w) for w in writes))
        stored = await result_storage.get(task_id)
        assert stored is not None and stored.delivery == 7 and stored.payload == b"7"

    @pytest.mark.asyncio
    async def test_result_delete(self, result_storage: ResultStorage) -> None:
        result = make_result()
        await result_storage.store(result)
        assert await result_storage.delete(result.task_id) is True
        assert await result_storage.get(result.task_id) is None
        assert await result_storage.delete(result.task_id) is False

    @pytest.mark.asyncio
    async def test_result_expires_after_its_ttl(self, result_storage: ResultStorage) -> None:
        short, kept = make_result(expires_at=soon(TTL)), make_result(expires_at=None)
        await result_storage.store_many([short, kept])
        assert await result_storage.get(short.task_id) == short
        await asyncio.sleep(PAST_TTL)
        assert await result_storage.get(short.task_id) is None
        assert await result_storage.purge_expired() >= 0
        assert await result_storage.get(short.task_id) is None
        assert await result_storage.get(kept.task_id) == kept

    @pytest.mark.asyncio
    async def test_result_already_expired_is_never_returned(
        self, result_storage: ResultStorage
    ) -> None:
        result = make_result(expires_at=soon(-1))
        await result_storage.store(result)
        assert await result_storage.get(result.task_id) is None
        assert await result_storage.wait(result.task_id, 0.1) is None

    @pytest.mark.asyncio
    async def test_result_wait_gets_a_result_stored_later(
        self, result_storage: ResultStorage
    ) -> None:
        result = make_result()
        waiting = asyncio.create_task(result_storage.wait(result.task_id, PUSH_WAIT))
        await asyncio.sleep(0.1)
        await result_storage.store(result)
        assert await asyncio.wait_for(waiting, PUSH_WAIT) == result
        assert await result_storage.wait(result.task_id, 0.0) == result

    @pytest.mark.asyncio
    async def test_result_wait_times_out_with_none(self, result_storage: ResultStorage) -> None:
        assert await result_storage.wait(new_id(), 0.1) is None

    @pytest.mark.asyncio
    async def test_result_wait_is_woken_by_store(
        self, opener: StorageOpener, result_storage: ResultStorage
    ) -> None:
        self.require(opener, Role.RESULT_STORAGE, Capability.PUSH_WAKEUP)
        result = make_result()
        waiting = asyncio.create_task(result_storage.wait(result.task_id, PUSH_WAIT))
        await asyncio.sleep(0.1)
        await result_storage.store(result)
        assert await asyncio.wait_for(waiting, PUSH_DEADLINE) == result

    @pytest.mark.asyncio
    async def test_result_sync_reader_works_from_other_threads(
        self, opener: StorageOpener, result_storage: ResultStorage
    ) -> None:
        self.require(opener, Role.RESULT_STORAGE, Capability.SYNC_PRODUCER)
        assert isinstance(result_storage, SyncResultReader)
        reader: SyncResultReader = result_storage
        result = make_result()
        await result_storage.store(result)
        seen: list[TaskResult | None] = []
        thread = threading.Thread(
            target=lambda: seen.extend([reader.get_sync(result.task_id), reader.get_sync("x")])
        )
        thread.start()
        await asyncio.to_thread(thread.join)
        assert seen == [result, None]

    @pytest.mark.asyncio
    async def test_result_survives_close_and_reopen(self, opener: StorageOpener) -> None:
        first = await opener.result_storage(fresh=True)
        self.require(opener, Role.RESULT_STORAGE, Capability.PERSISTENT)
        result = make_result()
        await first.store(result)
        await opener.close_backend(first)
        second = await opener.result_storage(fresh=True)
        assert await second.get(result.task_id) == result
