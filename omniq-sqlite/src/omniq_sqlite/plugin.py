"""The ``sqlite`` backend's hook implementations, registered through the entry point."""

from __future__ import annotations

from collections.abc import Iterator

from omniq.plugins.hookspecs import hookimpl
from omniq.plugins.specs import (
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    TaskQueueSpec,
)

from omniq_sqlite.events import SQLiteEventStorage
from omniq_sqlite.options import SQLiteOptions
from omniq_sqlite.results import SQLiteResultStorage
from omniq_sqlite.schedules import SQLiteScheduleStorage
from omniq_sqlite.task_queue import SQLiteTaskQueue

NAME = "sqlite"
ALIASES = {"db_path": "database_path"}
SCHEMES = ("sqlite",)


@hookimpl
def omniq_task_queues() -> Iterator[TaskQueueSpec]:
    yield TaskQueueSpec(
        name=NAME,
        factory=SQLiteTaskQueue,
        url_schemes=SCHEMES,
        capabilities=SQLiteTaskQueue.capabilities,
        options=SQLiteOptions,
        option_aliases=ALIASES,
        description="Task queue in an SQLite file, safe across processes",
    )


@hookimpl
def omniq_result_storages() -> Iterator[ResultStorageSpec]:
    yield ResultStorageSpec(
        name=NAME,
        factory=SQLiteResultStorage,
        url_schemes=SCHEMES,
        capabilities=SQLiteResultStorage.capabilities,
        options=SQLiteOptions,
        option_aliases=ALIASES,
        description="Results in an SQLite file",
    )


@hookimpl
def omniq_event_storages() -> Iterator[EventStorageSpec]:
    yield EventStorageSpec(
        name=NAME,
        factory=SQLiteEventStorage,
        url_schemes=SCHEMES,
        capabilities=SQLiteEventStorage.capabilities,
        options=SQLiteOptions,
        option_aliases=ALIASES,
        description="Event log in an SQLite file, indexed by task, type and time",
    )


@hookimpl
def omniq_schedule_storages() -> Iterator[ScheduleStorageSpec]:
    yield ScheduleStorageSpec(
        name=NAME,
        factory=SQLiteScheduleStorage,
        url_schemes=SCHEMES,
        capabilities=SQLiteScheduleStorage.capabilities,
        options=SQLiteOptions,
        option_aliases=ALIASES,
        description="Schedules in an SQLite file, ticks claimed atomically",
    )
