"""What each ``omniq`` command does. Each returns an exit code (:class:`ExitCode`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from omniq.cli.apps import app_label, import_object, load_app
from omniq.cli.banner import print_banner, worker_banner
from omniq.cli.exit_codes import ExitCode
from omniq.cli.logs import chosen_level, configure_logging
from omniq.cli.output import emit, table, to_jsonable
from omniq.errors import ConfigurationError, TaskFailedError, TaskNotFoundError
from omniq.models.event import TaskEvent
from omniq.models.task import CancelOutcome, TaskInfo, TaskState
from omniq.runtime.async_app import AsyncOmniQ
from omniq.storage import Role

__all__ = ["COMMANDS"]


def _queues(value: str | None) -> list[str] | None:
    return [q.strip() for q in value.split(",") if q.strip()] if value else None


def _serving_app(args: argparse.Namespace, **options: Any) -> tuple[AsyncOmniQ, str]:
    """The app a worker or scheduler runs, with logging set up at its level."""
    path = args.app or args.app_path
    app = load_app(path, args.config, **options)
    level = chosen_level(args.log_level, quiet=args.quiet, configured=app.config.log_level)
    configure_logging(level, as_json=args.json)
    return app, level


async def _serve(args: argparse.Namespace, app: AsyncOmniQ, level: str, **run: Any) -> ExitCode:
    label = app_label(args.app or args.app_path, args.config)

    def banner() -> None:
        if level in ("DEBUG", "INFO"):
            fields = worker_banner(app, app_label=label, scheduler=bool(run.get("scheduler")))
            print_banner(fields, as_json=args.json)

    await app.run_worker(on_started=banner, **run)
    return ExitCode.OK


async def worker(args: argparse.Namespace) -> ExitCode:
    app, level = _serving_app(args, workers=args.concurrency or 0)
    return await _serve(
        args,
        app,
        level,
        queues=_queues(args.queues),
        concurrency=args.concurrency,
        worker_type=args.worker_type,
        scheduler=not args.no_scheduler,
    )


async def scheduler(args: argparse.Namespace) -> ExitCode:
    app, level = _serving_app(args)
    return await _serve(args, app, level, concurrency=0, scheduler=True)


async def enqueue(args: argparse.Namespace) -> ExitCode:
    func = import_object(args.function, what="function", example="myproject.tasks:add")
    call_args = _json_option("--args", args.args, [])
    call_kwargs = _json_option("--kwargs", args.kwargs, {})
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
    human = json.dumps(to_jsonable(value), ensure_ascii=False, default=repr)
    emit({"task_id": args.task_id, "result": value}, as_json=args.json, human=human)
    return ExitCode.OK


def _json_option(name: str, text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{name} is not valid JSON ({exc.msg} at character {exc.pos}): e.g. {name} '[2, 3]'"
        ) from exc


async def cancel(args: argparse.Namespace) -> ExitCode:
    async with _producer(args) as app:
        outcome = await app.cancel(args.task_id)
    said = {
        CancelOutcome.CANCELLED: "cancelled (it was waiting and will not run)",
        CancelOutcome.REQUESTED: "cancel requested (it is running; its worker stops it)",
        CancelOutcome.NOT_FOUND: "no such task waiting or running (unknown, finished or dead)",
    }[outcome]
    emit({"task_id": args.task_id, "outcome": outcome}, as_json=args.json, human=said)
    return ExitCode.TASK_FAILED if outcome is CancelOutcome.NOT_FOUND else ExitCode.OK


def _task_row(info: TaskInfo) -> tuple[str, ...]:
    task = info.task
    return (
        task.id,
        task.queue,
        info.state.value,
        task.func,
        str(info.attempt),
        task.eta.isoformat(timespec="seconds") if task.eta else "-",
        (info.last_error or "")[:60],
    )


async def tasks(args: argparse.Namespace) -> ExitCode:
    states = [TaskState(s) for s in args.state] if args.state else [
        TaskState.PENDING,
        TaskState.ACTIVE,
    ]
    found: list[TaskInfo] = []
    async with _producer(args) as app:
        queues = _queues(args.queues) or sorted((await app.queue_sizes()).keys())
        for queue in queues:
            for state in states:
                listed = await app.list_tasks(queue, state, limit=args.limit)
                found += [i for i in listed if not args.func or i.task.func == args.func]
    if args.json:
        for info in found:
            emit(info, as_json=True)
        return ExitCode.OK
    headers = ["task", "queue", "state", "function", "attempt", "eta (UTC)", "last error"]
    print(table(headers, [_task_row(i) for i in found]) if found else "no tasks")
    return ExitCode.OK


async def schedules(args: argparse.Namespace) -> ExitCode:
    action = getattr(args, "action", None) or "list"
    async with _producer(args) as app:
        if action == "list":
            listed = await app.list_schedules()
            if args.json:
                for item in listed:
                    emit(item, as_json=True)
            else:
                print(_schedule_table(listed) if listed else "no schedules")
            return ExitCode.OK
        change = {
            "pause": app.pause_schedule,
            "resume": app.resume_schedule,
            "remove": app.remove_schedule,
        }[action]
        done = await change(args.name)
    past = {"pause": "paused", "resume": "resumed", "remove": "removed"}[action]
    human = f"{past} {args.name!r}" if done else f"no schedule named {args.name!r}"
    emit({"name": args.name, past: done}, as_json=args.json, human=human)
    return ExitCode.OK if done else ExitCode.TASK_FAILED


def _schedule_table(listed: list[Any]) -> str:
    return table(
        ["schedule", "trigger", "next fire (UTC)", "paused"],
        [
            (
                s.name,
                s.cron or (f"every {s.interval:g}s" if s.interval else f"at {s.at}"),
                s.next_fire_at.isoformat(timespec="seconds") if s.next_fire_at else "-",
                "yes" if s.paused else "no",
            )
            for s in listed
        ],
    )


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
    app = _producer(args)
    where = await app.where_stored()
    stores = {role.value: {"store": w, "exists": found} for role, (w, found) in where.items()}
    if not where[Role.TASK_QUEUE][1]:
        # nothing was ever enqueued here: read nothing, create nothing
        document: dict[str, Any] = {"stores": stores, "queues": [], "schedules": []}
        if args.json:
            emit(document, as_json=True)
        else:
            print(f"task queue: {where[Role.TASK_QUEUE][0]} (does not exist yet: no tasks)")
            print("  give --app MODULE:APP or --config FILE to read your app's store")
        return ExitCode.OK
    async with app:
        sizes = await app.queue_sizes(_queues(args.queues))
        listed = await app.list_schedules() if where[Role.SCHEDULE_STORAGE][1] else []
        check = getattr(app.stores.task_queue, "server_warnings", None)
        warnings: list[str] = list(check()) if callable(check) else []
    if args.json:
        document = {
            "stores": stores,
            "queues": list(sizes.values()),
            "schedules": listed,
            "warnings": warnings,
        }
        emit(document, as_json=True)
        return ExitCode.OK
    print(f"task queue: {where[Role.TASK_QUEUE][0]}")
    for warning in warnings:
        print(f"warning: {warning}")
    rows = [(s.queue, s.ready, s.delayed, s.active, s.dead) for s in sizes.values()]
    print(table(["queue", "ready", "delayed", "active", "dead"], rows) if rows else "no tasks")
    if listed:
        print()
        print(_schedule_table(listed))
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


async def dashboard(args: argparse.Namespace) -> ExitCode:
    from omniq import _validate as check
    from omniq.dashboard import require_extra

    require_extra()  # before loading the app: the install line first
    from omniq.dashboard.server import serve

    check.count("--port", args.port, minimum=1, maximum=65535)
    app = _producer(args)
    url = f"http://{args.host}:{args.port}/"
    if not args.quiet:
        print(f"omniq dashboard on {url} (Ctrl-C stops it)", flush=True)
    await serve(
        app, host=args.host, port=args.port, token=args.token, log_level=args.log_level or "WARNING"
    )
    return ExitCode.OK


def _producer(args: argparse.Namespace) -> AsyncOmniQ:
    app = load_app(args.app, args.config)
    if app.settings.workers or app.settings.scheduler:
        from omniq.runtime.settings import settings_with

        app.settings = settings_with(app.settings, workers=0, scheduler=False)
    return app


COMMANDS = {
    "worker": worker,
    "scheduler": scheduler,
    "enqueue": enqueue,
    "result": result,
    "cancel": cancel,
    "events": events,
    "tasks": tasks,
    "schedules": schedules,
    "status": status,
    "backends": backends,
    "purge": purge,
    "retry-dead": retry_dead,
    "dashboard": dashboard,
}
