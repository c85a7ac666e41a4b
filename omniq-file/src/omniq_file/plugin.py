"""The ``file`` backend's hook implementations, registered through the entry point."""

from __future__ import annotations

from collections.abc import Iterator

from omniq.plugins.hookspecs import hookimpl
from omniq.plugins.specs import (
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    TaskQueueSpec,
)

from omniq_file.events import FileEventStorage
from omniq_file.options import FileOptions
from omniq_file.results import FileResultStorage
from omniq_file.schedules import FileScheduleStorage
from omniq_file.task_queue import FileTaskQueue

NAME = "file"
SCHEMES = ("file",)


@hookimpl
def omniq_task_queues() -> Iterator[TaskQueueSpec]:
    yield TaskQueueSpec(
        name=NAME,
        factory=FileTaskQueue,
        url_schemes=SCHEMES,
        capabilities=FileTaskQueue.capabilities,
        options=FileOptions,
        description="Task queue in files (atomic renames on local disks)",
    )


@hookimpl
def omniq_result_storages() -> Iterator[ResultStorageSpec]:
    yield ResultStorageSpec(
        name=NAME,
        factory=FileResultStorage,
        url_schemes=SCHEMES,
        capabilities=FileResultStorage.capabilities,
        options=FileOptions,
        description="Results in files",
    )


@hookimpl
def omniq_event_storages() -> Iterator[EventStorageSpec]:
    yield EventStorageSpec(
        name=NAME,
        factory=FileEventStorage,
        url_schemes=SCHEMES,
        capabilities=FileEventStorage.capabilities,
        options=FileOptions,
        description="Event log in files, bucketed by hour and task",
    )


@hookimpl
def omniq_schedule_storages() -> Iterator[ScheduleStorageSpec]:
    yield ScheduleStorageSpec(
        name=NAME,
        factory=FileScheduleStorage,
        url_schemes=SCHEMES,
        capabilities=FileScheduleStorage.capabilities,
        options=FileOptions,
        description="Schedules in files, ticks claimed by exclusive creation",
    )
