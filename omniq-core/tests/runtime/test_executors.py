"""LocalExecutor: where a task function runs, and its timeout; both executors decode only with
the serializers they were given."""

from __future__ import annotations

import asyncio
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from omniq.errors import SerializerNotAllowedError
from omniq.models import Task
from omniq.runtime.codec import decode_value, encode_call
from omniq.runtime.executors import Executor, LocalExecutor
from omniq.runtime.process_pool import ProcessPoolExecutor

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


class Canary:
    """Unpickling it runs ``touch <path>``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def echo(*args: Any) -> Any:
    return list(args)


@pytest.mark.parametrize("kind", ["local", "process_pool"])
async def test_a_task_naming_a_serializer_not_given_is_not_decoded(
    kind: str, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    executor: Executor = LocalExecutor(1) if kind == "local" else ProcessPoolExecutor(1)
    payload = pickle.dumps([[Canary(canary)], {}])
    hostile = Task(func="tests:f", payload=payload, serializer="pickle")
    await executor.start()
    try:
        with pytest.raises(SerializerNotAllowedError, match="'pickle'"):
            await executor.run(echo, hostile, timeout=10)
    finally:
        await executor.close()
    assert not canary.exists()


async def test_a_serializer_given_is_used() -> None:
    executor = LocalExecutor(1, serializers=("pickle",))
    await executor.start()
    try:
        chosen = Task(func="tests:f", payload=pickle.dumps([[{1}], {}]), serializer="pickle")
        assert pickle.loads(await executor.run(echo, chosen, timeout=10)) == [{1}]
        with pytest.raises(SerializerNotAllowedError, match="'json'"):
            await executor.run(echo, task(1), timeout=10)
    finally:
        await executor.close()
