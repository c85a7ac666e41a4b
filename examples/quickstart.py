"""OmniQ's main job on its embedded default, SQLite: enqueue a few thousand tasks (some failing and
retried, a few failing for good, one scheduled), run workers, show progress, then print the
results and a summary of the lifecycle events.

    python examples/quickstart.py [--tasks 3000] [--workers 8] [--data-dir DIR]

Everything is kept in SQLite files in a temporary directory, removed when the example ends;
with ``--data-dir DIR`` they are kept in a fresh directory under ``DIR`` instead.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from omniq import OmniQ, OmniQConfig, TaskFailedError
from quickstart_tasks import add, broken, flaky_square, nightly_report


@contextlib.contextmanager
def _run_dir(base: Path | None) -> Iterator[Path]:
    """A fresh directory under ``base`` (kept), or a temporary one removed at the end."""
    if base is None:
        with tempfile.TemporaryDirectory(prefix="omniq-quickstart-") as temporary:
            yield Path(temporary)
        return
    run = base / datetime.now(UTC).strftime("run-%Y%m%d-%H%M%S-%f")
    run.mkdir(parents=True)
    yield run


def _config(run: Path, workers: int) -> OmniQConfig:
    def sqlite(name: str) -> dict[str, str]:
        return {"backend_type": "sqlite", "url": f"sqlite:///{run / name}"}

    return OmniQConfig.from_dict(
        {
            "task_queue": sqlite("queue.db"),
            "result_storage": sqlite("results.db"),
            "event_storage": sqlite("events.db"),
            "schedule_storage": sqlite("queue.db"),
            "workers": workers,
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000, help="how many tasks (default 3000)")
    parser.add_argument("--workers", type=int, default=8, help="worker concurrency (default 8)")
    parser.add_argument(
        "--data-dir", type=Path, help="keep the SQLite files here (default: a temporary directory)"
    )
    args = parser.parse_args(argv)
    with _run_dir(args.data_dir) as run:
        code = _quickstart(run, args)
    if args.data_dir is None:
        print(f"\nremoved {run} (pass --data-dir DIR to keep the SQLite files)")
    else:
        print(f"\nSQLite files kept in {run}")
    return code


def _quickstart(run: Path, args: argparse.Namespace) -> int:
    print(f"OmniQ quick start: {args.tasks} tasks, SQLite files in {run}")

    started = time.perf_counter()
    with OmniQ(config=_config(run, args.workers), worker_type="async") as oq:
        report = oq.schedule(
            nightly_report, "quickstart", at=datetime.now(UTC) + timedelta(seconds=1)
        )
        print(f"scheduled {report.name!r} to run once at {report.next_fire_at:%H:%M:%S} UTC")

        flaky = set(range(0, args.tasks, 20))
        doomed = set(range(7, args.tasks, 500))
        calls = []
        for n in range(args.tasks):
            if n in doomed:
                calls.append((broken, (n,), {}, {"max_retries": 1, "retry_backoff": 0.05}))
            elif n in flaky:
                calls.append((flaky_square, (n,), {}, {"max_retries": 2, "retry_backoff": 0.05}))
            else:
                calls.append((add, (n, n)))
        task_ids = oq.enqueue_many(calls)
        print(f"enqueued {len(task_ids)} tasks in {time.perf_counter() - started:.2f} s")

        total = len(task_ids)
        while True:
            sizes = oq.queue_sizes(["default"]).get("default")
            left = (sizes.pending + sizes.active) if sizes else 0
            print(f"  progress: {total - left}/{total} finished, {left} waiting or running")
            if left == 0:
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started

        results: dict[str, object] = {}
        failures: dict[str, TaskFailedError] = {}
        for task_id in task_ids:
            try:
                results[task_id] = oq.get_result(task_id, timeout=10)
            except TaskFailedError as exc:
                failures[task_id] = exc

        report_result = None
        deadline = time.monotonic() + 30
        while report_result is None and time.monotonic() < deadline:
            events = oq.query_events(event_types=["completed"], queue="default", limit=100_000)
            fired = [e for e in events if e.task_id not in results and e.task_id not in failures]
            if fired:
                report_result = oq.get_result(fired[0].task_id, timeout=5)
            else:
                time.sleep(0.2)

        totals = sum(v for v in results.values() if isinstance(v, int))
        rate = total / elapsed
        print(f"\nall {total} tasks finished in {elapsed:.2f} s ({rate:,.0f} tasks/s end to end)")
        print(f"  succeeded: {len(results)} (sum of integer results: {totals})")
        events = oq.query_events(limit=1_000_000)
        retried = {e.task_id for e in events if e.event_type.value == "retrying"}
        print(f"  retried then succeeded: {len(retried & set(results))}")
        print(f"  failed for good (dead letters): {len(failures)}")
        for exc in list(failures.values())[:3]:
            print(f"    {exc}")
        print(f"  scheduled task: {report_result!r}")

        counts = collections.Counter(e.event_type.value for e in events)
        print("\nevents by type:")
        for kind, count in sorted(counts.items()):
            print(f"  {kind:>14}: {count}")
        dead = oq.queue_sizes(["default"]).get("default")
        print(f"\ndead letters kept in the queue: {dead.dead if dead else 0}")
    return 0 if report_result is not None and len(failures) == len(doomed) else 1


if __name__ == "__main__":
    sys.exit(main())
