"""What each ``omniq`` command does. Each returns an exit code (:class:`ExitCode`)."""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from omniq.cli.apps import load_app
from omniq.cli.exit_codes import ExitCode
from omniq.cli.output import emit, table
from omniq.errors import ConfigurationError, TaskFailedError, TaskNotFoundError
from omniq.models.event import TaskEvent
from omniq.models.task import TaskState
from omniq.runtime.async_app import AsyncOmniQ

__all__ = ["COMMANDS"]


def _queues(value: str | None) -> list[str] | None:
    return [q.strip() for q in value.split(",") if q.strip()] if value else None


async def worker(args: argparse.Namespace) -> ExitCode:
    app = load_app(args.app or args.app_path, args.config, workers=args.concurrency or 0)
    await app.run_worker(
        queues=_queues(args.queues),
        concurrency=args.concurrency,
        worker_type=args.worker_type,
        scheduler=not args.no_scheduler,
    )
    return ExitCode.OK


async def scheduler(args: argparse.Namespace) -> ExitCode:
    app = load_app(args.app, args.config)
    await app.run_worker(concurrency=0, scheduler=True)
    return ExitCode.OK


async def enqueue(args: argparse.Namespace) -> ExitCode:
    module_name, sep, qualname = args.function.partition(":")
    if not sep:
        raise ConfigurationError(f"Invalid function {args.function!r}: use 'module:function'")
    func: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        func = getattr(func, part)
    call_args = json.loads(args.args) if args.args else []
    call_kwargs = json.loads(args.kwargs) if args.kwargs else {}
    if not isinstance(call_args, list) or not isinstance(call_kwargs, dict):
        raise ConfigurationError("--args must be a JSON list and --kwargs a JSON object")
    options: dict[str, Any] = {"kwargs": call_kwargs}
    for name in ("queue", "priority", "delay", "max_retries", "timeout"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    async with _producer(args) as app:
        task_id = await app.enqueue(func, *call_args, **options)
    emit({"task_id": task_id}, as_json=args.json, human=task_id)
    return ExitCode.OK


async def result(args: argparse.Namespace) -> ExitCode:
    async with _producer(args) as app:
        try:
            value = await app.get_result(args.task_id, timeout=args.timeout)
        except TaskFailedError as exc:
            failure = {
                "task_id": exc.task_id,
                "status": exc.status,
                "error_type": exc.error_type,
                "error": exc.error_message,
            }
            emit(failure, as_json=args.json, human=str(exc))
            return ExitCode.TASK_FAILED
        except TaskNotFoundError as exc:
            emit({"error": str(exc)}, as_json=args.json, human=str(exc))
            return ExitCode.TASK_FAILED
        except TimeoutError as exc:
            emit({"error": str(exc)}, as_json=args.json, human=str(exc))
            return ExitCode.TIMEOUT
    emit({"task_id": args.task_id, "result": value}, as_json=args.json, human=json.dumps(value))
    return ExitCode.OK


def _event_line(event: TaskEvent) -> str:
    parts = [event.timestamp.isoformat(timespec="milliseconds"), event.event_type.value.ljust(13)]
    parts.append(event.task_id)
    if event.queue:
        parts.append(f"queue={event.queue}")
    if event.attempt:
        parts.append(f"attempt={event.attempt}")
    if event.worker_id:
        parts.append(f"worker={event.worker_id}")
    for key in ("error", "reason", "retry_at"):
        if key in event.details:
            parts.append(f"{key}={event.details[key]!s}")
    return "  ".join(parts)


async def events(args: argparse.Namespace) -> ExitCode:
    filters: dict[str, Any] = {"task_id": args.task_id, "queue": args.queue}
    if args.type:
        filters["event_types"] = args.type
    async with _producer(args) as app:
        if not args.follow:
            found = await app.query_events(limit=args.limit, **filters)
            for event in found:
                emit(event, as_json=args.json, human=_event_line(event))
            return ExitCode.OK
        async for event in app.follow_events(**filters):
            emit(event, as_json=args.json, human=_event_line(event))
    return ExitCode.OK


async def status(args: argparse.Namespace) -> ExitCode:
    async with _producer(args) as app:
        sizes = await app.queue_sizes(_queues(args.queues))
        schedules = await app.list_schedules()
        check = getattr(app.stores.task_queue, "server_warnings", None)
        warnings: list[str] = list(check()) if callable(check) else []
    if args.json:
        document = {"queues": list(sizes.values()), "schedules": schedules, "warnings": warnings}
        emit(document, as_json=True)
        return ExitCode.OK
    for warning in warnings:
        print(f"warning: {warning}")
    rows = [(s.queue, s.ready, s.delayed, s.active, s.dead) for s in sizes.values()]
    print(table(["queue", "ready", "delayed", "active", "dead"], rows) if rows else "no tasks")
    if schedules:
        print()
        print(
            table(
                ["schedule", "trigger", "next fire (UTC)", "paused"],
                [
                    (
                        s.name,
                        s.cron or (f"every {s.interval:g}s" if s.interval else f"at {s.at}"),
                        s.next_fire_at.isoformat(timespec="seconds") if s.next_fire_at else "-",
                        "yes" if s.paused else "no",
                    )
                    for s in schedules
                ],
            )
        )
    return ExitCode.OK


async def backends(args: argparse.Namespace) -> ExitCode:
    from omniq.plugins.manager import list_backends

    found = list_backends(load=args.load)
    if args.json:
        emit(found, as_json=True)
        return ExitCode.OK
    rows = [
        (
            b.name,
            b.distribution,
            b.version,
            ",".join(sorted(r.value for r in b.roles)) or "-",
            b.status,
            b.error or "",
        )
        for b in found
    ]
    print(table(["backend", "distribution", "version", "roles", "status", "error"], rows))
    return ExitCode.OK


async def purge(args: argparse.Namespace) -> ExitCode:
    states = [TaskState.DEAD] if args.dead else [TaskState.PENDING]
    async with _producer(args) as app:
        count = await app.purge(args.queue, states)
    emit({"queue": args.queue, "purged": count}, as_json=args.json, human=f"purged {count}")
    return ExitCode.OK


async def retry_dead(args: argparse.Namespace) -> ExitCode:
    async with _producer(args) as app:
        count = await app.retry_dead(args.queue, args.task_ids or None)
    emit({"queue": args.queue, "requeued": count}, as_json=args.json, human=f"requeued {count}")
    return ExitCode.OK


def _producer(args: argparse.Namespace) -> AsyncOmniQ:
    app = load_app(getattr(args, "app", None), args.config)
    if app.settings.workers or app.settings.scheduler:
        from omniq.runtime.settings import settings_with

        app.settings = settings_with(app.settings, workers=0, scheduler=False)
    return app


COMMANDS = {
    "worker": worker,
    "scheduler": scheduler,
    "enqueue": enqueue,
    "result": result,
    "events": events,
    "status": status,
    "backends": backends,
    "purge": purge,
    "retry-dead": retry_dead,
}
