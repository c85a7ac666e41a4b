"""OmniQ benchmarks: ``python bench/run.py --backend memory [--backend sqlite ...]``.

For each backend: enqueue one at a time (sync and async API; the sync API both through the
storage's synchronous producer and through the event-loop thread), bulk enqueue, the storage's own
enqueue without the runtime (what the runtime adds is the difference), end-to-end processing of
no-op tasks by one worker in this process, and enqueue-to-done latency (p50/p99) with an idle
worker. Results go to ``bench/results/<backend>.json``; ``docs/benchmarks.md`` is regenerated from
every results file. Figures are wall-clock on a shared machine: compare them within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
sys.path.insert(0, str(ROOT / "bench"))

from nullstore import null_storages  # noqa: E402
from omniq import AsyncOmniQ, OmniQ  # noqa: E402
from omniq.models import Task  # noqa: E402
from omniq.runtime.async_app import ENQUEUE_BATCH, outbox_batches  # noqa: E402
from omniq.runtime.codec import encode_call  # noqa: E402
from omniq.storage import EventOutbox  # noqa: E402
from raw_round_trips import postgres_task_round_trip, redis_task_round_trip  # noqa: E402
from tasks import anoop, noop  # noqa: E402  (bench/tasks.py: importable task functions)

NULL = "null"
"""Not a backend: storages that drop everything, to measure the runtime's own overhead."""

# -- backends --------------------------------------------------------------------------------------


VARIANTS = {"sqlite-full": ("sqlite", {"synchronous": "FULL"})}
"""Bench names that run a backend with other options: ``--backend sqlite-full``."""


KIT = {"kit-memory": "example", "kit-json": "example-json"}
"""Bench names of the backends built on ``omniq.kit`` (examples/omniq-example-backend)."""


def base_backend(name: str) -> str:
    """The backend a bench name runs: itself, or the one a variant is of."""
    if name in KIT:
        return KIT[name]
    return VARIANTS[name][0] if name in VARIANTS else name


def backend_options(name: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    if name in VARIANTS:
        base, extra = VARIANTS[name]
        return {**backend_options(base, workdir, args), **extra}
    if name == "kit-json":
        return {"path": str(workdir / "kit")}
    if name == "sqlite":
        return {"database_path": str(workdir / "bench.db")}
    if name == "file":
        return {"base_dir": str(workdir / "files")}
    if name == "redis":  # a key prefix of its own per measurement: nothing left from the last
        return {"url": args.redis_url, "key_prefix": f"bench{workdir.name}"}
    if name == "postgres":
        return postgres_options(workdir, args)
    if name == "nats":  # streams and buckets of its own per measurement
        return {"url": args.nats_url, "prefix": f"bench{os.getpid()}n{workdir.name}"}
    return {}


def distribution_of(backend: str) -> str:
    if backend in KIT:
        return "omniq-example-backend"
    backend = base_backend(backend)
    return "omniq-core" if backend in ("memory", NULL) else f"omniq-{backend}"


def version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


class Fresh:
    """A new backend per measurement, on a fresh location."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name = name
        self.args = args
        self.count = 0
        self.tmp = Path(tempfile.mkdtemp(prefix=f"omniq-bench-{name}-"))

    def __call__(self) -> Any:
        self.count += 1
        workdir = self.tmp / str(self.count)
        workdir.mkdir()
        from omniq import load_backend

        options = backend_options(self.name, workdir, self.args)
        backend = load_backend(base_backend(self.name), **options)
        return backend

    def app(self) -> dict[str, Any]:
        """Keyword arguments giving an app fresh storages."""
        if self.name == NULL:
            return null_storages()
        return {"backend": self()}

    @property
    def processes(self) -> bool:
        """Whether tasks can be processed (the null storages drop them)."""
        return self.name != NULL


# -- measurements ----------------------------------------------------------------------------------


def median_run(runs: list[Any]) -> Any:
    """The run with the median figure (rate, or p50 latency), with every run's figure kept
    under ``runs``: this shared VM's speed drifts by a third within an hour (measured)."""
    if not runs or any(not isinstance(r, dict) or "error" in r for r in runs):
        return next((r for r in runs if isinstance(r, dict) and "error" in r), runs[0])
    key = "per_second" if "per_second" in runs[0] else "p50_ms"
    ordered = sorted(runs, key=lambda r: r[key])
    return {**ordered[len(ordered) // 2], "runs": [r[key] for r in runs]}


def rate(n: int, seconds: float) -> dict[str, Any]:
    return {"n": n, "seconds": round(seconds, 4), "per_second": round(n / seconds, 1)}


def bench_sync_enqueue(fresh: Fresh, n: int, *, hop: bool) -> dict[str, Any]:
    with OmniQ(workers=0, **fresh.app()) as oq:
        if hop:
            oq.async_app._producer = None  # force the hop through the loop thread
        used_producer = oq.async_app._producer is not None
        for i in range(min(n // 10, 1000)):  # warm up
            oq.enqueue(noop, i)
        start = time.perf_counter()
        for i in range(n):
            oq.enqueue(noop, i)
        oq.query_events(limit=1)  # stops the clock once every enqueued event is stored too
        seconds = time.perf_counter() - start
    return {**rate(n, seconds), "sync_producer": used_producer}


async def bench_async_enqueue(fresh: Fresh, n: int) -> dict[str, Any]:
    async with AsyncOmniQ(workers=0, **fresh.app()) as oq:
        for i in range(min(n // 10, 1000)):
            await oq.enqueue(noop, i)
        start = time.perf_counter()
        for i in range(n):
            await oq.enqueue(noop, i)
        await oq.query_events(limit=1)  # every enqueued event stored
        seconds = time.perf_counter() - start
    return rate(n, seconds)


async def bench_bulk_enqueue(fresh: Fresh, n: int, batch: int = 1000) -> dict[str, Any]:
    async with AsyncOmniQ(workers=0, **fresh.app()) as oq:
        start = time.perf_counter()
        for offset in range(0, n, batch):
            await oq.enqueue_many([(noop, (i,)) for i in range(offset, min(offset + batch, n))])
        await oq.query_events(limit=1)  # every enqueued event stored
        seconds = time.perf_counter() - start
    return {**rate(n, seconds), "batch": batch}


@contextlib.asynccontextmanager
async def raw_storages(fresh: Fresh) -> AsyncIterator[tuple[Any, Any]]:
    """A fresh task queue and event storage, connected, without an app around them."""
    kwargs = fresh.app()
    backend = kwargs.get("backend")
    queue = backend.task_queue() if backend is not None else kwargs["task_queue"]
    events = backend.event_storage() if backend is not None else kwargs["event_storage"]
    await queue.connect()
    await events.connect()
    try:
        yield queue, events
    finally:
        if backend is not None:
            await backend.close()


def prebuilt_tasks(n: int) -> list[Task]:
    return [Task(func="tasks:noop", payload=encode_call("json", (i,), {})) for i in range(n)]


async def bench_raw_enqueue(fresh: Fresh, n: int) -> dict[str, Any]:
    """The storage's enqueue with prebuilt tasks: no runtime, no events."""
    async with raw_storages(fresh) as (queue, _):
        tasks = prebuilt_tasks(n)
        start = time.perf_counter()
        for task in tasks:
            await queue.enqueue(task)
        seconds = time.perf_counter() - start
    return rate(n, seconds)


async def bench_raw_bulk(fresh: Fresh, n: int) -> dict[str, Any]:
    """The storages' part of *bulk*: prebuilt tasks and their ``enqueued`` events written in
    the app's batches (together when the queue is an event outbox for the event storage, else
    the tasks then the events), without the runtime."""
    async with raw_storages(fresh) as (queue, events):
        pairs = list(outbox_batches(prebuilt_tasks(n)))
        together = isinstance(queue, EventOutbox) and queue.shares_events_with(events)
        start = time.perf_counter()
        for tasks_batch, events_batch in pairs:
            if together:
                await queue.enqueue_with_events(tasks_batch, events_batch)
            else:
                await queue.enqueue_many(tasks_batch)
                await events.append_many(events_batch)
        seconds = time.perf_counter() - start
    return {**rate(n, seconds), "batch": ENQUEUE_BATCH, "outbox": together}


def bench_raw_client(name: str, fresh: Fresh, n: int) -> dict[str, Any] | None:
    """The backend's own client doing a comparable enqueue (one write per task), no OmniQ."""
    payload = encode_call("json", (0,), {})
    if name == "sqlite":
        import sqlite3

        fresh.count += 1
        path = fresh.tmp / f"raw{fresh.count}.db"  # a new file per run
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, queue TEXT, payload BLOB, eta REAL)")
        start = time.perf_counter()
        for i in range(n):
            db.execute(
                "INSERT INTO t VALUES (?, 'default', ?, ?)", (f"task-{i}", payload, time.time())
            )
        seconds = time.perf_counter() - start
        db.close()
        return {**rate(n, seconds), "client": f"sqlite3 {sqlite3.sqlite_version}, autocommit"}
    if name == "redis":
        return _raw_redis(fresh, n, payload)
    if name == "postgres":
        return _raw_postgres(fresh, n, payload)
    if name == "nats":
        from nats_raw import raw_nats

        return asyncio.run(raw_nats(fresh.args.nats_url, n))
    return None


def _raw_redis(fresh: Fresh, n: int, payload: bytes) -> dict[str, Any]:
    """redis-py (sync, as a producer uses it) on the server OmniQ uses, without OmniQ: the
    loops the Redis figures are held against (issue 12: one-at-a-time enqueue >= 90% of the
    one-command loop, processing >= the BRPOP loop, latency p50 <= 3 round trips)."""
    import redis

    client = redis.Redis.from_url(fresh.args.redis_url)
    client.ping()
    for _ in range(min(n // 10, 1000)):  # warm up
        client.ping()
    client.delete("raw:ready")
    start = time.perf_counter()
    for i in range(n):
        client.hset(f"raw:task:{i}", mapping={"queue": "default", "payload": payload})
        client.zadd("raw:ready", {f"task-{i}": i})
    seconds = time.perf_counter() - start
    keys = [f"raw:task:{i}" for i in range(n)]
    for offset in range(0, n, 1000):
        client.delete(*keys[offset : offset + 1000])
    client.delete("raw:ready")
    # one command per call, each timed: its rate and its p50 are "the raw round trip"
    timings = []
    start = time.perf_counter()
    for _ in range(n):
        began = time.perf_counter()
        client.lpush("raw:list", payload)
        timings.append(time.perf_counter() - began)
    one_command = rate(n, time.perf_counter() - start)
    # the consumer's loop: BRPOP one at a time from the list just filled
    start = time.perf_counter()
    for _ in range(n):
        client.brpop(["raw:list"], timeout=5)
    brpop = rate(n, time.perf_counter() - start)
    # a consumer that also stores each task's outcome: BRPOP, then one SET per task
    pipe = client.pipeline(transaction=False)
    for _ in range(n):
        pipe.lpush("raw:list", payload)
    pipe.execute()
    start = time.perf_counter()
    for i in range(n):
        client.brpop(["raw:list"], timeout=5)
        client.set(f"raw:result:{i}", payload)
    brpop_write = rate(n, time.perf_counter() - start)
    results = [f"raw:result:{i}" for i in range(n)]
    for offset in range(0, n, 1000):
        client.delete(*results[offset : offset + 1000])
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.lpush("raw:list", payload)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    pipelined = rate(n, time.perf_counter() - start)
    # the floor of any enqueue that is one atomic script: a script that does nothing, sent
    # with as many keys and arguments as OmniQ's one-task enqueue (5 keys, 15 arguments)
    empty = client.script_load("return 1")
    script_args = [*(f"raw:key:{k}" for k in range(5)), payload, *([b"0" * 24] * 14)]
    start = time.perf_counter()
    for _ in range(n):
        client.evalsha(empty, 5, *script_args)
    empty_script = rate(n, time.perf_counter() - start)
    client.delete("raw:list")
    client.close()
    return {
        **rate(n, seconds),
        "client": f"redis-py {redis.__version__}, HSET+ZADD",
        "one_command_per_second": one_command["per_second"],
        "round_trip_p50_ms": round(statistics.median(timings) * 1000, 3),
        "brpop_per_second": brpop["per_second"],
        "brpop_write_per_second": brpop_write["per_second"],
        "pipelined_lpush_per_second": pipelined["per_second"],
        "empty_script_per_second": empty_script["per_second"],
        "async_round_trips_per_second": asyncio.run(_raw_async_round_trips(fresh, n)),
        "task_round_trip_p50_ms": redis_task_round_trip(fresh.args.redis_url, max(50, n // 20))[
            "p50_ms"
        ],
    }


def bench_redis_interleaved(fresh: Fresh, n: int, rounds: int = 10) -> dict[str, Any]:
    """OmniQ's sync enqueue and raw redis-py's one-command loop in alternating chunks, so both
    see the same machine: this VM's speed drifts by more than the gap being measured."""
    import redis

    client = redis.Redis.from_url(fresh.args.redis_url)
    payload = encode_call("json", (0,), {})
    chunk = max(n // rounds, 1)
    raw_times: list[float] = []
    omniq_times: list[float] = []
    with OmniQ(workers=0, **fresh.app()) as oq:
        for i in range(min(chunk, 1000)):  # warm up both
            oq.enqueue(noop, i)
            client.lpush("raw:interleaved", payload)
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(chunk):
                client.lpush("raw:interleaved", payload)
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            for i in range(chunk):
                oq.enqueue(noop, i)
            omniq_times.append(time.perf_counter() - start)
        oq.query_events(limit=1)
    client.delete("raw:interleaved")
    client.close()
    ratios = sorted(r / o for r, o in zip(raw_times, omniq_times, strict=True))
    return {
        **rate(chunk * rounds, sum(omniq_times)),
        "raw_per_second": round(chunk * rounds / sum(raw_times), 1),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(ratios[0], 3),
        "ratio_max": round(ratios[-1], 3),
    }


def bench_nats_interleaved(fresh: Fresh, n: int) -> dict[str, Any]:
    """NATS enqueues and their raw nats-py loops in alternating chunks (bench/nats_raw.py)."""
    from nats_raw import nats_interleaved

    return nats_interleaved(fresh.app, fresh.args.nats_url, n)


async def _raw_async_round_trips(fresh: Fresh, n: int) -> float:
    """redis-py asyncio, one LPUSH awaited at a time: the bound for an async enqueue."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(fresh.args.redis_url)
    start = time.perf_counter()
    for i in range(n):
        await client.lpush("raw:async", i)
    seconds = time.perf_counter() - start
    await client.delete("raw:async")
    await client.aclose()
    return round(n / seconds, 1)


async def _until_done(oq: AsyncOmniQ, n: int, poll: float = 0.005) -> None:
    """Wait until the app's worker has finished ``n`` tasks and the queue is empty.

    The worker's own counter is watched (free to read), and the queue's sizes are asked only
    once it reaches ``n``: counting a deep SQLite queue scans an index, and polling it took
    11% of the database thread from the worker being measured."""
    worker = oq.worker
    assert worker is not None
    while True:
        if worker.processed >= n:
            sizes = await oq.queue_sizes()
            if all(s.pending == 0 and s.active == 0 for s in sizes.values()):
                return
        await asyncio.sleep(poll)


async def bench_process(
    fresh: Fresh, n: int, worker_type: str, concurrency: int, func: Callable[..., Any] = noop
) -> dict[str, Any]:
    backend = fresh()
    async with AsyncOmniQ(backend=backend, workers=0, own_backends=False) as producer:
        for offset in range(0, n, 1000):
            await producer.enqueue_many(
                [(func, (i,)) for i in range(offset, min(offset + 1000, n))]
            )
    start = time.perf_counter()
    async with AsyncOmniQ(
        backend=backend, workers=concurrency, worker_type=worker_type, scheduler=False
    ) as oq:
        await _until_done(oq, n)
        seconds = time.perf_counter() - start
    return {**rate(n, seconds), "worker_type": worker_type, "concurrency": concurrency}


async def bench_latency(fresh: Fresh, samples: int) -> dict[str, Any]:
    async with AsyncOmniQ(backend=fresh(), workers=4, scheduler=False) as oq:
        for _ in range(10):  # warm up
            await oq.get_result(await oq.enqueue(noop, 0), timeout=30)
        timings = []
        for i in range(samples):
            start = time.perf_counter()
            task_id = await oq.enqueue(noop, i)
            await oq.get_result(task_id, timeout=30)
            timings.append(time.perf_counter() - start)
    timings.sort()
    return {
        "samples": samples,
        "p50_ms": round(statistics.median(timings) * 1000, 3),
        "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000, 3),
        "max_ms": round(timings[-1] * 1000, 3),
    }


def run_backend(name: str, args: argparse.Namespace) -> dict[str, Any]:
    fresh = Fresh(name, args)
    scale = args.scale
    n_enqueue = int(100_000 * scale)
    results: dict[str, Any] = {}

    def step(label: str, fn: Callable[[], Any]) -> None:
        print(f"  {label} ...", end=" ", flush=True)
        runs = []
        for _ in range(args.repeat):
            # the disk writes the last run left in the page cache are flushed now, not during
            # this run's clock (they cost SQLite's bulk step a third of its rate)
            os.sync()
            try:
                outcome = fn()
                if isinstance(outcome, Awaitable):
                    outcome = asyncio.run(outcome)  # type: ignore[arg-type]
            except Exception as exc:  # keep the other figures
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
            runs.append(outcome)
        results[label] = median_run(runs)
        print(results[label])

    step("enqueue_sync", lambda: bench_sync_enqueue(fresh, n_enqueue, hop=False))
    if name in ("sqlite", "redis", "postgres", "nats"):  # beside the figure it is held against
        step("client_enqueue_raw", lambda: bench_raw_client(name, fresh, n_enqueue // 4))
    if name == "redis":
        step("enqueue_sync_interleaved", lambda: bench_redis_interleaved(fresh, n_enqueue // 2))
    if name == "nats":
        step("nats_interleaved", lambda: bench_nats_interleaved(fresh, n_enqueue // 2))
    if name == "postgres":
        step("enqueue_sync_interleaved", lambda: bench_postgres_interleaved(fresh, n_enqueue // 2))
    step("enqueue_sync_via_loop", lambda: bench_sync_enqueue(fresh, n_enqueue // 4, hop=True))
    step("enqueue_async", lambda: bench_async_enqueue(fresh, n_enqueue))
    step("enqueue_bulk", lambda: bench_bulk_enqueue(fresh, n_enqueue))
    step("storage_enqueue_raw", lambda: bench_raw_enqueue(fresh, n_enqueue))
    step("storage_bulk_raw", lambda: bench_raw_bulk(fresh, n_enqueue))
    if not fresh.processes:
        return finish(name, scale, results)
    step(
        "process_noop_async",
        lambda: bench_process(fresh, int(100_000 * scale), "async", args.concurrency),
    )
    step(
        "process_anoop_async",
        lambda: bench_process(fresh, int(100_000 * scale), "async", args.concurrency, anoop),
    )
    step(
        "process_noop_thread_pool",
        lambda: bench_process(fresh, int(20_000 * scale), "thread_pool", args.concurrency),
    )
    step("latency", lambda: bench_latency(fresh, max(50, int(1000 * scale))))
    return finish(name, scale, results)


def finish(name: str, scale: float, results: dict[str, Any]) -> dict[str, Any]:
    distribution = distribution_of(name)
    return {
        "backend": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": {
            "python": platform.python_version(),
            "omniq-core": version_of("omniq-core"),
            distribution: version_of(distribution),
        },
        "scale": scale,
        "results": results,
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
    }


# -- report ----------------------------------------------------------------------------------------


def _fmt(entry: Any, key: str = "per_second") -> str:
    if not isinstance(entry, dict):
        return "-"
    if "error" in entry:
        return "error"
    value = entry.get(key)
    return f"{value:,.0f}" if isinstance(value, int | float) else "-"


def write_doc() -> None:
    # one file per backend run; other benches (dashboard.json) keep their own files here
    loaded = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    runs = [run for run in loaded if "results" in run]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python bench/run.py --backend <name> ...` from `bench/results/*.json`;",
        "do not edit by hand. Each backend's figures come from one run on the machine named",
        "beside it; they are wall-clock rates on a possibly shared machine, so compare figures",
        "of one run with each other rather than across machines.",
        "",
        "- Each figure is the median of `--repeat` runs (3 unless said), each run after",
        "  `os.sync()`; the JSON files keep every run's figure.",
        "- Every enqueue figure stops the clock once the tasks' `enqueued` events are stored too",
        "  (the app writes events in the background; `query_events` waits for them).",
        "- **enqueue sync / async**: `oq.enqueue(noop, i)` one at a time, producer only",
        "  (`workers=0`). *sync* uses the storage's synchronous producer when it has one;",
        "  *sync via loop* forces the hop into the event-loop thread.",
        "- **bulk**: `enqueue_many` in batches of 1000.",
        "- **storage raw**: the storage's own `enqueue` with prebuilt tasks (no runtime, no",
        "  events): the difference to *enqueue async* is what the runtime adds.",
        "- **bulk storage raw**: the storages' part of *bulk*: prebuilt tasks and their",
        "  `enqueued` events written in batches of 1000 as the app writes them (in one",
        "  transaction where the queue is an event outbox), without the runtime. *bulk* costs",
        "  about the time of this plus the time of *null*'s bulk (the runtime alone).",
        "- **client raw**: the backend's own client doing one comparable write per task",
        "  (sqlite3 `INSERT` in autocommit; redis-py `HSET` + `ZADD`), without OmniQ, measured",
        "  right after *enqueue sync*. For Redis also redis-py's one-command loop (`LPUSH`, each",
        "  call timed for the round trip's p50), a one-at-a-time `BRPOP` loop, and a",
        "  consumer's loop (`BRPOP` then a `SET` of the outcome per task): the ratios below",
        "  the table hold OmniQ's figures against them.",
        "- **processed**: no-op tasks done per second by one in-process worker (queue filled",
        "  first, results and events stored): the async worker with a plain `def` no-op (run",
        "  in its thread pool) and with an `async def` no-op (run on the loop), and the",
        "  thread-pool worker.",
        "- **latency**: enqueue to result available, idle worker, p50/p99 in milliseconds.",
        "- **null** is not a backend: storages that drop what they get, so its row is the",
        "  runtime's own cost (validation, serialization, ids, records, events) per enqueue.",
        "",
        "| backend | enqueue sync | sync via loop | enqueue async | bulk | storage raw "
        "| bulk storage raw | client raw | processed async (def) | processed async (async def) "
        "| processed threads | latency p50 ms | latency p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for run in runs:
        r = run["results"]
        latency = r.get("latency", {})
        lines.append(
            f"| {run['backend']} | {_fmt(r.get('enqueue_sync'))} "
            f"| {_fmt(r.get('enqueue_sync_via_loop'))} | {_fmt(r.get('enqueue_async'))} "
            f"| {_fmt(r.get('enqueue_bulk'))} | {_fmt(r.get('storage_enqueue_raw'))} "
            f"| {_fmt(r.get('storage_bulk_raw'))} | {_fmt(r.get('client_enqueue_raw'))} "
            f"| {_fmt(r.get('process_noop_async'))} | {_fmt(r.get('process_anoop_async'))} "
            f"| {_fmt(r.get('process_noop_thread_pool'))} "
            f"| {latency.get('p50_ms', '-')} | {latency.get('p99_ms', '-')} |"
        )
    raw_redis = next(
        (r["results"].get("client_enqueue_raw") for r in runs if r["backend"] == "redis"), None
    )
    if isinstance(raw_redis, dict) and "pipelined_lpush_per_second" in raw_redis:
        lines += [
            "",
            "Raw redis-py on the same server: "
            f"{_fmt(raw_redis)} HSET+ZADD pairs/s one at a time (sync), "
            f"{raw_redis['pipelined_lpush_per_second']:,.0f} LPUSH/s pipelined in batches of "
            f"1000, {raw_redis['async_round_trips_per_second']:,.0f} LPUSH/s awaited one at a "
            "time with redis.asyncio (the bound for an async enqueue).",
        ]
    lines += postgres_doc_lines(runs)
    redis_run = next((r for r in runs if r["backend"] == "redis"), None)
    if redis_run is not None and "one_command_per_second" in (raw_redis or {}):
        lines += ["", *_redis_ratios(redis_run["results"])]
    lines += nats_doc_lines(runs)
    lines += ["", "## Runs", ""]
    for run in runs:
        m, v = run["machine"], run["versions"]
        versions = ", ".join(f"{k} {val}" for k, val in v.items())
        lines.append(
            f"- **{run['backend']}**: {run['when']}, {m['cpu']}, {m['cores']} cores, "
            f"{m['system']}; {versions}; scale {run['scale']}."
        )
        errors = {
            k: e["error"] for k, e in run["results"].items() if isinstance(e, dict) and "error" in e
        }
        for key, error in errors.items():
            lines.append(f"  - {key} failed: `{error}`")
    DOC.write_text("\n".join(lines) + "\n")


_PROCESSED = (
    ("processed async (def)", "process_noop_async"),
    ("processed async (async def)", "process_anoop_async"),
    ("processed threads", "process_noop_thread_pool"),
)


def nats_doc_lines(runs: list[dict[str, Any]]) -> list[str]:
    """The NATS run's ratios against raw nats-py (bench/nats_raw.py), if there is one."""
    from nats_raw import nats_ratios

    nats_run = next((r for r in runs if r["backend"] == "nats"), None)
    lines = nats_ratios(nats_run["results"]) if nats_run is not None else []
    return ["", *lines] if lines else []


TASK_ROUND_TRIP_TEXT = (
    "the raw client's own enqueue-to-done loop (`bench/raw_round_trips.py`): the producer "
    "writes a task, an idle consumer thread with its own connection takes it, stores an outcome "
    "and tells the producer, who waits for that word; the fewest commands a task's life takes "
    "with this client, so OmniQ's latency beside it is the cost OmniQ adds."
)


def _redis_ratios(results: dict[str, Any]) -> list[str]:
    """The Redis figures against raw redis-py's loops of the same run (issue 12's targets)."""
    raw = results["client_enqueue_raw"]
    one, brpop, trip = (
        raw["one_command_per_second"], raw["brpop_per_second"], raw["round_trip_p50_ms"]
    )  # fmt: skip

    def ratio(entry: Any, against: float, key: str = "per_second") -> str:
        if not isinstance(entry, dict) or key not in entry:
            return "-"
        return f"{entry[key] / against:.2f}"

    latency = results.get("latency", {})
    mixed = results.get("enqueue_sync_interleaved", {})
    written = raw.get("brpop_write_per_second")
    task_trip = raw.get("task_round_trip_p50_ms")
    empty = raw.get("empty_script_per_second")
    consumer = [
        f"| {label} | BRPOP + SET one at a time "
        f"| {ratio(results.get(key), written) if written else '-'} | >= 1.00 |"
        for label, key in _PROCESSED
    ]
    interleaved = (
        f"{mixed['ratio_median']:.2f} (chunks {mixed['ratio_min']:.2f}-{mixed['ratio_max']:.2f})"
        if "ratio_median" in mixed
        else "-"
    )
    return [
        "Redis against raw redis-py (sync, one call at a time) in the same run: "
        f"{one:,.0f} one-command calls/s (`LPUSH`; round trip p50 {trip} ms), "
        f"{brpop:,.0f} `BRPOP`/s alone, {raw.get('brpop_write_per_second', 0):,.0f}/s `BRPOP` "
        "then a `SET` of the task's outcome (a consumer's loop: what processing is held "
        "against; the `BRPOP` alone stores nothing). *Interleaved*: OmniQ's sync enqueue and "
        "the `LPUSH` loop in alternating chunks of one measurement, the median of the chunks' "
        "ratios. *An empty script*: redis-py calling a script that only returns, with the keys "
        "and arguments of OmniQ's one-task enqueue script: the floor of any enqueue that is "
        "one atomic script (the task, its queue entry and its `enqueued` event together). "
        f"*Raw task round trip* ({task_trip or '-'} ms p50): {TASK_ROUND_TRIP_TEXT}",
        "",
        "| redis figure | raw loop | ratio | target |",
        "| --- | --- | ---: | ---: |",
        f"| enqueue sync (separate steps) | one command per call "
        f"| {ratio(results.get('enqueue_sync'), one)} | >= 0.90 |",
        f"| enqueue sync, interleaved | one command per call | {interleaved} | >= 0.90 |",
        f"| enqueue async | one command per call | {ratio(results.get('enqueue_async'), one)} | |",
        *(
            f"| {label} | BRPOP one at a time | {ratio(results.get(key), brpop)} | >= 1.00 |"
            for label, key in _PROCESSED
        ),
        *consumer,
        f"| an empty script (`EVALSHA`, OmniQ's enqueue's arguments) | one command per call "
        f"| {ratio({'per_second': empty}, one) if empty else '-'} | |",
        f"| latency p50 | round trip p50 | {ratio(latency, trip, 'p50_ms')} | <= 3.00 |",
        f"| latency p50 | raw task round trip p50 "
        f"| {ratio(latency, task_trip, 'p50_ms') if task_trip else '-'} | |",
    ]


def start_nats(args: argparse.Namespace) -> Any:
    """A nats-server -js of the bench's own (file storage in a temp dir); sets ``--nats-url``."""
    from omniq_nats.testing import NATSServer

    server = NATSServer(Path(tempfile.mkdtemp(prefix="omniq-bench-nats-")))
    server.start()
    args.nats_url = server.url
    return server


# -- PostgreSQL ------------------------------------------------------------------------------------


def postgres_options(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """A schema of its own per measurement (nothing left from the last)."""
    return {"dsn": args.postgres_dsn, "schema": f"bench_{workdir.parent.name[-8:]}_{workdir.name}"}


def start_postgres(args: argparse.Namespace) -> Any:
    """A PostgreSQL cluster for this run (fsync on), unless ``--postgres-dsn`` names one."""
    if args.postgres_dsn is not None:
        return None
    from omniq_postgres.testing import PostgresServer

    server = PostgresServer()
    server.start()
    args.postgres_dsn = server.dsn()
    return server


_RAW_TABLE = (
    "CREATE TABLE {t} (id text PRIMARY KEY, queue text NOT NULL, payload bytea NOT NULL, "
    "ready_at timestamptz NOT NULL DEFAULT now())"
)


def _raw_postgres(fresh: Fresh, n: int, payload: bytes) -> dict[str, Any]:
    """psycopg (sync, autocommit, as a producer uses it) on the server OmniQ uses, without
    OmniQ: one INSERT per call; claims by ``DELETE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
    LOCKED LIMIT k) RETURNING`` of 1 and of 100 rows; a batched insert by ``executemany``
    (pipelined) and by ``COPY``; the ``SELECT 1`` round trip."""
    import psycopg

    fresh.count += 1
    table = f"raw_{os.getpid()}_{fresh.count}"
    rows = [(f"task-{i}", "default", payload) for i in range(n)]
    with psycopg.connect(fresh.args.postgres_dsn, autocommit=True) as conn:
        conn.execute(_RAW_TABLE.format(t=table).encode())
        insert = f"INSERT INTO {table} (id, queue, payload) VALUES (%s, %s, %s)".encode()
        commits = []
        start = time.perf_counter()
        for row in rows:
            began = time.perf_counter()
            conn.execute(insert, row)
            commits.append(time.perf_counter() - began)
        one_insert = time.perf_counter() - start
        claim = (
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE queue = 'default' "
            "AND ready_at <= now() ORDER BY ready_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING id, payload"
        ).encode()
        claim_one, claim_batch = _raw_claims(conn, claim, n)
        conn.execute(f"TRUNCATE {table}".encode())
        start = time.perf_counter()
        for offset in range(0, n, 1000):
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(insert, rows[offset : offset + 1000])
        executemany = time.perf_counter() - start
        conn.execute(f"TRUNCATE {table}".encode())
        start = time.perf_counter()
        for offset in range(0, n, 1000):
            with conn.transaction(), conn.cursor() as cursor:
                copy_sql = f"COPY {table} (id, queue, payload) FROM STDIN (FORMAT BINARY)"
                with cursor.copy(copy_sql.encode()) as copy:
                    copy.set_types(["text", "text", "bytea"])
                    for row in rows[offset : offset + 1000]:
                        copy.write_row(row)
        copied = time.perf_counter() - start
        trips = []
        for _ in range(1000):
            began = time.perf_counter()
            conn.execute(b"SELECT 1")
            trips.append(time.perf_counter() - began)
        conn.execute(f"DROP TABLE {table}".encode())
    return {
        **rate(n, one_insert),
        "client": f"psycopg {psycopg.__version__} (sync, autocommit)",
        "claim_one_per_second": round(n / claim_one, 1),
        "claim_100_per_second": round(n / claim_batch, 1),
        "executemany_per_second": round(n / executemany, 1),
        "copy_per_second": round(n / copied, 1),
        "round_trip_p50_ms": round(statistics.median(trips) * 1000, 3),
        "insert_p50_ms": round(statistics.median(commits) * 1000, 3),
        "task_round_trip_p50_ms": postgres_task_round_trip(
            fresh.args.postgres_dsn, max(50, n // 20)
        )["p50_ms"],
    }


def bench_postgres_interleaved(fresh: Fresh, n: int, rounds: int = 50) -> dict[str, Any]:
    """OmniQ's sync enqueue, raw psycopg's one-INSERT loop, and raw psycopg sending OmniQ's own
    enqueue statement (the task and its ``enqueued`` event), in alternating chunks of one
    measurement: this VM's speed drifts by more than the gaps being measured. The statement
    loop parts the cost of the statement (what the server does) from OmniQ's own."""
    import psycopg
    from omniq.runtime.building import enqueued_event
    from omniq_postgres.events import event_row
    from omniq_postgres.rows import task_row
    from omniq_postgres.task_queue import ENQUEUE_ONE_WITH_EVENT

    payload = encode_call("json", (0,), {})
    chunk = max(n // rounds, 1)
    backend = fresh()
    options = backend_options(fresh.name, fresh.tmp / str(fresh.count), fresh.args)
    schema, channel = options["schema"], f"omniq_{options['schema']}"
    statement = ENQUEUE_ONE_WITH_EVENT.encode()
    times: dict[str, list[float]] = {"raw": [], "statement": [], "omniq": []}
    with (
        OmniQ(workers=0, backend=backend) as oq,
        psycopg.connect(
            fresh.args.postgres_dsn, autocommit=True, options=f"-c search_path={schema}"
        ) as conn,
    ):
        oq.enqueue(noop, 0)  # the schema exists from here on
        conn.execute(_RAW_TABLE.format(t="raw_interleaved").encode())
        insert = b"INSERT INTO raw_interleaved (id, queue, payload) VALUES (%s, %s, %s)"
        counter = iter(range(10**9))

        def raw() -> None:
            conn.execute(insert, (f"task-{next(counter)}", "default", payload))

        def direct() -> None:
            task = prebuilt_tasks(1)[0]
            conn.execute(statement, (*task_row(task), *event_row(enqueued_event(task)), channel))

        def omniq() -> None:
            oq.enqueue(noop, 0)

        loops = {"raw": raw, "statement": direct, "omniq": omniq}
        for loop in loops.values():  # warm up all three
            for _ in range(min(chunk, 500)):
                loop()
        for _ in range(rounds):
            for label, loop in loops.items():
                start = time.perf_counter()
                for _ in range(chunk):
                    loop()
                times[label].append(time.perf_counter() - start)
        oq.query_events(limit=1)

    def ratios(label: str) -> list[float]:
        return sorted(r / o for r, o in zip(times["raw"], times[label], strict=True))

    total = chunk * rounds
    omniq_ratios, statement_ratios = ratios("omniq"), ratios("statement")
    return {
        **rate(total, sum(times["omniq"])),
        "raw_per_second": round(total / sum(times["raw"]), 1),
        "statement_per_second": round(total / sum(times["statement"]), 1),
        "ratio_median": round(statistics.median(omniq_ratios), 3),
        "ratio_min": round(omniq_ratios[0], 3),
        "ratio_max": round(omniq_ratios[-1], 3),
        "statement_ratio_median": round(statistics.median(statement_ratios), 3),
    }


def _raw_claims(conn: Any, claim: bytes, n: int) -> tuple[float, float]:
    """Seconds to take ``n`` rows one per statement, then (refilled) 100 per statement."""
    table = claim.split()[2].decode()
    start = time.perf_counter()
    while conn.execute(claim, (1,)).rowcount:
        pass
    one = time.perf_counter() - start
    conn.execute(
        f"INSERT INTO {table} (id, queue, payload) SELECT 'task-' || i, 'default', "
        "'\\x00'::bytea FROM generate_series(0, %s) i".encode(),
        (n - 1,),
    )
    start = time.perf_counter()
    while conn.execute(claim, (100,)).rowcount:
        pass
    return one, time.perf_counter() - start


def _postgres_ratios(results: dict[str, Any]) -> list[str]:
    """The PostgreSQL figures against raw psycopg's loops of the same run (issue 13's targets)."""
    raw = results.get("client_enqueue_raw")
    if not isinstance(raw, dict) or "claim_one_per_second" not in raw:
        return []

    def ratio(entry: Any, against: float, key: str = "per_second") -> str:
        if not isinstance(entry, dict) or key not in entry:
            return "-"
        return f"{entry[key] / against:.2f}"

    one, claim, batched = (
        raw["per_second"], raw["claim_one_per_second"], raw["executemany_per_second"]
    )  # fmt: skip
    trip, commit = raw["round_trip_p50_ms"], raw.get("insert_p50_ms")
    task_trip = raw.get("task_round_trip_p50_ms")
    mixed = results.get("enqueue_sync_interleaved", {})
    interleaved = (
        f"{mixed['ratio_median']:.2f} (chunks {mixed['ratio_min']:.2f}-{mixed['ratio_max']:.2f})"
        if "ratio_median" in mixed
        else "-"
    )
    return [
        "PostgreSQL against raw psycopg (sync, autocommit) on the same server in the same run: "
        f"{one:,.0f} one-row INSERTs/s, {claim:,.0f} rows/s claimed one per `DELETE ... SKIP "
        f"LOCKED`, {raw['claim_100_per_second']:,.0f} rows/s 100 per statement, "
        f"{batched:,.0f} rows/s by `executemany` in batches of 1,000, "
        f"{raw['copy_per_second']:,.0f} rows/s by binary `COPY`; `SELECT 1` round trip p50 "
        f"{trip} ms, one committed INSERT p50 {commit} ms. *Interleaved*: OmniQ's sync enqueue, "
        "the one-INSERT loop and OmniQ's own enqueue statement (task and `enqueued` event) "
        "sent by raw psycopg, in alternating chunks of one measurement, the median of the "
        f"chunks' ratios. *Raw task round trip* ({task_trip or '-'} ms p50): "
        f"{TASK_ROUND_TRIP_TEXT}",
        "",
        "| postgres figure | raw loop | ratio | target |",
        "| --- | --- | ---: | ---: |",
        f"| enqueue sync (separate steps) | one INSERT per call "
        f"| {ratio(results.get('enqueue_sync'), one)} | >= 0.60 |",
        f"| enqueue sync, interleaved | one INSERT per call | {interleaved} | >= 0.60 |",
        f"| OmniQ's enqueue statement sent by raw psycopg, interleaved | one INSERT per call "
        f"| {mixed.get('statement_ratio_median', '-')} | |",
        f"| enqueue async | one INSERT per call | {ratio(results.get('enqueue_async'), one)} | |",
        f"| processed async (def) | one-row claim | "
        f"{ratio(results.get('process_noop_async'), claim)} | >= 0.50 |",
        f"| bulk | executemany | {ratio(results.get('enqueue_bulk'), batched)} | >= 0.40 |",
        f"| latency p50 | `SELECT 1` round trip p50 "
        f"| {ratio(results.get('latency'), trip, 'p50_ms')} | <= 3.00 |",
        f"| latency p50 | committed INSERT p50 "
        f"| {ratio(results.get('latency'), commit or 0.0, 'p50_ms') if commit else '-'} | |",
        f"| latency p50 | raw task round trip p50 "
        f"| {ratio(results.get('latency'), task_trip, 'p50_ms') if task_trip else '-'} | |",
    ]


def postgres_doc_lines(runs: list[dict[str, Any]]) -> list[str]:
    run = next((r for r in runs if r["backend"] == "postgres"), None)
    lines = _postgres_ratios(run["results"]) if run is not None else []
    return ["", *lines] if lines else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", action="append", default=[], help="repeatable; default memory")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply task counts (0.1 for a quick run)"
    )
    parser.add_argument("--concurrency", type=int, default=100, help="worker concurrency")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per figure; the median is reported"
    )
    parser.add_argument(
        "--redis-url", default=None, help="default: start a redis-server (no persistence)"
    )
    parser.add_argument(
        "--postgres-dsn", default=None, help="default: start a PostgreSQL cluster (fsync on)"
    )
    parser.add_argument(
        "--nats-url", default=None, help="default: start a nats-server -js (file storage)"
    )
    parser.add_argument(
        "--no-doc", action="store_true", help="do not regenerate docs/benchmarks.md"
    )
    parser.add_argument(
        "--doc-only", action="store_true", help="only regenerate docs/benchmarks.md from results"
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    backends = [] if args.doc_only else args.backend or ["memory"]
    server = None
    if "redis" in backends and args.redis_url is None:
        from omniq_redis.testing import RedisServer

        server = RedisServer(Path(tempfile.mkdtemp(prefix="omniq-bench-redis-")))
        server.start()
        args.redis_url = server.url
    postgres = start_postgres(args) if "postgres" in backends else None
    nats_server = start_nats(args) if "nats" in backends and args.nats_url is None else None
    try:
        for name in backends:
            print(f"{name}:")
            run = run_backend(name, args)
            (RESULTS / f"{name}.json").write_text(json.dumps(run, indent=2) + "\n")
            if name == "postgres":
                print("\n".join(_postgres_ratios(run["results"])))
    finally:
        if server is not None:
            server.stop()
        if postgres is not None:
            postgres.destroy()
        if nats_server is not None:
            nats_server.stop()
    if not args.no_doc:
        write_doc()
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
