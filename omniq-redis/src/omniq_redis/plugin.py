"""The ``redis`` backend's hook implementations, registered through the entry point."""

from __future__ import annotations

from collections.abc import Iterator

from omniq.plugins.hookspecs import hookimpl
from omniq.plugins.specs import (
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    TaskQueueSpec,
)

from omniq_redis.events import RedisEventStorage
from omniq_redis.options import RedisOptions
from omniq_redis.results import RedisResultStorage
from omniq_redis.schedules import RedisScheduleStorage
from omniq_redis.task_queue import RedisTaskQueue

NAME = "redis"
ALIASES = {"database": "db"}
SCHEMES = ("redis", "rediss", "unix")


@hookimpl
def omniq_task_queues() -> Iterator[TaskQueueSpec]:
    yield TaskQueueSpec(
        name=NAME,
        factory=RedisTaskQueue,
        url_schemes=SCHEMES,
        capabilities=RedisTaskQueue.capabilities,
        options=RedisOptions,
        option_aliases=ALIASES,
        description="Task queue on redis-server (Lua-atomic claims, pub/sub wake-ups)",
    )


@hookimpl
def omniq_result_storages() -> Iterator[ResultStorageSpec]:
    yield ResultStorageSpec(
        name=NAME,
        factory=RedisResultStorage,
        url_schemes=SCHEMES,
        capabilities=RedisResultStorage.capabilities,
        options=RedisOptions,
        option_aliases=ALIASES,
        description="Results on redis-server with native TTL",
    )


@hookimpl
def omniq_event_storages() -> Iterator[EventStorageSpec]:
    yield EventStorageSpec(
        name=NAME,
        factory=RedisEventStorage,
        url_schemes=SCHEMES,
        capabilities=RedisEventStorage.capabilities,
        options=RedisOptions,
        option_aliases=ALIASES,
        description="Event log on redis-server, followed through a stream",
    )


@hookimpl
def omniq_schedule_storages() -> Iterator[ScheduleStorageSpec]:
    yield ScheduleStorageSpec(
        name=NAME,
        factory=RedisScheduleStorage,
        url_schemes=SCHEMES,
        capabilities=RedisScheduleStorage.capabilities,
        options=RedisOptions,
        option_aliases=ALIASES,
        description="Schedules on redis-server, ticks claimed by Lua compare-and-set",
    )
