"""Schedules as schedule storage keeps them.

A schedule is a task template plus a trigger. The runtime computes fire times; storage keeps
``next_fire_at`` and records each fired tick so that, with many schedulers running, exactly one
of them fires it (see :meth:`ScheduleStorage.claim_tick`).
"""

from __future__ import annotations

import enum
from datetime import datetime

from attrs import field, frozen

from omniq import names
from omniq._time import as_utc, as_utc_or_none, utcnow
from omniq.models.task import DEFAULT_QUEUE

__all__ = ["MisfirePolicy", "Schedule", "TriggerKind"]


def _schedule_name(_: object, __: object, value: str) -> None:
    names.validate_schedule_name(value)


def _queue(_: object, __: object, value: str) -> None:
    names.validate_queue_name(value)


class TriggerKind(enum.StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    ONCE = "once"


class MisfirePolicy(enum.StrEnum):
    """What a scheduler does with ticks it missed (it was down, or late by more than the grace)."""

    SKIP = "skip"
    """Fire once for the latest missed tick if within the grace time, and drop the rest."""
    CATCH_UP = "catch_up"
    """Fire every missed tick that is within the grace time."""


@frozen(kw_only=True)
class Schedule:
    """A task template that fires on a trigger."""

    name: str = field(validator=_schedule_name)
    func: str
    payload: bytes = b""
    serializer: str = "json"
    kind: TriggerKind = field(converter=TriggerKind)
    cron: str | None = None
    timezone: str = "UTC"
    """IANA zone the cron expression is read in."""
    interval: float | None = None
    """Seconds between firings of an interval schedule."""
    at: datetime | None = field(default=None, converter=as_utc_or_none)
    """Fire time of a one-shot schedule."""
    queue: str = field(default=DEFAULT_QUEUE, validator=_queue)
    priority: int = 0
    max_retries: int = 0
    retry_backoff: float = 1.0
    timeout: float | None = None
    result_ttl: float | None = None
    headers: dict[str, str] = field(factory=dict)
    paused: bool = False
    next_fire_at: datetime | None = field(default=None, converter=as_utc_or_none)
    """The next tick to fire; ``None`` once a one-shot schedule has fired."""
    last_fired_at: datetime | None = field(default=None, converter=as_utc_or_none)
    misfire_policy: MisfirePolicy = field(default=MisfirePolicy.SKIP, converter=MisfirePolicy)
    misfire_grace: float = 60.0
    """Seconds after its tick within which a late firing still happens."""
    created_at: datetime = field(factory=utcnow, converter=as_utc)
    updated_at: datetime = field(factory=utcnow, converter=as_utc)
