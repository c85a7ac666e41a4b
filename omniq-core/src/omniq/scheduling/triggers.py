"""Fire times of cron, interval and one-shot triggers.

Times are aware UTC datetimes everywhere; a cron expression is read in the schedule's IANA time
zone (cronsim walks local wall time, so across daylight-saving changes a local time that does not
exist fires once at the next valid minute, and one that happens twice fires once).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from omniq._time import UTC, as_utc
from omniq.errors import ValidationError
from omniq.models.schedule import Schedule, TriggerKind

__all__ = ["check_cron", "check_timezone", "next_fire_time", "ticks_through"]


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"Unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from exc


def check_cron(expression: str) -> str:
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as exc:
        raise ValidationError(
            f"Invalid cron expression {expression!r}: {exc}. Use five fields: minute hour "
            "day-of-month month day-of-week, e.g. '*/5 * * * *'"
        ) from exc
    return expression


def next_fire_time(schedule: Schedule, after: datetime) -> datetime | None:
    """The first tick of ``schedule`` strictly after ``after``; ``None`` if there is none."""
    after = as_utc(after)
    if schedule.kind is TriggerKind.CRON:
        assert schedule.cron is not None
        zone = check_timezone(schedule.timezone)
        local = after.astimezone(zone)
        return as_utc(next(CronSim(schedule.cron, local)))
    if schedule.kind is TriggerKind.INTERVAL:
        assert schedule.interval is not None
        step = timedelta(seconds=schedule.interval)
        anchor = schedule.next_fire_at or after
        if anchor > after:
            return anchor
        skipped = (after - anchor) // step
        return anchor + step * (skipped + 1)
    at = schedule.at
    return at if at is not None and at > after else None


def ticks_through(
    schedule: Schedule, now: datetime, *, limit: int
) -> tuple[list[datetime], datetime | None]:
    """The ticks from ``schedule.next_fire_at`` up to ``now`` (the latest ``limit`` of them),
    and the first tick after ``now``."""
    tick = schedule.next_fire_at
    if tick is None or tick > now:
        return [], tick
    if schedule.kind is TriggerKind.INTERVAL:
        assert schedule.interval is not None
        step = timedelta(seconds=schedule.interval)
        count = (now - tick) // step + 1
        return [tick + step * k for k in range(max(count - limit, 0), count)], tick + step * count
    if schedule.kind is TriggerKind.CRON and now - tick > timedelta(days=7):
        # long down: walk only the last week of ticks, not every minute since
        tick = next_fire_time(schedule, now - timedelta(days=7))
    ticks: deque[datetime] = deque(maxlen=limit)
    while tick is not None and tick <= now:
        ticks.append(tick)
        tick = next_fire_time(schedule, tick)
    return list(ticks), tick
