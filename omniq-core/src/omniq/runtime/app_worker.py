"""How an app starts its in-process worker and scheduler.

The worker (:class:`omniq.runtime.worker.Worker`) and the scheduler
(``omniq.scheduling.Scheduler``) are built by their own modules; this adapter hands them the app's
storages, event sink, function registry and settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from omniq.errors import ConfigurationError
from omniq.runtime.worker import Worker, WorkerSettings
from omniq.serialization.policy import allowed_serializers

if TYPE_CHECKING:
    from omniq.runtime.async_app import AsyncOmniQ
    from omniq.runtime.events_sink import EventSink
    from omniq.runtime.stores import Stores
    from omniq.scheduling import Scheduler

__all__ = ["make_scheduler", "make_worker", "worker_settings"]


def worker_settings(app: AsyncOmniQ, **overrides: Any) -> WorkerSettings:
    """The worker settings of ``app``: its queues and settings, then ``worker_options``, then
    ``overrides``."""
    s = app.settings
    values: dict[str, Any] = {
        "queues": tuple(app.queues),
        "concurrency": s.workers,
        "worker_type": s.worker_type,
        "lease_seconds": s.lease_seconds,
        "shutdown_grace": s.shutdown_grace,
        "result_ttl": s.result_ttl,
        "serializers": allowed_serializers(s.serializer),
    }
    values.update(s.worker_options)
    values.update(overrides)
    known = {a.alias or a.name for a in attrs.fields(WorkerSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigurationError(f"Unknown worker option(s) {unknown}: use any of {sorted(known)}")
    return WorkerSettings(**values)


def make_worker(app: AsyncOmniQ, stores: Stores, sink: EventSink) -> Worker:
    """The app's worker (not started)."""
    return Worker(
        stores.task_queue,
        stores.results,
        sink,
        app.registry,
        worker_settings(app),
    )


def make_scheduler(app: AsyncOmniQ, stores: Stores, sink: EventSink) -> Scheduler:
    """The app's scheduler loop (not started)."""
    from omniq.scheduling import Scheduler

    return Scheduler(stores.schedules, stores.task_queue, sink)
