"""Eager mode (``eager=True``, ``OMNIQ_EAGER``): each task runs when it is enqueued, its result
and events stored as a worker stores them; the task's own errors surface at get_result."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from omniq import AsyncOmniQ, OmniQ, OmniQConfig, TaskFailedError
from omniq.errors import ConfigurationError, SerializationError
from omniq.runtime.task_function import call


def add(a: int, b: int) -> int:
    return a + b


async def async_add(a: int, b: int) -> int:
    return a + b


def refuse(order_id: int) -> None:
    raise ValueError(f"order {order_id} is not paid")


attempts: list[int] = []


def flaky() -> str:
    attempts.append(1)
    if len(attempts) < 3:
        raise ConnectionError("try again")
    return "done"


def kinds(app: OmniQ, task_id: str) -> list[str]:
    return [event.event_type.value for event in app.get_events(task_id)]


def test_enqueue_returns_once_the_task_ran_and_stored_its_result_and_events() -> None:
    with OmniQ(task_queue_url="memory://", eager=True) as oq:
        assert oq.worker is None and oq.async_app.scheduler is None
        task_id = oq.enqueue(add, 1, 2)
        # stored, not just returned: the store has it before any wait
        stored = oq.get_task_result(task_id)
        assert stored is not None and stored.worker_id == "eager" and stored.attempt == 1
        assert oq.get_result(task_id, timeout=0) == 3
        assert oq.status(task_id) == "completed"
        assert kinds(oq, task_id) == ["enqueued", "started", "completed"]
        assert oq.get_task(task_id) is None  # it never waited in the queue


def test_a_task_function_and_enqueue_many_run_eagerly_too() -> None:
    with OmniQ(task_queue_url="memory://", eager=True) as oq:
        fn = oq.task(add)
        assert oq.get_result(fn.delay(2, 2), timeout=0) == 4
        ids = oq.enqueue_many([call(add, 1, 1), (async_add, (3, 4))])
        assert [oq.get_result(i, timeout=0) for i in ids] == [2, 7]


def test_a_failure_is_stored_and_raised_by_get_result_not_by_enqueue() -> None:
    with OmniQ(task_queue_url="memory://", eager=True) as oq:
        task_id = oq.enqueue(refuse, 7)
        with pytest.raises(TaskFailedError, match="order 7 is not paid") as caught:
            oq.get_result(task_id)
        assert caught.value.error_type == "builtins.ValueError"
        assert "raise ValueError" in (caught.value.traceback or "")
        assert oq.status(task_id) == "failed"
        # no queue holds it: no dead letter, and no event saying so
        assert kinds(oq, task_id) == ["enqueued", "started", "failed"]
        assert oq.list_tasks("default", "dead") == []


def test_retries_run_at_once_without_waiting_for_the_backoff() -> None:
    attempts.clear()
    with OmniQ(task_queue_url="memory://", eager=True) as oq:
        task_id = oq.enqueue(flaky, max_retries=3, retry_backoff=3600)
        assert oq.get_result(task_id, timeout=0) == "done"
        assert len(attempts) == 3
        assert kinds(oq, task_id) == [
            "enqueued",
            *["started", "failed", "retrying"] * 2,
            "started",
            "completed",
        ]
        result = oq.get_task_result(task_id)
        assert result is not None and result.attempt == 3


def test_a_delay_is_not_waited_for() -> None:
    with OmniQ(task_queue_url="memory://", eager=True) as oq:
        task_id = oq.enqueue(add, 1, 1, delay=timedelta(hours=1))
        assert oq.get_result(task_id, timeout=0) == 2


def test_bad_arguments_raise_at_enqueue_as_without_eager() -> None:
    with OmniQ(task_queue_url="memory://", eager=True) as oq, pytest.raises(SerializationError):
        oq.enqueue(add, threading.Lock(), 1)


def test_a_rerun_of_a_finished_id_replaces_its_result() -> None:
    with OmniQ(task_queue_url="memory://", eager=True) as oq:
        oq.enqueue(add, 1, 1, task_id="same")
        oq.enqueue(add, 2, 2, task_id="same")
        assert oq.get_result("same", timeout=0) == 4


async def test_the_async_app_runs_eagerly() -> None:
    async with AsyncOmniQ(task_queue_url="memory://", eager=True) as oq:
        task_id = await oq.enqueue(async_add, 5, 6)
        assert await oq.get_result(task_id, timeout=0) == 11
        with pytest.raises(ConfigurationError, match="not eager"):
            await AsyncOmniQ(task_queue_url="memory://", eager=True).run_worker()


def test_the_configuration_and_the_environment_turn_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIQ_EAGER", "true")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", f"sqlite:///{tmp_path}/q.db")
    assert OmniQConfig.from_env().eager is True
    # on a persistent queue too: the task runs here, so a local function is fine
    with OmniQ() as oq:
        assert oq.settings.eager and oq.settings.workers == 0
        assert oq.get_result(oq.enqueue(add, 4, 4), timeout=0) == 8
    config = OmniQConfig(eager=True)
    assert OmniQConfig.from_dict(config.to_dict()).eager is True
    with OmniQ(config, task_queue_url="memory://", eager=False) as oq:
        assert not oq.settings.eager  # the argument wins over the configuration


def test_a_bad_eager_value_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="eager"):
        OmniQ(eager="yes")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="OMNIQ_EAGER"):
        OmniQConfig.from_env({"OMNIQ_EAGER": "maybe"})


def test_omniq_worker_refuses_an_eager_app_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from omniq.cli import main
    from omniq.cli.exit_codes import ExitCode

    monkeypatch.setenv("OMNIQ_EAGER", "1")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", "memory://")
    assert main(["worker"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("omniq: error: A worker needs an app that is not eager")
    assert err.count("\n") == 1
