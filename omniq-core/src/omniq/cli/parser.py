"""The ``omniq`` argument parser."""

from __future__ import annotations

import argparse

from omniq.models.config import WORKER_TYPES
from omniq.models.event import EventType

__all__ = ["build_parser"]


def _common(parser: argparse.ArgumentParser, *, app: bool = True) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML configuration (default: OMNIQ_*)")
    if app:
        parser.add_argument(
            "--app", metavar="MODULE:ATTR", help="your app object, e.g. myproject.tasks:oq"
        )
    parser.add_argument("--json", action="store_true", help="print JSON, one document per line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omniq", description="Run and inspect OmniQ workers, queues, results and events."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    worker = sub.add_parser("worker", help="run a worker until SIGTERM/SIGINT")
    worker.add_argument("app_path", nargs="?", metavar="MODULE:ATTR", help="same as --app")
    _common(worker)
    worker.add_argument("--queues", "-q", help="comma-separated, in priority order")
    worker.add_argument("--concurrency", "-c", type=int, help="tasks run at once")
    worker.add_argument("--worker-type", "-t", choices=WORKER_TYPES)
    worker.add_argument("--no-scheduler", action="store_true", help="do not fire schedules")

    scheduler = sub.add_parser("scheduler", help="fire schedules until SIGTERM/SIGINT")
    _common(scheduler)

    enqueue = sub.add_parser("enqueue", help="enqueue module:function with JSON arguments")
    enqueue.add_argument("function", metavar="MODULE:FUNCTION")
    _common(enqueue, app=False)
    enqueue.add_argument("--args", help="JSON list of positional arguments")
    enqueue.add_argument("--kwargs", help="JSON object of keyword arguments")
    enqueue.add_argument("--queue")
    enqueue.add_argument("--priority", type=int)
    enqueue.add_argument("--delay", type=float, help="seconds before it may run")
    enqueue.add_argument("--max-retries", type=int)
    enqueue.add_argument("--timeout", type=float)

    result = sub.add_parser("result", help="print a task's result (waits up to --timeout)")
    result.add_argument("task_id")
    _common(result, app=False)
    result.add_argument("--timeout", type=float, default=0.0, help="seconds to wait (default 0)")

    events = sub.add_parser("events", help="print task events (or --follow them)")
    events.add_argument("task_id", nargs="?")
    _common(events, app=False)
    events.add_argument(
        "--type", action="append", choices=[t.value for t in EventType], help="repeatable"
    )
    events.add_argument("--queue")
    events.add_argument("--limit", type=int, default=1000)
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events")

    status = sub.add_parser("status", help="queue sizes, dead letters and schedules")
    _common(status, app=False)
    status.add_argument("--queues", help="comma-separated (default: every queue)")

    backends = sub.add_parser("backends", help="installed backends and their status")
    backends.add_argument("--load", action="store_true", help="import each to check it loads")
    backends.add_argument("--json", action="store_true")

    purge = sub.add_parser("purge", help="delete the pending (or --dead) tasks of a queue")
    purge.add_argument("queue")
    _common(purge, app=False)
    purge.add_argument("--dead", action="store_true", help="purge dead letters instead")

    retry = sub.add_parser("retry-dead", help="move a queue's dead letters back to pending")
    retry.add_argument("queue")
    retry.add_argument("task_ids", nargs="*", help="only these tasks")
    _common(retry, app=False)
    return parser
