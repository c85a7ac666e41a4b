"""Quick figures for the file backend on a local directory, storage level and end to end.

    .venv/bin/python bench/file_storage.py [--n 5000] [--samples 200]

Prints tasks/s for enqueue one at a time (sync producer path and async), claim+ack in batches,
and the p50/p99 latency of enqueue -> result with an idle worker in the same process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import omniq
from omniq import AsyncOmniQ
from omniq.models import Task
from omniq.runtime.codec import encode_call
from tasks import noop


def _tasks(n: int) -> list[Task]:
    return [Task(func="tasks:noop", payload=encode_call("json", (i,), {})) for i in range(n)]


async def storage_figures(base: Path, n: int) -> dict[str, float]:
    backend = omniq.load_backend("file", base_dir=str(base))
    queue = backend.task_queue()
    await queue.connect()
    try:
        tasks = _tasks(n)
        start = time.perf_counter()
        for task in tasks[: n // 2]:
            queue.enqueue_sync(task)  # type: ignore[attr-defined]
        sync_s = time.perf_counter() - start
        start = time.perf_counter()
        for task in tasks[n // 2 :]:
            await queue.enqueue(task)
        async_s = time.perf_counter() - start
        start = time.perf_counter()
        done = 0
        while True:
            claimed = await queue.claim(["default"], limit=100, lease_seconds=60, worker_id="bench")
            if not claimed:
                break
            await queue.ack([c.lease for c in claimed])
            done += len(claimed)
        claim_s = time.perf_counter() - start
    finally:
        await backend.close()
    assert done == n, (done, n)
    return {
        "enqueue_sync_per_s": round(n / 2 / sync_s),
        "enqueue_async_per_s": round(n / 2 / async_s),
        "claim_ack_per_s": round(n / claim_s),
    }


async def latency(base: Path, samples: int) -> dict[str, float]:
    backend = omniq.load_backend("file", base_dir=str(base))
    timings = []
    async with AsyncOmniQ(backend=backend, workers=4, scheduler=False) as oq:
        for _ in range(10):
            await oq.get_result(await oq.enqueue(noop, 0), timeout=30)
        for i in range(samples):
            start = time.perf_counter()
            await oq.get_result(await oq.enqueue(noop, i), timeout=30)
            timings.append(time.perf_counter() - start)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings) * 1000, 3),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures: dict[str, Any] = asyncio.run(storage_figures(Path(tmp) / "s", args.n))
        (Path(tmp) / "l").mkdir()
        figures |= asyncio.run(latency(Path(tmp) / "l", args.samples))
    for key, value in figures.items():
        print(f"{key:22} {value}")


if __name__ == "__main__":
    main()
