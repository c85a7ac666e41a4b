"""The ``nats`` backend's hook implementations, registered through the entry point."""

from __future__ import annotations

from collections.abc import Iterator

from omniq.plugins.hookspecs import hookimpl
from omniq.plugins.specs import (
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    TaskQueueSpec,
)

from omniq_nats.events import NATSEventStorage
from omniq_nats.options import SCHEMES, NATSOptions
from omniq_nats.results import NATSResultStorage
from omniq_nats.schedules import NATSScheduleStorage
from omniq_nats.task_queue import NATSTaskQueue

NAME = "nats"
ALIASES = {"username": "user", "creds": "credentials", "prefix_name": "prefix"}


@hookimpl
def omniq_task_queues() -> Iterator[TaskQueueSpec]:
    yield TaskQueueSpec(
        name=NAME,
        factory=NATSTaskQueue,
        url_schemes=SCHEMES,
        capabilities=NATSTaskQueue.capabilities,
        options=NATSOptions,
        option_aliases=ALIASES,
        description="Task queue on NATS JetStream (work-queue stream, pull consumers, KV state)",
    )


@hookimpl
def omniq_result_storages() -> Iterator[ResultStorageSpec]:
    yield ResultStorageSpec(
        name=NAME,
        factory=NATSResultStorage,
        url_schemes=SCHEMES,
        capabilities=NATSResultStorage.capabilities,
        options=NATSOptions,
        option_aliases=ALIASES,
        description="Results in a NATS KV bucket with TTL, waits on a KV watch",
    )


@hookimpl
def omniq_event_storages() -> Iterator[EventStorageSpec]:
    yield EventStorageSpec(
        name=NAME,
        factory=NATSEventStorage,
        url_schemes=SCHEMES,
        capabilities=NATSEventStorage.capabilities,
        options=NATSOptions,
        option_aliases=ALIASES,
        description="Event log in a JetStream stream, a subject per task",
    )


@hookimpl
def omniq_schedule_storages() -> Iterator[ScheduleStorageSpec]:
    yield ScheduleStorageSpec(
        name=NAME,
        factory=NATSScheduleStorage,
        url_schemes=SCHEMES,
        capabilities=NATSScheduleStorage.capabilities,
        options=NATSOptions,
        option_aliases=ALIASES,
        description="Schedules in a NATS KV bucket, ticks claimed by revision compare-and-set",
    )
