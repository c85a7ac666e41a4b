"""The hook implementations: the ``example`` backend provides all four roles."""

from __future__ import annotations

from collections.abc import Iterator

from omniq import hookimpl
from omniq.plugins.specs import (
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    TaskQueueSpec,
)

from omniq_example_backend.options import ExampleOptions
from omniq_example_backend.storage import (
    ExampleEventStorage,
    ExampleResultStorage,
    ExampleScheduleStorage,
    ExampleTaskQueue,
)

NAME = "example"
SCHEMES = ("example",)


@hookimpl
def omniq_task_queues() -> Iterator[TaskQueueSpec]:
    yield TaskQueueSpec(
        name=NAME,
        factory=ExampleTaskQueue,
        url_schemes=SCHEMES,
        capabilities=ExampleTaskQueue.capabilities,
        options=ExampleOptions,
        description="In-process task queue (dicts under a lock)",
    )


@hookimpl
def omniq_result_storages() -> Iterator[ResultStorageSpec]:
    yield ResultStorageSpec(
        name=NAME,
        factory=ExampleResultStorage,
        url_schemes=SCHEMES,
        capabilities=ExampleResultStorage.capabilities,
        options=ExampleOptions,
        description="In-process result storage",
    )


@hookimpl
def omniq_event_storages() -> Iterator[EventStorageSpec]:
    yield EventStorageSpec(
        name=NAME,
        factory=ExampleEventStorage,
        url_schemes=SCHEMES,
        capabilities=ExampleEventStorage.capabilities,
        options=ExampleOptions,
        description="In-process event log",
    )


@hookimpl
def omniq_schedule_storages() -> Iterator[ScheduleStorageSpec]:
    yield ScheduleStorageSpec(
        name=NAME,
        factory=ExampleScheduleStorage,
        url_schemes=SCHEMES,
        capabilities=ExampleScheduleStorage.capabilities,
        options=ExampleOptions,
        description="In-process schedules",
    )
