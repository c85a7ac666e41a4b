"""The app's arguments are range-checked before anything is stored or waited for: enqueue options,
delays, result waits, schedules, shutdown grace and the constructor's settings."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any

import pytest
from omniq.errors import InvalidValueError
from omniq.runtime.async_app import AsyncOmniQ
from omniq.runtime.sync_app import OmniQ

NAN, INF = math.nan, math.inf


def add(a: int, b: int) -> int:
    return a + b


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("delay", 10**12, "a number of seconds from 0 to 315,360,000 (10 years)"),
        ("delay", NAN, "a number of seconds from 0 to 315,360,000 (10 years)"),
        ("delay", INF, "a number of seconds from 0 to 315,360,000 (10 years)"),
        ("delay", -1, "a number of seconds from 0 to 315,360,000 (10 years)"),
        ("delay", timedelta(days=10_000), "a number of seconds from 0 to 315,360,000 (10 years)"),
        ("timeout", NAN, "a number of seconds > 0 and at most 315,360,000 (10 years)"),
        ("timeout", 0, "a number of seconds > 0 and at most 315,360,000 (10 years)"),
        ("result_ttl", INF, "a number of seconds from 0 to 315,360,000 (10 years)"),
        ("retry_backoff", INF, "a number of seconds from 0 to 315,360,000 (10 years)"),
        ("max_retries", 10**9, "an integer from 0 to 10,000"),
        ("priority", 1000, "an integer from -100 to 100 (higher runs first)"),
    ],
)
def test_sync_enqueue_refuses_bad_options(
    plain_stores: dict[str, Any], option: str, value: object, allowed: str
) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        with pytest.raises(InvalidValueError) as err:
            oq.enqueue(add, 1, 2, **{option: value})
        assert err.value.field == option
        assert err.value.allowed == allowed
        assert str(err.value).startswith(f"Invalid {option} {value!r}: use {allowed}")
        assert plain_stores["task_queue"].infos == {}  # nothing was stored


async def test_async_enqueue_refuses_a_delay_that_overflows_datetimes(
    plain_stores: dict[str, Any],
) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        with pytest.raises(InvalidValueError, match=r"Invalid delay 1000000000000: use"):
            await oq.enqueue(add, 1, 2, delay=10**12)
        # the largest delay is accepted
        assert await oq.enqueue(add, 1, 2, delay=315_360_000)


def test_task_function_defaults_are_checked(plain_stores: dict[str, Any]) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        with pytest.raises(InvalidValueError, match="Invalid retry_backoff nan"):
            oq.task(retry_backoff=NAN)(add)
        with pytest.raises(InvalidValueError, match="Invalid timeout inf"):
            oq.task(timeout=INF)(add)


@pytest.mark.parametrize("timeout", [NAN, INF, -1, 10**12])
async def test_async_get_result_refuses_a_bad_timeout_at_once(
    plain_stores: dict[str, Any], timeout: float
) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(add, 1, 2)
        # a NaN timeout used to wait forever: the check must come before any wait
        with pytest.raises(InvalidValueError) as err:
            await asyncio.wait_for(oq.get_result(task_id, timeout=timeout), 10)
    assert err.value.field == "timeout"
    assert "or None for no time limit" in str(err.value)


@pytest.mark.parametrize("timeout", [NAN, INF, -1])
def test_sync_get_result_refuses_a_bad_timeout_at_once(
    plain_stores: dict[str, Any], timeout: float
) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        task_id = oq.enqueue(add, 1, 2)
        with pytest.raises(InvalidValueError, match=f"Invalid timeout {timeout!r}"):
            oq.get_result(task_id, timeout=timeout)
        with pytest.raises(InvalidValueError, match=f"Invalid timeout {timeout!r}"):
            oq.wait_result(task_id, timeout=timeout)


def test_get_result_still_times_out_for_a_valid_timeout(plain_stores: dict[str, Any]) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        task_id = oq.enqueue(add, 1, 2)
        with pytest.raises(TimeoutError):
            oq.get_result(task_id, timeout=0)
        with pytest.raises(TimeoutError):
            oq.get_result(task_id, timeout=timedelta(milliseconds=50))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("interval", "shown"),
    [
        (1e-6, "1e-06"),
        (0.5, "0.5"),
        (0, "0"),
        (NAN, "nan"),
        (INF, "inf"),
        (10**12, "1000000000000"),
    ],
)
def test_schedule_interval_is_at_least_one_second(
    plain_stores: dict[str, Any], interval: float, shown: str
) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        with pytest.raises(InvalidValueError) as err:
            oq.schedule(add, 1, 2, interval=interval)
        assert str(err.value).startswith(
            f"Invalid interval {shown}: use a number of seconds from 1 to 315,360,000 (10 years)"
        )
        assert oq.list_schedules() == []
        # one second is the documented minimum
        assert oq.schedule(add, 1, 2, interval=1).interval == 1.0
        assert oq.schedule(add, 1, 2, interval=timedelta(minutes=5)).interval == 300.0


@pytest.mark.parametrize("grace", [NAN, INF, -1])
def test_schedule_misfire_grace_is_checked(plain_stores: dict[str, Any], grace: float) -> None:
    with (
        OmniQ(workers=0, **plain_stores) as oq,
        pytest.raises(InvalidValueError, match=f"Invalid misfire_grace {grace!r}"),
    ):
        oq.schedule(add, 1, 2, interval=60, misfire_grace=grace)


def test_schedule_task_options_are_checked(plain_stores: dict[str, Any]) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        with pytest.raises(InvalidValueError, match="Invalid retry_backoff inf"):
            oq.schedule(add, 1, 2, interval=60, retry_backoff=INF)
        with pytest.raises(InvalidValueError, match="Invalid priority 500"):
            oq.schedule(add, 1, 2, interval=60, priority=500)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"result_ttl": NAN}, "result_ttl"),
        ({"result_ttl": -1}, "result_ttl"),
        ({"workers": -1}, "workers"),
        ({"workers": 10**6}, "workers"),
        ({"max_payload_size": 0}, "max_payload_size"),
        ({"max_payload_size": 2**40}, "max_payload_size"),
    ],
)
def test_app_constructor_checks_its_settings(
    plain_stores: dict[str, Any], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidValueError) as err:
        OmniQ(**kwargs, **plain_stores)
    assert err.value.field == field


def test_close_refuses_a_bad_grace_and_stays_open(plain_stores: dict[str, Any]) -> None:
    oq = OmniQ(workers=0, **plain_stores)
    task_id = oq.enqueue(add, 1, 2)
    with pytest.raises(InvalidValueError, match="Invalid grace nan"):
        oq.close(grace=NAN)
    assert oq.get_task(task_id) is not None  # still usable: nothing was shut down
    oq.close()


async def test_async_close_refuses_a_bad_grace(plain_stores: dict[str, Any]) -> None:
    oq = AsyncOmniQ(workers=0, **plain_stores)
    await oq.start()
    with pytest.raises(InvalidValueError, match="Invalid grace inf"):
        await oq.close(grace=INF)
    assert oq.running
    await oq.close()


def test_run_worker_concurrency_is_checked(plain_stores: dict[str, Any]) -> None:
    oq = AsyncOmniQ(workers=0, **plain_stores)
    with pytest.raises(InvalidValueError, match="Invalid workers -3"):
        asyncio.run(oq.run_worker(concurrency=-3, handle_signals=False))


@pytest.mark.parametrize("limit", [0, -1, 2**40, 1.5, True])
def test_listing_limits_are_checked(plain_stores: dict[str, Any], limit: object) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        with pytest.raises(InvalidValueError, match="use an integer from 1 to 2,147,483,647"):
            oq.query_events(limit=limit)  # type: ignore[arg-type]
        with pytest.raises(InvalidValueError, match=f"Invalid limit {limit!r}"):
            oq.list_tasks("default", limit=limit)  # type: ignore[arg-type]
