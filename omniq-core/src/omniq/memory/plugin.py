"""The ``memory`` backend's hook implementations: the core registers it like any plugin."""

from __future__ import annotations

from collections.abc import Iterator

from omniq.memory.events import MemoryEventStorage
from omniq.memory.options import MemoryOptions
from omniq.memory.results import MemoryResultStorage
from omniq.memory.schedules import MemoryScheduleStorage
from omniq.memory.task_queue import MemoryTaskQueue
from omniq.plugins.hookspecs import hookimpl
from omniq.plugins.specs import (
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    TaskQueueSpec,
)

NAME = "memory"
SCHEMES = ("memory",)


@hookimpl
def omniq_task_queues() -> Iterator[TaskQueueSpec]:
    yield TaskQueueSpec(
        name=NAME,
        factory=MemoryTaskQueue,
        url_schemes=SCHEMES,
        capabilities=MemoryTaskQueue.capabilities,
        options=MemoryOptions,
        description="Task queue in this process's memory (heaps under a lock)",
    )


@hookimpl
def omniq_result_storages() -> Iterator[ResultStorageSpec]:
    yield ResultStorageSpec(
        name=NAME,
        factory=MemoryResultStorage,
        url_schemes=SCHEMES,
        capabilities=MemoryResultStorage.capabilities,
        options=MemoryOptions,
        description="Results in this process's memory",
    )


@hookimpl
def omniq_event_storages() -> Iterator[EventStorageSpec]:
    yield EventStorageSpec(
        name=NAME,
        factory=MemoryEventStorage,
        url_schemes=SCHEMES,
        capabilities=MemoryEventStorage.capabilities,
        options=MemoryOptions,
        description="Event log in this process's memory, pushed to subscribers",
    )


@hookimpl
def omniq_schedule_storages() -> Iterator[ScheduleStorageSpec]:
    yield ScheduleStorageSpec(
        name=NAME,
        factory=MemoryScheduleStorage,
        url_schemes=SCHEMES,
        capabilities=MemoryScheduleStorage.capabilities,
        options=MemoryOptions,
        description="Schedules in this process's memory",
    )
