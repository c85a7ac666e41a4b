"""LocalExecutor: where a task function runs, and its timeout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from omniq.models import Task
from omniq.runtime.codec import decode_value, encode_call
from omniq.runtime.executors import LocalExecutor

pytestmark = pytest.mark.timeout(30)


def task(*args: Any) -> Task:
    return Task(func="tests:f", payload=encode_call("json", args, {}))


async def slowly(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "late"


def returns_a_coroutine(seconds: float) -> Any:
    return slowly(seconds)  # a plain function (a wrapper, a decorator) handing back a coroutine


class AsyncCallable:
    async def __call__(self, seconds: float) -> str:
        return await slowly(seconds)


@pytest.mark.parametrize("func", [returns_a_coroutine, AsyncCallable()])
async def test_the_timeout_covers_an_awaitable_a_function_returns(func: Any) -> None:
    executor = LocalExecutor(2)
    await executor.start()
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await executor.run(func, task(3), timeout=0.3)
        assert time.monotonic() - started < 2
        assert decode_value("json", await executor.run(func, task(0.01), timeout=5)) == "late"
    finally:
        await executor.close()


def finds_nothing() -> int:
    return next(n for n in range(3) if n > 5)  # raises StopIteration


async def test_a_function_raising_stop_iteration_fails_instead_of_hanging() -> None:
    executor = LocalExecutor(2)
    await executor.start()
    try:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(executor.run(finds_nothing, task(), timeout=None), 5)
    finally:
        await executor.close()
