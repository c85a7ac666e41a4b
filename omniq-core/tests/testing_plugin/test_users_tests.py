"""A user's test module, written as docs/testing.md shows: the fixtures of
omniq.testing.pytest_plugin (opted in below) test tasks without a worker process or a server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from omniq import OmniQ, TaskFailedError

if TYPE_CHECKING:
    from omniq.testing.pytest_plugin import TaskWaiter

pytest_plugins = ["omniq.testing.pytest_plugin"]


shop = OmniQ(workers=0)  # the user's own app, made at import; never started here


@shop.task(max_retries=1)
def double(value: int) -> int:
    return value * 2


def add(a: int, b: int) -> int:
    return a + b


def refuse(order_id: int) -> None:
    raise ValueError(f"order {order_id} is not paid")


def test_an_app_without_a_worker_keeps_the_task_queued(omniq_app: OmniQ) -> None:
    task_id = omniq_app.enqueue(add, 1, 2)

    assert omniq_app.status(task_id) == "pending"
    assert omniq_app.get_task_result(task_id) is None


def test_the_worker_fixture_runs_it(
    omniq_app: OmniQ, omniq_worker: object, omniq_wait: TaskWaiter
) -> None:
    task_id = omniq_app.enqueue(add, 2, 3)

    assert omniq_wait.result(task_id) == 5
    kinds = [event.event_type.value for event in omniq_wait.events(task_id)]
    assert kinds == ["enqueued", "started", "completed"]


def test_waiting_for_a_failure(
    omniq_app: OmniQ, omniq_worker: object, omniq_wait: TaskWaiter
) -> None:
    task_id = omniq_app.enqueue(refuse, 7)

    events = omniq_wait.events(task_id, until="dead_lettered")
    assert events[-1].event_type.value == "dead_lettered"
    with pytest.raises(TaskFailedError, match="order 7 is not paid"):
        omniq_wait.result(task_id)


def test_waiting_without_a_worker_says_so(omniq_app: OmniQ, omniq_wait: TaskWaiter) -> None:
    task_id = omniq_app.enqueue(add, 1, 1)

    with pytest.raises(TimeoutError, match="omniq_worker"):
        omniq_wait.events(task_id, timeout=0.2)


def test_the_eager_app_runs_at_enqueue(omniq_eager_app: OmniQ) -> None:
    task_id = omniq_eager_app.enqueue(add, 20, 22)

    assert omniq_eager_app.get_result(task_id, timeout=0) == 42
    failed = omniq_eager_app.enqueue(refuse, 9)  # the task's error does not raise here
    with pytest.raises(TaskFailedError, match="order 9 is not paid"):
        omniq_eager_app.get_result(failed)


@pytest.fixture
def omniq_app_options() -> dict[str, object]:
    return {"queues": ["default", "emails"]}


def test_options_reach_the_apps(omniq_app: OmniQ, omniq_worker: object) -> None:
    task_id = omniq_app.enqueue(add, 1, 2, queue="emails")

    assert omniq_app.get_result(task_id, timeout=10) == 3


def test_the_plugin_is_not_loaded_unless_asked_for() -> None:
    from importlib.metadata import entry_points

    assert [ep for ep in entry_points(group="pytest11") if "omniq" in ep.value] == []


def test_a_task_of_the_users_own_app_runs_on_the_fixtures_app(
    omniq_app: OmniQ, omniq_worker: object
) -> None:
    task_id = omniq_app.enqueue(double, 21)

    assert omniq_app.get_result(task_id, timeout=10) == 42
    assert not shop.running
