"""What ``omniq worker`` says when it starts, as Celery's worker does: version, app, the backend
of each role (secrets masked), queues, concurrency and worker type."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from omniq import __version__
from omniq._redact import mask_secrets, mask_url
from omniq.logging import get_logger
from omniq.runtime.async_app import AsyncOmniQ
from omniq.storage import Role, Storage

__all__ = ["describe_storage", "print_banner", "worker_banner"]

log = get_logger("omniq.cli")

_ROLE_LABELS = {
    Role.TASK_QUEUE: "task queue",
    Role.RESULT_STORAGE: "results",
    Role.EVENT_STORAGE: "events",
    Role.SCHEDULE_STORAGE: "schedules",
}


def describe_storage(storage: Storage, app: AsyncOmniQ, role: Role) -> str:
    """Where ``storage`` keeps its data: its own ``describe()``, else its backend's name and
    the configured URL or options (masked)."""
    described = storage.describe()
    if described:
        return mask_secrets(described)
    module = type(storage).__module__.split(".")[0]
    backend = module.removeprefix("omniq_") if module != "omniq" else type(storage).__name__
    configured = app.config.storage_backend(role.value)
    if configured is not None and configured.url:
        return f"{backend} {mask_url(configured.url)}"
    if configured is not None and configured.config:
        return f"{backend} {mask_secrets(str(dict(configured.config)))}"
    return backend


def worker_banner(app: AsyncOmniQ, *, app_label: str, scheduler: bool) -> dict[str, Any]:
    """The banner's fields, for a started worker process of ``app``."""
    worker = app.worker
    settings = worker.settings if worker is not None else None
    return {
        "version": __version__,
        "app": app_label,
        "pid": os.getpid(),
        "worker_id": worker.worker_id if worker is not None else None,
        "backends": {
            _ROLE_LABELS[role]: describe_storage(app.stores.storage(role), app, role)
            for role in Role
        },
        "queues": list(settings.queues) if settings else list(app.queues),
        "concurrency": settings.concurrency if settings else 0,
        "worker_type": settings.worker_type if settings else None,
        "scheduler": scheduler,
    }


def print_banner(fields: dict[str, Any], *, as_json: bool, stream: TextIO | None = None) -> None:
    """One ``worker ready`` JSON line (``as_json``), or an aligned block for people."""
    if as_json:
        log.info("worker ready", **fields)
        return
    out = stream or sys.stderr
    kind = "worker" if fields["concurrency"] else "scheduler"
    lines = [f"omniq {fields['version']} {kind}  (pid {fields['pid']}, {fields['worker_id']})"]
    rows: list[tuple[str, str]] = [("app", fields["app"])]
    rows += [(label, where) for label, where in fields["backends"].items()]
    rows.append(("queues", ", ".join(fields["queues"])))
    if fields["concurrency"]:
        rows.append(("concurrency", f"{fields['concurrency']} ({fields['worker_type']})"))
    rows.append(("scheduler", "on" if fields["scheduler"] else "off"))
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    out.write("\n".join(lines) + "\n\n")
    out.flush()
