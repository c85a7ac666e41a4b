"""What the NATS queue writes: one message per enqueue (no KV record until a claim), and
deletion markers that remove themselves, so the state bucket does not grow with every task
ever run."""

from __future__ import annotations

import asyncio
from typing import Any

import omniq
import orjson
from omniq.models.task import Task
from omniq.storage import Role
from omniq_nats.task_queue import NATSTaskQueue, _scan


async def _queue(nats_server: Any, prefix: str) -> tuple[Any, NATSTaskQueue]:
    backend = omniq.load_backend(nats_server.url, prefix=prefix)
    queue = backend.storage(Role.TASK_QUEUE)
    assert isinstance(queue, NATSTaskQueue)
    await queue.connect()
    return backend, queue


async def test_an_enqueue_writes_only_its_ticket(nats_server: Any, nats_prefix: str) -> None:
    backend, queue = await _queue(nats_server, nats_prefix)
    try:
        tasks = [Task(func="m:f", payload=b"x", queue="layout") for _ in range(5)]
        assert await queue.enqueue_many(tasks) == 5
        records = await _scan(queue.kv, "t.>", revisions=True)
        assert records == []  # no state record before a claim
        info = await queue.conn.js.stream_info(queue.names.task_stream)
        assert info.state.messages == 5
        assert await queue.enqueue_many(tasks) == 0  # the stream refuses ids it holds
        assert (await queue.conn.js.stream_info(queue.names.task_stream)).state.messages == 5
    finally:
        await backend.close()


async def test_finished_tasks_leave_no_lasting_markers(nats_server: Any, nats_prefix: str) -> None:
    backend, queue = await _queue(nats_server, nats_prefix)
    try:
        tasks = [Task(func="m:f", payload=b"x", queue="layout") for _ in range(3)]
        await queue.enqueue_many(tasks)
        claimed = await queue.claim(["layout"], limit=3, lease_seconds=30, worker_id="w")
        assert len(claimed) == 3
        assert await queue.ack([c.lease for c in claimed]) == [True] * 3
        request = orjson.dumps({"last_by_subj": queue.names.kv_subject(f"t.{tasks[0].id}")})
        marker = await queue.conn.nc.request(
            f"$JS.API.DIRECT.GET.KV_{queue.names.state_bucket}", request, timeout=5
        )
        headers = marker.headers or {}
        assert headers.get("KV-Operation") == "DEL" and headers.get("Nats-TTL")
        for _ in range(60):  # the lease index's purge markers go within about a second
            if await _scan(queue.kv, "l.>", revisions=True) == []:
                break
            await asyncio.sleep(0.1)
        assert await _scan(queue.kv, "l.>", revisions=True) == []
    finally:
        await backend.close()
