"""Idle CPU of a real ``omniq worker`` process, and the latency a task from another process sees.

    python bench/idle_cpu.py [--backend sqlite --backend file] [--seconds 10] [--baseline]

For each backend: start ``omniq worker`` (every role on that backend, in a temporary folder), let
it settle, then read its CPU time from ``/proc`` over ``--seconds`` (the issue's target: below 1%
of a core). Then enqueue from this process, one task at a time, and time enqueue-to-result:
back to back ("busy") and after 1 s of quiet each ("idle", the worker's poll has backed off to
its maximum). ``--baseline`` also runs each backend with ``idle_poll_interval`` equal to
``poll_interval`` (no backoff: the behaviour before the backoff). Prints a table; Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from omniq import OmniQ

TICKS = os.sysconf("SC_CLK_TCK")
FIRST_POLL = {"sqlite": 0.002, "file": 0.005}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _env(backend: str, folder: Path, options: dict[str, float]) -> dict[str, str]:
    url = f"sqlite:///{folder / 'bench.db'}" if backend == "sqlite" else f"file://{folder / 'q'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIQ_")}
    for role in ("TASK_QUEUE", "RESULT_STORAGE", "EVENT_STORAGE", "SCHEDULE_STORAGE"):
        env[f"OMNIQ_{role}_TYPE"] = backend
        env[f"OMNIQ_{role}_URL"] = url
    if options:
        env["OMNIQ_TASK_QUEUE_OPTIONS"] = json.dumps(options)
    env["OMNIQ_ALLOWED_MODULES"] = "bench_idle_tasks"
    env["PYTHONPATH"] = str(folder)
    return env


def _wait_until_running(worker: subprocess.Popen[str]) -> None:
    """Read the worker's JSON log lines until it runs, then keep draining them."""
    assert worker.stderr is not None
    for line in worker.stderr:
        if json.loads(line).get("event") == "worker process running":
            break
    else:
        raise RuntimeError(f"the worker ended (exit {worker.wait()})")
    threading.Thread(target=worker.stderr.read, daemon=True).start()


def _latencies(app: OmniQ, count: int, gap: float) -> list[float]:
    from bench_idle_tasks import noop  # type: ignore[import-not-found]

    found = []
    for _ in range(count):
        time.sleep(gap)
        started = time.perf_counter()
        task_id = app.enqueue(noop)
        app.get_result(task_id, timeout=30)
        found.append((time.perf_counter() - started) * 1000)
    return found


def measure(backend: str, seconds: float, options: dict[str, float]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="omniq-idle-") as tmp:
        folder = Path(tmp)
        (folder / "bench_idle_tasks.py").write_text("def noop():\n    return None\n")
        env = _env(backend, folder, options)
        worker = subprocess.Popen(
            [sys.executable, "-m", "omniq", "worker", "--json", "--no-scheduler"],
            cwd=folder,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_until_running(worker)
            time.sleep(1.0)  # the first recovery pass
            before, started = _cpu_seconds(worker.pid), time.monotonic()
            time.sleep(seconds)
            cpu = (_cpu_seconds(worker.pid) - before) / (time.monotonic() - started)
            saved = dict(os.environ)
            os.environ.clear()
            os.environ.update(env)
            sys.path.insert(0, str(folder))
            try:
                with OmniQ(workers=0, scheduler=False) as app:
                    busy = _latencies(app, 50, 0.0)
                    idle = _latencies(app, 10, 1.0)
            finally:
                sys.path.remove(str(folder))
                sys.modules.pop("bench_idle_tasks", None)
                os.environ.clear()
                os.environ.update(saved)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    return {
        "idle_cpu_percent": cpu * 100,
        "busy_p50_ms": statistics.median(busy),
        "idle_p50_ms": statistics.median(idle),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=["sqlite", "file"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    print(f"{'backend':<8} {'poll':<22} {'idle CPU':>9} {'busy p50':>10} {'idle p50':>10}")
    for backend in args.backend or ["sqlite", "file"]:
        runs = [("adaptive (to 100 ms)", {})]
        if args.baseline:
            first = FIRST_POLL[backend]
            runs.append((f"fixed {first * 1000:g} ms", {"idle_poll_interval": first}))
        for label, options in runs:
            got = measure(backend, args.seconds, options)
            print(
                f"{backend:<8} {label:<22} {got['idle_cpu_percent']:>8.2f}% "
                f"{got['busy_p50_ms']:>8.1f}ms {got['idle_p50_ms']:>8.1f}ms",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
