"""How an app starts its in-process worker and scheduler.

The worker (``omniq.runtime.worker.Worker``) and the scheduler (``omniq.scheduling.Scheduler``)
are built by their own modules; this adapter hands them the app's storages, event sink, function
registry and settings, by the parameter names their constructors declare.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from omniq.runtime.async_app import AsyncOmniQ
    from omniq.runtime.events_sink import EventSink
    from omniq.runtime.stores import Stores

__all__ = ["make_scheduler", "make_worker"]


def _settings_for(cls: Any, values: Mapping[str, Any]) -> Any:
    """An instance of the settings class ``cls`` from the ``values`` it has fields for."""
    if attrs.has(cls):
        names = {a.alias if a.alias else a.name for a in attrs.fields(cls) if a.init}
    else:
        names = set(inspect.signature(cls).parameters)
    return cls(**{k: v for k, v in values.items() if k in names})


def _call_with(factory: Any, offered: Mapping[str, Any]) -> Any:
    """Call ``factory`` with the offered keyword arguments its signature accepts."""
    parameters = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return factory(**offered)
    return factory(**{k: v for k, v in offered.items() if k in parameters})


def _wants_sink(factory: Any, name: str) -> bool:
    parameter = inspect.signature(factory).parameters.get(name)
    return parameter is not None and "EventSink" in str(parameter.annotation)


def _setting_values(app: AsyncOmniQ) -> dict[str, Any]:
    s = app.settings
    values: dict[str, Any] = {
        "concurrency": s.workers,
        "workers": s.workers,
        "worker_type": s.worker_type,
        "queues": tuple(app.queues),
        "lease_seconds": s.lease_seconds,
        "shutdown_grace": s.shutdown_grace,
        "serializer": s.serializer,
        "result_ttl": s.result_ttl,
        "default_ttl": s.result_ttl,
    }
    values.update(s.worker_options)
    return values


def make_worker(app: AsyncOmniQ, stores: Stores, sink: EventSink) -> Any:
    """The app's worker (not started)."""
    from omniq.runtime import worker as worker_module

    worker_cls = worker_module.Worker
    values = _setting_values(app)
    settings_cls = getattr(worker_module, "WorkerSettings", None)
    offered: dict[str, Any] = {
        "queue": stores.task_queue,
        "task_queue": stores.task_queue,
        "results": stores.results,
        "result_storage": stores.results,
        "schedules": stores.schedules,
        "schedule_storage": stores.schedules,
        "event_sink": sink,
        "sink": sink,
        "registry": app.registry,
        "config": app.config,
        **values,
    }
    offered["events"] = sink if _wants_sink(worker_cls, "events") else stores.events
    offered["event_storage"] = stores.events
    if settings_cls is not None:
        offered["settings"] = _settings_for(settings_cls, values)
    return _call_with(worker_cls, offered)


def make_scheduler(app: AsyncOmniQ, stores: Stores) -> Any:
    """The app's scheduler loop (not started), or ``None`` when scheduling is not available."""
    try:
        from omniq import scheduling
    except ImportError:
        return None
    scheduler_cls = getattr(scheduling, "Scheduler", None)
    if scheduler_cls is None:
        return None
    offered: dict[str, Any] = {
        "schedules": stores.schedules,
        "schedule_storage": stores.schedules,
        "queue": stores.task_queue,
        "task_queue": stores.task_queue,
        "events": stores.events,
        "event_sink": app.event_sink,
        "config": app.config,
    }
    if _wants_sink(scheduler_cls, "events"):
        offered["events"] = app.event_sink
    return _call_with(scheduler_cls, offered)
