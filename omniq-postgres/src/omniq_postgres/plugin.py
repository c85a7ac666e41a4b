"""The ``postgres`` backend's hook implementations, registered through the entry point
(``postgresql`` is the core's alias of the name; ``postgresql://`` and ``postgres://`` URLs
select it)."""

from __future__ import annotations

from collections.abc import Iterator

from omniq.plugins.hookspecs import hookimpl
from omniq.plugins.specs import (
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    TaskQueueSpec,
)

from omniq_postgres.events import PostgresEventStorage
from omniq_postgres.options import SCHEMES, PostgresOptions
from omniq_postgres.results import PostgresResultStorage
from omniq_postgres.schedules import PostgresScheduleStorage
from omniq_postgres.task_queue import PostgresTaskQueue

NAME = "postgres"
ALIASES = {"url": "dsn", "user": "username", "dbname": "database", "db": "database"}


@hookimpl
def omniq_task_queues() -> Iterator[TaskQueueSpec]:
    yield TaskQueueSpec(
        name=NAME,
        factory=PostgresTaskQueue,
        url_schemes=SCHEMES,
        capabilities=PostgresTaskQueue.capabilities,
        options=PostgresOptions,
        option_aliases=ALIASES,
        description="Task queue on PostgreSQL (SKIP LOCKED claims, LISTEN/NOTIFY wake-ups)",
    )


@hookimpl
def omniq_result_storages() -> Iterator[ResultStorageSpec]:
    yield ResultStorageSpec(
        name=NAME,
        factory=PostgresResultStorage,
        url_schemes=SCHEMES,
        capabilities=PostgresResultStorage.capabilities,
        options=PostgresOptions,
        option_aliases=ALIASES,
        description="Results on PostgreSQL with TTL, waits woken by NOTIFY",
    )


@hookimpl
def omniq_event_storages() -> Iterator[EventStorageSpec]:
    yield EventStorageSpec(
        name=NAME,
        factory=PostgresEventStorage,
        url_schemes=SCHEMES,
        capabilities=PostgresEventStorage.capabilities,
        options=PostgresOptions,
        option_aliases=ALIASES,
        description="Event log on PostgreSQL, indexed by task and time, followed by NOTIFY",
    )


@hookimpl
def omniq_schedule_storages() -> Iterator[ScheduleStorageSpec]:
    yield ScheduleStorageSpec(
        name=NAME,
        factory=PostgresScheduleStorage,
        url_schemes=SCHEMES,
        capabilities=PostgresScheduleStorage.capabilities,
        options=PostgresOptions,
        option_aliases=ALIASES,
        description="Schedules on PostgreSQL, a unique row per fired tick",
    )
