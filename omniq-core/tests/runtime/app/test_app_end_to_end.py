"""The app with its in-process worker on the memory backend: results, failures, events,
refused functions, sync and async task functions, from the sync and the async API."""

from __future__ import annotations

import asyncio
import email.utils
from typing import Any

import pytest
from omniq import AsyncOmniQ, OmniQ, TaskFailedError
from omniq.models import EventType

pytestmark = pytest.mark.timeout(60)


def add(a: int, b: int) -> int:
    return a + b


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def explode(message: str) -> None:
    raise ValueError(message)


@pytest.fixture
def memory_app_kwargs() -> dict[str, Any]:
    return {"task_queue_url": "memory://", "workers": 4}


def test_sync_app_runs_tasks(memory_app_kwargs: dict[str, Any]) -> None:
    with OmniQ(**memory_app_kwargs) as oq:
        assert oq.get_result(oq.enqueue(add, 1, 2), timeout=10) == 3
        assert oq.get_result(oq.enqueue(async_add, 3, 4), timeout=10) == 7
        assert oq.get_result(oq.enqueue(lambda: "hello"), timeout=10) == "hello"


async def test_async_app_runs_tasks(memory_app_kwargs: dict[str, Any]) -> None:
    async with AsyncOmniQ(**memory_app_kwargs) as oq:

        @oq.task(max_retries=0)
        async def double(x: int) -> int:
            return 2 * x

        ids = [await double.delay(i) for i in range(20)]
        values = [await oq.get_result(t, timeout=10) for t in ids]
    assert values == [2 * i for i in range(20)]


def test_failures_carry_the_remote_error(memory_app_kwargs: dict[str, Any]) -> None:
    with OmniQ(**memory_app_kwargs) as oq:
        task_id = oq.enqueue(explode, "boom")
        with pytest.raises(TaskFailedError) as caught:
            oq.get_result(task_id, timeout=10)
        events = [e.event_type for e in oq.get_events(task_id)]
    error = caught.value
    assert error.error_type == "builtins.ValueError"
    assert error.error_message == "boom"
    assert "explode" in error.traceback
    assert events[0] == EventType.ENQUEUED
    assert EventType.STARTED in events
    assert events[-1] in (EventType.FAILED, EventType.DEAD_LETTERED)


def test_events_of_a_completed_task(memory_app_kwargs: dict[str, Any]) -> None:
    with OmniQ(**memory_app_kwargs) as oq:
        task_id = oq.enqueue(add, 2, 2)
        oq.get_result(task_id, timeout=10)
        events = oq.get_events(task_id)
    types = [e.event_type for e in events]
    assert types[0] == "enqueued"
    assert types[-1] == "completed"
    assert "started" in types
    started = next(e for e in events if e.event_type == "started")
    assert started.worker_id
    assert started.attempt == 1


def test_worker_refuses_functions_it_may_not_import(memory_app_kwargs: dict[str, Any]) -> None:
    from omniq.models import Task
    from omniq.runtime.codec import encode_call

    with OmniQ(**memory_app_kwargs) as oq:
        task = Task(func="os:system", payload=encode_call("json", ("true",), {}))
        future = asyncio.run_coroutine_threadsafe(oq.stores.task_queue.enqueue(task), oq.loop)
        future.result()
        with pytest.raises(TaskFailedError, match="os:system"):
            oq.get_result(task.id, timeout=10)
        events = oq.get_events(task.id)
    assert any(e.event_type == "dead_lettered" for e in events)


def test_many_threads_many_tasks(memory_app_kwargs: dict[str, Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with OmniQ(**memory_app_kwargs) as oq, ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: oq.enqueue(add, i, 1), range(400)))
        values = list(pool.map(lambda t: oq.get_result(t, timeout=30), ids))
    assert values == [i + 1 for i in range(400)]


def test_allowed_modules_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_ALLOWED_MODULES", "email.utils")
    with OmniQ(task_queue_url="memory://", workers=0) as oq:
        assert "email.utils" in oq.registry.allowed_modules
        assert oq.registry.resolve("email.utils:formatdate") is email.utils.formatdate
