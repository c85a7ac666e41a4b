"""The hooks a backend plugin implements: one per storage role.

Each hook *describes* storages by yielding spec records; none is ever called per operation
(enqueueing or claiming never goes through the plugin manager). A plugin module is named by an
entry point in the ``omniq.backends`` group whose name is the backend's name::

    [project.entry-points."omniq.backends"]
    mybackend = "omniq_mybackend.plugin"

and that module implements any of these hooks with :data:`omniq.hookimpl`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from omniq.plugins.specs import (
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    TaskQueueSpec,
)

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "omniq"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def omniq_task_queues() -> Iterable[TaskQueueSpec]:  # type: ignore[empty-body]
    """Yield a :class:`~omniq.plugins.specs.TaskQueueSpec` for each task queue the plugin offers."""


@hookspec
def omniq_result_storages() -> Iterable[ResultStorageSpec]:  # type: ignore[empty-body]
    """Yield a :class:`~omniq.plugins.specs.ResultStorageSpec` for each result storage offered."""


@hookspec
def omniq_event_storages() -> Iterable[EventStorageSpec]:  # type: ignore[empty-body]
    """Yield an :class:`~omniq.plugins.specs.EventStorageSpec` for each event storage offered."""


@hookspec
def omniq_schedule_storages() -> Iterable[ScheduleStorageSpec]:  # type: ignore[empty-body]
    """Yield a :class:`~omniq.plugins.specs.ScheduleStorageSpec` per schedule storage offered."""
