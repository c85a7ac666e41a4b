"""Enqueueing: options, validation at enqueue, task functions, batches, threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from omniq.errors import (
    InvalidNameError,
    PayloadTooLargeError,
    SerializationError,
    ValidationError,
)
from omniq.models import EventType, TaskState
from omniq.runtime.async_app import AsyncOmniQ
from omniq.runtime.codec import decode_call
from omniq.runtime.registry import LOCAL_PREFIX, PICKLED_PREFIX
from omniq.runtime.sync_app import OmniQ
from omniq.runtime.task_function import call
from omniq.storage import Capability


def add(a: int, b: int) -> int:
    return a + b


def configure(*, timeout: float = 0, queue: str = "") -> tuple[float, str]:
    return timeout, queue


async def test_enqueue_stores_the_call_by_import_path(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(add, 1, b=2)
        info = await oq.get_task(task_id)
    assert info is not None
    assert info.task.func == f"{__name__}:add"
    assert decode_call("json", info.task.payload) == ((1,), {"b": 2})
    assert info.state is TaskState.PENDING
    assert info.task.queue == "default"


async def test_options_reach_the_task(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(
            add,
            1,
            2,
            queue="emails",
            priority=7,
            delay=timedelta(minutes=5),
            max_retries=3,
            retry_backoff=0.5,
            timeout=30,
            result_ttl=60,
        )
        info = await oq.get_task(task_id)
    assert info is not None
    task = info.task
    assert (task.queue, task.priority, task.max_retries) == ("emails", 7, 3)
    assert (task.retry_backoff, task.timeout, task.result_ttl) == (0.5, 30.0, 60.0)
    assert task.eta - task.enqueued_at == timedelta(minutes=5)


async def test_eta_and_task_id(plain_stores: dict[str, Any]) -> None:
    eta = datetime(2031, 1, 2, 3, 4, 5)  # naive: taken as UTC
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        first = await oq.enqueue(add, 1, 2, eta=eta, task_id="report-2031")
        again = await oq.enqueue(add, 5, 6, task_id="report-2031")
        info = await oq.get_task("report-2031")
        events = await oq.get_events("report-2031")
    assert first == again == "report-2031"
    assert info is not None
    assert info.task.eta == eta.replace(tzinfo=UTC)
    assert decode_call("json", info.task.payload) == ((1, 2), {})  # the duplicate changed nothing
    assert [e.event_type for e in events] == [EventType.ENQUEUED]


async def test_function_kwargs_named_like_options_go_in_kwargs(
    plain_stores: dict[str, Any],
) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(configure, kwargs={"timeout": 5, "queue": "x"}, queue="jobs")
        info = await oq.get_task(task_id)
        with pytest.raises(ValidationError, match="both directly and in kwargs"):
            await oq.enqueue(configure, kwargs={"b": 1}, b=2)
    assert info is not None
    assert decode_call("json", info.task.payload) == ((), {"timeout": 5, "queue": "x"})
    assert (info.task.timeout, info.task.queue) == (None, "jobs")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"queue": "bad queue"}, InvalidNameError, "queue name"),
        ({"queue": ""}, InvalidNameError, "queue name"),
        ({"queue": ["a"]}, InvalidNameError, "queue name"),
        ({"queue": "../etc"}, InvalidNameError, "queue name"),
        ({"task_id": "a:b"}, InvalidNameError, "task id"),
        ({"priority": 1000}, ValidationError, "priority"),
        ({"delay": -1}, ValidationError, "delay"),
        ({"delay": 1, "eta": datetime.now(UTC)}, ValidationError, "either delay or eta"),
        ({"eta": "tomorrow"}, ValidationError, "eta"),
        ({"max_retries": -1}, ValidationError, "max_retries"),
        ({"timeout": 0}, ValidationError, "timeout"),
        ({"result_ttl": float("nan")}, ValidationError, "result_ttl"),
    ],
)
async def test_bad_options_fail_at_enqueue_and_store_nothing(
    plain_stores: dict[str, Any], options: dict[str, Any], error: type[Exception], match: str
) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        with pytest.raises(error, match=match):
            await oq.enqueue(add, 1, 2, **options)
    assert plain_stores["task_queue"].infos == {}
    assert plain_stores["event_storage"].events == []


async def test_payload_limit_and_unserializable_arguments(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, max_payload_size=100, **plain_stores) as oq:
        with pytest.raises(PayloadTooLargeError, match="over the limit of 100 bytes"):
            await oq.enqueue(add, "x" * 200, "y")
        with pytest.raises(SerializationError, match="json"):
            await oq.enqueue(add, object(), 1)
        await oq.enqueue(add, "x" * 50, "y")
    assert len(plain_stores["task_queue"].infos) == 1


async def test_lambdas_need_no_serialization_in_process(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        task_id = await oq.enqueue(lambda: "hello")
        info = await oq.get_task(task_id)
    assert info is not None
    assert info.task.func.startswith(LOCAL_PREFIX)
    assert oq.registry.resolve(info.task.func)() == "hello"


async def test_lambdas_refused_when_the_task_must_cross_processes(
    shared_stores: dict[str, Any],
) -> None:
    async with AsyncOmniQ(workers=0, **shared_stores) as oq:
        with pytest.raises(SerializationError, match="no import path"):
            await oq.enqueue(lambda: "hello")

        def closure() -> int:
            return 1

        with pytest.raises(SerializationError, match="pickle serializer"):
            await oq.enqueue(closure)
        await oq.enqueue(add, 1, 2)  # module-level functions are fine
    assert len(shared_stores["task_queue"].infos) == 1


async def test_pickle_ships_lambdas_across_processes(shared_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, serializer="pickle", **shared_stores) as oq:
        task_id = await oq.enqueue(lambda x: x * 2, 21)
        info = await oq.get_task(task_id)
    assert info is not None
    assert info.task.func.startswith(PICKLED_PREFIX)


async def test_task_decorator(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:

        @oq.task(queue="math", max_retries=2, name="math.multiply")
        def multiply(a: int, b: int) -> int:
            return a * b

        assert multiply(3, 4) == 12  # calling runs it here
        first = await multiply.delay(3, 4)
        second = await multiply.send(5, b=6)
        third = await multiply.enqueue(7, 8, priority=9, queue="urgent")
        infos = [await oq.get_task(t) for t in (first, second, third)]
    tasks = [i.task for i in infos if i is not None]
    assert [t.func for t in tasks] == ["math.multiply"] * 3
    assert [t.queue for t in tasks] == ["math", "math", "urgent"]
    assert [t.max_retries for t in tasks] == [2, 2, 2]
    assert tasks[2].priority == 9
    assert decode_call("json", tasks[1].payload) == ((5,), {"b": 6})


async def test_enqueue_many(plain_stores: dict[str, Any]) -> None:
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:

        @oq.task
        def double(x: int) -> int:
            return 2 * x

        ids = await oq.enqueue_many(
            [
                (add, (1, 2)),
                (add, (1,), {"b": 2}, {"queue": "other"}),
                call(add, 3, 4, priority=5),
                double.call(21),
            ]
        )
        infos = [await oq.get_task(t) for t in ids]
        events = await oq.query_events(event_types=["enqueued"])
        with pytest.raises(ValidationError, match="Invalid call"):
            await oq.enqueue_many([add])  # type: ignore[list-item]
    assert len(set(ids)) == 4
    assert [i.task.queue for i in infos if i] == ["default", "other", "default", "default"]
    assert infos[2] is not None
    assert infos[2].task.priority == 5
    assert sorted(e.task_id for e in events) == sorted(ids)


def test_sync_api_from_several_threads(plain_stores: dict[str, Any]) -> None:
    ids: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    with OmniQ(workers=0, **plain_stores) as oq:

        def produce(n: int) -> None:
            try:
                mine = [oq.enqueue(add, n, i) for i in range(200)]
                mine += oq.enqueue_many([(add, (n, i)) for i in range(50)])
                with lock:
                    ids.extend(mine)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        events = oq.query_events(event_types=[EventType.ENQUEUED], limit=10_000)
    assert errors == []
    assert len(ids) == len(set(ids)) == 8 * 250
    assert set(plain_stores["task_queue"].infos) == set(ids)
    assert sorted(e.task_id for e in events) == sorted(ids)


def test_sync_api_without_a_sync_producer_hops_to_the_loop(
    plain_stores: dict[str, Any],
) -> None:
    class AsyncOnlyQueue(type(plain_stores["task_queue"])):  # type: ignore[misc]
        capabilities: frozenset[Capability] = frozenset()

    plain_stores["task_queue"] = AsyncOnlyQueue()
    with OmniQ(workers=0, **plain_stores) as oq:
        assert oq.async_app._producer is None
        task_id = oq.enqueue(add, 1, 2)
        ids = oq.enqueue_many([(add, (3, 4))])
        assert [e.event_type for e in oq.get_events(task_id)] == [EventType.ENQUEUED]
    assert set(plain_stores["task_queue"].infos) == {task_id, *ids}


def test_events_buffered_at_close_are_stored(plain_stores: dict[str, Any]) -> None:
    with OmniQ(workers=0, **plain_stores) as oq:
        ids = [oq.enqueue(add, i, i) for i in range(500)]
    stored = {e.task_id for e in plain_stores["event_storage"].events}
    assert stored == set(ids)
