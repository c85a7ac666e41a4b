"""The app's side of scheduling: validating a schedule definition and storing it.

Trigger arithmetic (cron in a time zone, intervals, misfires) belongs to :mod:`omniq.scheduling`;
this module turns ``oq.schedule(func, *args, cron=..., ...)`` into a stored
:class:`~omniq.models.Schedule` through ``omniq.scheduling.build_schedule``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from omniq import names
from omniq.errors import ValidationError
from omniq.models.schedule import Schedule
from omniq.storage import Capability, Role

if TYPE_CHECKING:
    from omniq.runtime.async_app import AsyncOmniQ
    from omniq.runtime.stores import Stores

__all__ = ["build_app_schedule", "default_schedule_name"]

_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def default_schedule_name(func: Callable[..., Any]) -> str:
    """A schedule name from the function's qualified name (``Report.weekly``: ``Report-weekly``)."""
    raw = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or "schedule"
    name = _NOT_NAME.sub("-", str(raw)).strip("-_")[: names.MAX_NAME_LENGTH] or "schedule"
    return name if name[0].isalnum() else f"s{name}"[: names.MAX_NAME_LENGTH]


async def build_app_schedule(
    app: AsyncOmniQ,
    stores: Stores,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    cron: str | None,
    interval: float | timedelta | None,
    at: datetime | None,
    name: str | None,
    timezone: str,
    options: Mapping[str, Any],
    misfire_policy: str | None,
    misfire_grace: float | None,
    paused: bool | None,
) -> Schedule:
    if sum(x is not None for x in (cron, interval, at)) != 1:
        raise ValidationError("Give exactly one trigger: cron=, interval= or at=")
    schedule_name = names.validate_schedule_name(
        name if name is not None else default_schedule_name(func)
    )
    given = {k: v for k, v in options.items() if v is not None}
    # Schedules are stored and may fire in any scheduler: the function must be findable there.
    persistent = bool(
        stores.capabilities[Role.SCHEDULE_STORAGE]
        & {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )
    task = app.prepare(func, args, kwargs, given, cross_process=True if persistent else None)
    from omniq.scheduling import build_schedule

    fields: dict[str, Any] = {
        "name": schedule_name,
        "func": task.func,
        "payload": task.payload,
        "serializer": task.serializer,
        "cron": cron,
        "interval": interval.total_seconds() if isinstance(interval, timedelta) else interval,
        "at": at,
        "timezone": timezone,
        "queue": task.queue,
        "priority": task.priority,
        "max_retries": task.max_retries,
        "retry_backoff": task.retry_backoff,
        "timeout": task.timeout,
        "result_ttl": task.result_ttl,
    }
    if misfire_policy is not None:
        fields["misfire_policy"] = misfire_policy
    if misfire_grace is not None:
        fields["misfire_grace"] = misfire_grace
    schedule: Schedule = build_schedule(**fields)
    existing = await stores.schedules.get(schedule_name)
    if existing is not None:
        same_trigger = (existing.kind, existing.cron, existing.interval, existing.at) == (
            schedule.kind,
            schedule.cron,
            schedule.interval,
            schedule.at,
        ) and existing.timezone == schedule.timezone
        schedule = attrs.evolve(
            schedule,
            paused=existing.paused if paused is None else paused,
            last_fired_at=existing.last_fired_at,
            next_fire_at=existing.next_fire_at if same_trigger else schedule.next_fire_at,
            created_at=existing.created_at,
        )
    elif paused is not None:
        schedule = attrs.evolve(schedule, paused=paused)
    await stores.schedules.add(schedule)
    return schedule
