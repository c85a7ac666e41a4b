"""The pipelined completion path: taken when the app's results and events are this backend's
(the conformance suite's fenced-completion tests then prove it), and a result stored by this
process handed to its waits without reading it back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq.models.result import ResultStatus, TaskResult
from omniq.runtime.completion import Finisher
from omniq.runtime.events_sink import EventSink
from omniq.storage import Role
from omniq_nats.results import NATSResultStorage
from omniq_nats.task_queue import NATSTaskQueue


async def test_the_backends_own_storages_complete_pipelined(
    nats_server: Any, nats_prefix: str, tmp_path: Path
) -> None:
    backend = omniq.load_backend(nats_server.url, prefix=nats_prefix)
    other = omniq.load_backend("sqlite", database_path=str(tmp_path / "r.db"))
    try:
        queue = backend.storage(Role.TASK_QUEUE)
        events = backend.storage(Role.EVENT_STORAGE)
        assert isinstance(queue, NATSTaskQueue)
        sink = EventSink(events)
        own = Finisher(queue, backend.storage(Role.RESULT_STORAGE), sink, lease_seconds=30)
        assert own.atomic is queue
        mixed = Finisher(queue, other.storage(Role.RESULT_STORAGE), sink, lease_seconds=30)
        assert mixed.atomic is None  # results elsewhere: the step-by-step path
    finally:
        await backend.close()
        await other.close()


async def test_a_wait_is_handed_a_result_stored_here(
    nats_server: Any, nats_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = omniq.load_backend(nats_server.url, prefix=nats_prefix)
    try:
        results = backend.storage(Role.RESULT_STORAGE)
        assert isinstance(results, NATSResultStorage)
        await results.connect()
        reads = 0
        get = results.get

        async def counted(task_id: str) -> TaskResult | None:
            nonlocal reads
            reads += 1
            return await get(task_id)

        monkeypatch.setattr(results, "get", counted)
        result = TaskResult(task_id="handed", status=ResultStatus.SUCCESS, payload=b"1")
        waiting = asyncio.ensure_future(results.wait("handed", 10))
        await asyncio.sleep(0.2)  # subscribed, the first read done: nothing yet
        assert reads == 1
        assert await results.store_many([result]) == [True]
        got = await asyncio.wait_for(waiting, 5)
        assert got is not None and got.payload == b"1"
        assert reads == 1  # handed over, not read back
        assert results._storing == {}
    finally:
        await backend.close()
