"""How fast the dashboard answers over a big SQLite store: ``python bench/dashboard.py``.

Fills a SQLite database with 100,000 tasks (90,000 pending in five queues, a tenth of them
delayed; 9,800 dead letters; 200 active) and 1,000,000 events over the last 24 hours (task
lifecycles, the registry's heartbeats of four workers), then serves the dashboard with uvicorn
on 127.0.0.1 and times every page and API endpoint with an HTTP client: the median and the
slowest of ``--runs`` requests each, after one warm-up, and the median CPU time the process
(server and client: one process) spent per request, which a busy machine inflates less.
Issue 16's target: every page under 300 ms. Writes ``bench/results/dashboard.json``;
``--keep PATH`` reuses (or keeps) the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import omniq
import uvicorn
from omniq import AsyncOmniQ
from omniq.dashboard.app import create_app
from omniq.models import Task
from omniq.models.event import EventType, TaskEvent
from omniq.runtime.presence import presence_id

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "dashboard.json"
QUEUES = ["default", "emails", "reports", "thumbnails", "webhooks"]
FUNCS = ["shop.tasks:send_invoice", "shop.tasks:resize", "shop.tasks:charge", "shop.tasks:sync"]
TASKS = 100_000
EVENTS = 1_000_000
TARGET_MS = 300.0


async def fill(path: str) -> dict[str, Any]:
    """The store: tasks through the queue's own bulk enqueue, claims and dead letters through
    the contract, events through the event storage's append_many."""
    backend = omniq.load_backend("sqlite", database_path=path)
    queue, events = backend.task_queue(), backend.event_storage()
    await queue.connect()
    await events.connect()
    rng = random.Random(16)
    now = datetime.now(UTC)
    started = time.perf_counter()
    tasks = []
    for i in range(TASKS):
        delayed = i % 10 == 0
        tasks.append(
            Task(
                func=FUNCS[i % len(FUNCS)],
                payload=b'[[%d,"user%d@example.com"],{"api_key":"sk-%d"}]' % (i, i, i),
                queue=QUEUES[i % len(QUEUES)],
                priority=rng.choice((0, 0, 0, 5)),
                enqueued_at=now - timedelta(seconds=rng.uniform(0, 86_400)),
                eta=now + timedelta(hours=2) if delayed else now - timedelta(seconds=1),
            )
        )
    for offset in range(0, TASKS, 5000):
        await queue.enqueue_many(tasks[offset : offset + 5000])
    # 10,000 claimed: 9,800 go to the dead letters, 200 stay active
    claimed = []
    for name in QUEUES:
        claimed += await queue.claim([name], limit=2000, lease_seconds=3600, worker_id="bench-w1")
    for item in claimed[:9800]:
        await queue.dead_letter(item.lease, reason="ValueError: bench")
    enqueued = time.perf_counter() - started
    started = time.perf_counter()
    # lifecycles: enqueued, started, completed; one in 20 fails once and is retried first
    success = (EventType.ENQUEUED, EventType.STARTED, EventType.COMPLETED)
    retried = (EventType.ENQUEUED, EventType.STARTED, EventType.FAILED, EventType.RETRYING,
               EventType.STARTED, EventType.COMPLETED)
    lifecycles = int((EVENTS - 960) / (0.95 * 3 + 0.05 * 6))
    batch: list[TaskEvent] = []
    written = 0
    for number in range(lifecycles):
        moment = now - timedelta(seconds=86_400 * (1 - number / lifecycles))
        func = FUNCS[number % len(FUNCS)]
        for step, kind in enumerate(retried if rng.random() < 0.05 else success):
            if written + len(batch) >= EVENTS - 960:
                break
            batch.append(
                TaskEvent(
                    event_type=kind,
                    task_id=f"e{number:08d}",
                    queue=QUEUES[number % len(QUEUES)],
                    timestamp=moment + timedelta(milliseconds=step),
                    worker_id=None if kind is EventType.ENQUEUED else "bench-w1",
                    attempt=None if kind is EventType.ENQUEUED else 1,
                    details={"func": func, "duration": 0.01}
                    if kind in (EventType.COMPLETED, EventType.FAILED)
                    else {"func": func},
                )
            )
            if len(batch) == 10_000:
                await events.append_many(batch)
                written += len(batch)
                batch = []
    for worker in range(4):  # the registry: a heartbeat every 15 s over the last hour
        for beat in range(240):
            worker_id = f"web-{worker}.example.org-{4000 + worker}-BENCH"
            batch.append(
                TaskEvent(
                    event_type=EventType.WORKER_HEARTBEAT,
                    task_id=presence_id(worker_id),
                    worker_id=worker_id,
                    timestamp=now - timedelta(seconds=15 * (240 - beat)),
                    details={
                        "host": f"web-{worker}.example.org",
                        "pid": 4000 + worker,
                        "queues": QUEUES,
                        "concurrency": 16,
                        "worker_type": "async",
                        "heartbeat_interval": 15.0,
                        "processed": beat * 100,
                        "running": 3,
                    },
                )
            )
    await events.append_many(batch)
    written += len(batch)
    await queue.close()
    await events.close()
    await backend.close()
    return {
        "tasks": TASKS,
        "events": written,
        "dead": 9800,
        "active": len(claimed) - 9800,
        "fill_tasks_s": round(enqueued, 1),
        "fill_events_s": round(time.perf_counter() - started, 1),
        "sample_task": claimed[0].task.id,
        "sample_event_task": f"e{lifecycles - 2000:08d}",
    }


def pages(sample_task: str, sample_event_task: str) -> list[str]:
    return [
        "/queues",
        "/tasks",
        "/tasks?queue=emails&state=pending",
        "/tasks?queue=emails&state=pending&page=100",
        "/tasks?state=active",
        "/tasks?state=dead",
        "/tasks?state=completed",
        "/tasks?state=failed&queue=reports",
        "/tasks?state=completed&func=shop.tasks:charge",
        f"/tasks/{sample_task}",
        f"/tasks/{sample_event_task}",
        "/dead",
        "/schedules",
        "/workers",
        "/metrics",
        "/api/queues",
        "/api/throughput",
        "/api/tasks?state=completed",
        "/api/workers",
    ]


async def measure(path: str, filled: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    oq = AsyncOmniQ(backend=omniq.load_backend("sqlite", database_path=path), workers=0)
    app = create_app(oq)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    rows = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for page in pages(filled["sample_task"], filled["sample_event_task"]):
            first = await client.get(page)
            first.raise_for_status()
            times, cpu = [], []
            for _ in range(runs):
                started, used = time.perf_counter(), time.process_time()
                response = await client.get(page)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - used) * 1000)
                response.raise_for_status()
            rows.append(
                {
                    "page": page,
                    "median_ms": round(statistics.median(times), 1),
                    "max_ms": round(max(times), 1),
                    "cpu_ms": round(statistics.median(cpu), 1),
                    "bytes": len(first.content),
                }
            )
            row = rows[-1]
            print(
                f"{page:50} {row['median_ms']:7.1f} ms (max {row['max_ms']:7.1f}, "
                f"CPU {row['cpu_ms']:6.1f})"
            )
    server.should_exit = True
    await serving
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", help="database path to reuse or keep")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="omniq-dashboard-bench-")
    path = args.keep or str(Path(folder) / "omniq.db")
    info_path = Path(path + ".bench.json")
    if args.keep and info_path.exists():  # noqa: ASYNC240 (a script, before any serving)
        filled = json.loads(info_path.read_text())  # noqa: ASYNC240
    else:
        filled = await fill(path)
        info_path.write_text(json.dumps(filled))  # noqa: ASYNC240
    print(
        f"store: {filled['tasks']:,} tasks, {filled['events']:,} events "
        f"(filled in {filled['fill_tasks_s']} + {filled['fill_events_s']} s)"
    )
    rows = await measure(path, filled, args.runs)
    slowest = max(rows, key=lambda r: r["median_ms"])
    print(f"slowest median: {slowest['page']} {slowest['median_ms']} ms (target {TARGET_MS} ms)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {platform.python_version()}",
                "store": {k: v for k, v in filled.items() if not k.startswith("sample")},
                "runs": args.runs,
                "load_average": [round(x, 1) for x in os.getloadavg()],
                "target_ms": TARGET_MS,
                "pages": rows,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
