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
            if await _scan(queue.kv, ["w.>", "l.>"], revisions=True) == []:
                break
            await asyncio.sleep(0.1)
        assert await _scan(queue.kv, ["w.>", "l.>"], revisions=True) == []
    finally:
        await backend.close()


async def test_a_claim_batch_writes_one_lease_index_entry(
    nats_server: Any, nats_prefix: str
) -> None:
    """The lease index lists a claim batch in one entry (not one per task), written again
    by ``extend``, purged when the batch's last task is finished."""
    backend, queue = await _queue(nats_server, nats_prefix)
    try:
        await queue.enqueue_many([Task(func="m:f", payload=b"x", queue="idx") for _ in range(4)])
        claimed = await queue.claim(["idx"], limit=4, lease_seconds=30, worker_id="w")
        ((key, value),) = await _scan(queue.kv, ["w.>", "l.>"])
        assert key.startswith("w.")
        listed = {(i, token) for i, _expires, token in orjson.loads(value)}
        assert listed == {(c.task.id, c.lease.token) for c in claimed}
        (renewed,) = await queue.extend([claimed[0].lease], 60)
        assert renewed is not None
        ((_, value),) = await _scan(queue.kv, ["w.>", "l.>"])
        expiry = {i: expires for i, expires, _token in orjson.loads(value)}
        assert abs(expiry[claimed[0].task.id] - renewed.expires_at.timestamp()) < 1e-3
        assert expiry[claimed[0].task.id] > claimed[0].lease.expires_at.timestamp() + 20
        assert await queue.ack([c.lease for c in claimed[:3]]) == [True] * 3
        assert len(await _scan(queue.kv, ["w.>", "l.>"])) == 1  # one lease still held
        assert await queue.ack([claimed[3].lease]) == [True]
        assert await _scan(queue.kv, ["w.>", "l.>"]) == []
    finally:
        await backend.close()


async def test_an_earlier_versions_lease_index_entry_is_recovered(
    nats_server: Any, nats_prefix: str
) -> None:
    """An entry ``l.<id>`` = ``[expires, token]`` (one per claim, written by earlier versions)
    is still read: its expired lease is recovered, and the entry purged."""
    backend, queue = await _queue(nats_server, nats_prefix)
    try:
        await queue.enqueue(Task(func="m:f", payload=b"x", queue="old"))
        (claimed,) = await queue.claim(["old"], limit=1, lease_seconds=0.2, worker_id="w")
        ((key, _),) = await _scan(queue.kv, ["w.>"])
        await queue.kv.purge(key)  # as if an earlier version had claimed it
        expires = claimed.lease.expires_at.timestamp()
        await queue.kv.put(f"l.{claimed.task.id}", orjson.dumps([expires, claimed.lease.token]))
        queue._held.clear()  # that process is gone
        await asyncio.sleep(0.4)
        (recovered,) = await queue.recover_expired()
        assert recovered.task_id == claimed.task.id
        info = await queue.get(claimed.task.id)
        assert info is not None and info.state.value == "pending"
        for _ in range(60):
            if await _scan(queue.kv, ["l.>"]) == []:
                break
            await asyncio.sleep(0.1)
        assert await _scan(queue.kv, ["l.>"]) == []
    finally:
        await backend.close()
