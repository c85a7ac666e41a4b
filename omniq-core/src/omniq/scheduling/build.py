"""Building a valid :class:`~omniq.models.Schedule` from a trigger definition."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from omniq import _validate as check
from omniq._time import as_utc, utcnow
from omniq.errors import ValidationError
from omniq.models.schedule import Schedule, TriggerKind
from omniq.scheduling.triggers import check_cron, check_timezone, next_fire_time

__all__ = ["build_schedule"]


def build_schedule(
    *,
    cron: str | None = None,
    interval: float | None = None,
    at: datetime | None = None,
    timezone: str = "UTC",
    now: datetime | None = None,
    **fields: Any,
) -> Schedule:
    """A schedule with exactly one trigger, checked, and its first fire time set."""
    if sum(x is not None for x in (cron, interval, at)) != 1:
        raise ValidationError("Give exactly one trigger: cron=, interval= or at=")
    check_timezone(timezone)
    now = utcnow() if now is None else as_utc(now)
    if cron is not None:
        kind = TriggerKind.CRON
        check_cron(cron)
    elif interval is not None:
        kind = TriggerKind.INTERVAL
        interval = check.seconds(
            "interval",
            interval,
            minimum=check.MIN_SCHEDULE_INTERVAL,
            hint=" (schedulers look for due ticks twice a second)",
        )
    else:
        kind = TriggerKind.ONCE
    if "misfire_grace" in fields:
        fields["misfire_grace"] = check.seconds("misfire_grace", fields["misfire_grace"])
    schedule = Schedule(kind=kind, cron=cron, interval=interval, at=at, timezone=timezone, **fields)
    if kind is TriggerKind.ONCE:
        first = schedule.at
    elif kind is TriggerKind.INTERVAL:
        assert interval is not None
        first = next_fire_time(attrs.evolve(schedule, next_fire_at=now), now)
    else:
        first = next_fire_time(schedule, now)
    return attrs.evolve(schedule, next_fire_at=first)
