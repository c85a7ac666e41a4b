"""Fire times of cron (in time zones, across DST), interval and one-shot triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from omniq.errors import ValidationError
from omniq.models.schedule import TriggerKind
from omniq.scheduling import build_schedule, next_fire_time
from omniq.scheduling.triggers import ticks_through

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


def schedule(**trigger: object) -> object:
    return build_schedule(name="s", func="m:f", now=NOW, **trigger)  # type: ignore[arg-type]


def test_cron_fires_at_the_next_matching_minute() -> None:
    s = build_schedule(name="s", func="m:f", cron="*/5 * * * *", now=NOW)
    assert s.kind is TriggerKind.CRON
    assert s.next_fire_at == datetime(2026, 6, 1, 12, 5, tzinfo=UTC)
    assert next_fire_time(s, s.next_fire_at) == datetime(2026, 6, 1, 12, 10, tzinfo=UTC)


def test_cron_is_read_in_its_time_zone() -> None:
    s = build_schedule(name="s", func="m:f", cron="0 9 * * *", timezone="Europe/Berlin", now=NOW)
    assert s.next_fire_at == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 09:00 CEST


def test_cron_across_the_spring_forward_gap_fires_once_at_the_next_valid_time() -> None:
    s = build_schedule(name="s", func="m:f", cron="30 2 * * *", timezone="Europe/Berlin", now=NOW)
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    fired = next_fire_time(s, before)
    assert fired == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST: 02:30 did not exist
    assert next_fire_time(s, fired) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


def test_cron_across_the_fall_back_overlap_fires_once() -> None:
    s = build_schedule(name="s", func="m:f", cron="30 2 * * *", timezone="Europe/Berlin", now=NOW)
    first = next_fire_time(s, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first one
    assert next_fire_time(s, first) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # next day, CET


def test_interval_and_once() -> None:
    every = build_schedule(name="s", func="m:f", interval=90, now=NOW)
    assert every.next_fire_at == NOW + timedelta(seconds=90)
    late = NOW + timedelta(seconds=1000)
    assert next_fire_time(every, late) == NOW + timedelta(seconds=90 * 12)
    at = NOW + timedelta(hours=1)
    once = build_schedule(name="s", func="m:f", at=at, now=NOW)
    assert (once.kind, once.next_fire_at) == (TriggerKind.ONCE, at)
    assert next_fire_time(once, at) is None


def test_ticks_through_keeps_the_latest_missed_ticks() -> None:
    every = build_schedule(name="s", func="m:f", interval=60, now=NOW)
    ticks, following = ticks_through(every, NOW + timedelta(minutes=10, seconds=5), limit=3)
    assert ticks == [NOW + timedelta(minutes=m) for m in (8, 9, 10)]
    assert following == NOW + timedelta(minutes=11)


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"cron": "61 * * * *"}, "Invalid cron expression"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"interval": 0}, "Invalid interval"),
        ({"cron": "* * * * *", "interval": 5}, "exactly one trigger"),
        ({}, "exactly one trigger"),
    ],
)
def test_bad_triggers_are_refused_with_the_fix(trigger: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build_schedule(name="s", func="m:f", now=NOW, **trigger)  # type: ignore[arg-type]
