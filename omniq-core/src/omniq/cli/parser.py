"""The ``omniq`` argument parser. Every command takes the same ``--app``/``--config``, ``--json``,
``--log-level`` and ``-q``."""

from __future__ import annotations

import argparse
from typing import Any

from omniq import __version__
from omniq.models.config import LOG_LEVELS, WORKER_TYPES
from omniq.models.event import EventType
from omniq.models.task import TaskState

__all__ = ["build_parser"]


def _common(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """The options of every command; ``nested`` (an action under ``schedules``) leaves the
    values given before the action alone."""
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if nested else {}
    flag_unset: dict[str, Any] = unset or {"default": False}
    parser.add_argument(
        "--app", metavar="MODULE:ATTR", help="your app object, e.g. myproject.tasks:oq", **unset
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML configuration (default: the OMNIQ_* environment)",
        **unset,
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON, one document per line", **flag_unset
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        help="log lines at this level and above (default: worker INFO, others WARNING)",
        **unset,
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="warnings and errors only (no banner)",
        **flag_unset,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omniq", description="Run and inspect OmniQ workers, queues, results and events."
    )
    parser.add_argument("--version", action="version", version=f"omniq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    worker = sub.add_parser("worker", help="run a worker until SIGTERM/SIGINT")
    worker.add_argument("app_path", nargs="?", metavar="MODULE:ATTR", help="same as --app")
    _common(worker)
    worker.add_argument("--queues", "-Q", help="comma-separated, in priority order")
    worker.add_argument("--concurrency", "-c", type=int, help="tasks run at once")
    worker.add_argument("--worker-type", "-t", choices=WORKER_TYPES)
    worker.add_argument("--no-scheduler", action="store_true", help="do not fire schedules")

    scheduler = sub.add_parser("scheduler", help="fire schedules until SIGTERM/SIGINT")
    scheduler.add_argument("app_path", nargs="?", metavar="MODULE:ATTR", help="same as --app")
    _common(scheduler)

    enqueue = sub.add_parser("enqueue", help="enqueue module:function with JSON arguments")
    enqueue.add_argument("function", metavar="MODULE:FUNCTION")
    _common(enqueue)
    enqueue.add_argument("--args", help="JSON list of positional arguments")
    enqueue.add_argument("--kwargs", help="JSON object of keyword arguments")
    enqueue.add_argument("--queue")
    enqueue.add_argument("--priority", type=int)
    enqueue.add_argument("--delay", type=float, help="seconds before it may run")
    enqueue.add_argument("--max-retries", type=int)
    enqueue.add_argument("--timeout", type=float)

    result = sub.add_parser("result", help="print a task's result (waits up to --timeout)")
    result.add_argument("task_id")
    _common(result)
    result.add_argument("--timeout", type=float, default=0.0, help="seconds to wait (default 0)")

    cancel = sub.add_parser("cancel", help="cancel a pending task, or ask a running one to stop")
    cancel.add_argument("task_id")
    _common(cancel)

    events = sub.add_parser("events", help="print task events (or --follow them)")
    events.add_argument("task_id", nargs="?")
    _common(events)
    events.add_argument(
        "--type", action="append", choices=[t.value for t in EventType], help="repeatable"
    )
    events.add_argument("--queue")
    events.add_argument("--limit", type=int, default=1000)
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events")

    tasks = sub.add_parser("tasks", help="list the tasks of queues by state")
    _common(tasks)
    tasks.add_argument("--queues", help="comma-separated (default: every queue)")
    tasks.add_argument(
        "--state",
        action="append",
        choices=[s.value for s in TaskState],
        help="repeatable (default: pending and active)",
    )
    tasks.add_argument("--func", help="only tasks of this function (module:qualname)")
    tasks.add_argument("--limit", type=int, default=100, help="per queue and state (default 100)")

    schedules = sub.add_parser("schedules", help="list, pause, resume or remove schedules")
    _common(schedules)
    actions = schedules.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="every schedule (the default)")
    _common(listing, nested=True)
    for name, what in (
        ("pause", "stop firing it until resumed"),
        ("resume", "fire it again"),
        ("remove", "delete it"),
    ):
        action = actions.add_parser(name, help=what)
        action.add_argument("name")
        _common(action, nested=True)

    status = sub.add_parser("status", help="queue sizes, dead letters and schedules")
    _common(status)
    status.add_argument("--queues", help="comma-separated (default: every queue)")

    backends = sub.add_parser("backends", help="installed backends and their status")
    _common(backends)
    backends.add_argument("--load", action="store_true", help="import each to check it loads")

    purge = sub.add_parser("purge", help="delete the pending (or --dead) tasks of a queue")
    purge.add_argument("queue")
    _common(purge)
    purge.add_argument("--dead", action="store_true", help="purge dead letters instead")

    dashboard = sub.add_parser(
        "dashboard", help="serve the web dashboard, its JSON API and /metrics (extra: dashboard)"
    )
    _common(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    dashboard.add_argument(
        "--token",
        help="required by every request (default: OMNIQ_DASHBOARD_TOKEN); needed off loopback",
    )

    retry = sub.add_parser("retry-dead", help="move a queue's dead letters back to pending")
    retry.add_argument("queue")
    retry.add_argument("task_ids", nargs="*", help="only these tasks")
    _common(retry)
    return parser
