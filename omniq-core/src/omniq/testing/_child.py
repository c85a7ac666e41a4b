"""A child process of the multi-process conformance tests: ``python -m omniq.testing._child``.

It opens the backend under test from a JSON job (name, options, what to do), says ``ready``,
waits for the parent's go (a line on stdin), so every child starts racing at once, does its
part and prints one JSON line of what it did.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from omniq.models.result import ResultStatus, TaskResult
from omniq.models.task import Task
from omniq.plugins.manager import load_backend
from omniq.storage import Role

__all__ = ["main"]


async def _claim(storage: Any, job: dict[str, Any]) -> Any:
    """Claim (and ack) until the queue stays empty; the ids this process won."""
    won: list[str] = []
    empty = 0
    while empty < 3:
        batch = await storage.claim([job["queue"]], limit=3, lease_seconds=60, worker_id="child")
        empty = 0 if batch else empty + 1
        won.extend(c.task.id for c in batch)
        assert all(await storage.ack([c.lease for c in batch]))
    return won


async def _tick(storage: Any, job: dict[str, Any]) -> Any:
    """Race for every tick of the schedule in turn; the ticks this process fired."""
    start = datetime.fromisoformat(job["start"])
    fired: list[int] = []
    for n in range(job["ticks"]):
        tick, following = start + timedelta(seconds=n), start + timedelta(seconds=n + 1)
        while True:
            if await storage.claim_tick(job["schedule"], tick, following):
                fired.append(n)
                break
            stored = await storage.get(job["schedule"])
            if stored.next_fire_at is None or stored.next_fire_at > tick:
                break  # another process fired it
    return fired


async def _results(storage: Any, job: dict[str, Any]) -> Any:
    """Store this process's deliveries of every task id; how many stores were accepted."""
    accepted = 0
    for delivery in job["deliveries"]:
        for task_id in job["task_ids"]:
            result = TaskResult(
                task_id=task_id, status=ResultStatus.SUCCESS, payload=str(delivery).encode(),
                delivery=delivery,
            )  # fmt: skip
            accepted += await storage.store(result)
    return accepted


async def _enqueue(storage: Any, job: dict[str, Any]) -> Any:
    await asyncio.sleep(job.get("delay", 0.0))
    return await storage.enqueue(Task(func="m:f", id=job["task_id"], queue=job["queue"]))


async def _store_result(storage: Any, job: dict[str, Any]) -> Any:
    await asyncio.sleep(job.get("delay", 0.0))
    return await storage.store(
        TaskResult(task_id=job["task_id"], status=ResultStatus.SUCCESS, payload=b"pushed")
    )


_JOBS = {
    "claim": (Role.TASK_QUEUE, _claim),
    "tick": (Role.SCHEDULE_STORAGE, _tick),
    "results": (Role.RESULT_STORAGE, _results),
    "enqueue": (Role.TASK_QUEUE, _enqueue),
    "store_result": (Role.RESULT_STORAGE, _store_result),
}


async def _run(job: dict[str, Any]) -> Any:
    role, work = _JOBS[job["do"]]
    backend = load_backend(job["backend"], job["options"])
    try:
        storage = backend.storage(role)
        await storage.connect()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        return await work(storage, job)
    finally:
        await backend.close()


def main() -> None:
    job = json.loads(sys.argv[1])
    outcome = asyncio.run(_run(job))
    print(json.dumps({"at": datetime.now(UTC).timestamp(), "outcome": outcome}), flush=True)


if __name__ == "__main__":
    main()
