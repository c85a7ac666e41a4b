"""Fixtures for testing your own tasks with pytest (see ``docs/testing.md``).

Not loaded on its own: opt in from your root ``conftest.py``::

    pytest_plugins = ["omniq.testing.pytest_plugin"]

- ``omniq_app``: a started sync :class:`~omniq.OmniQ` app on the memory backend (all four roles),
  with no worker: what you enqueue stays queued until a worker runs it.
- ``omniq_worker``: a worker running the tasks of ``omniq_app`` in the background (request it
  with ``omniq_app``); stopped at the end of the test.
- ``omniq_eager_app``: an eager app on the memory backend: each task runs when it is enqueued.
- ``omniq_wait``: a :class:`TaskWaiter` for ``omniq_app``: wait for a task's result or events.

Override ``omniq_app_options`` (a dict of :class:`~omniq.OmniQ` arguments) to change the apps,
such as ``{"queues": ["default", "emails"]}``.

This is distinct from the backend conformance suite in :mod:`omniq.testing`, which is for
authors of storage backends (``docs/plugins/writing-a-backend.md``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from omniq import load_backend
from omniq.models.event import EventType, TaskEvent
from omniq.runtime.sync_app import OmniQ
from omniq.runtime.worker import Worker

__all__ = [
    "DEFAULT_WAIT",
    "TaskWaiter",
    "omniq_app",
    "omniq_app_options",
    "omniq_eager_app",
    "omniq_wait",
    "omniq_worker",
]

T = TypeVar("T")

DEFAULT_WAIT = 10.0
"""Seconds the helpers wait by default (generous: CI machines are slow)."""

WORKER_CONCURRENCY = 4
"""Tasks the ``omniq_worker`` fixture runs at once."""

FINAL_EVENTS: frozenset[EventType] = frozenset(
    {EventType.COMPLETED, EventType.DEAD_LETTERED, EventType.CANCELLED}
)
"""Events after which a task runs no more (``TaskWaiter.events`` waits for one by default)."""


class TaskWaiter:
    """Waits for what a task did, through ``app``'s stores."""

    def __init__(self, app: OmniQ, *, poll: float = 0.01) -> None:
        self.app = app
        self.poll = poll

    def result(self, task_id: str, timeout: float = DEFAULT_WAIT) -> Any:
        """The task's result (as ``app.get_result``: raises ``TaskFailedError`` if it failed,
        ``TimeoutError`` if none came within ``timeout`` seconds)."""
        return self.app.get_result(task_id, timeout=timeout)

    def events(
        self,
        task_id: str,
        until: EventType | str | Collection[EventType | str] = FINAL_EVENTS,
        timeout: float = DEFAULT_WAIT,
    ) -> list[TaskEvent]:
        """The task's stored events, oldest first, once one of type ``until`` (default: a final
        one, ``completed``, ``dead_lettered`` or ``cancelled``) is among them. Raises
        ``TimeoutError`` naming the events seen if none came within ``timeout`` seconds."""
        wanted = _event_types(until)
        deadline = time.monotonic() + timeout
        while True:
            events = self.app.get_events(task_id)
            if any(event.event_type in wanted for event in events):
                return events
            if time.monotonic() >= deadline:
                seen = [event.event_type.value for event in events]
                raise TimeoutError(
                    f"No {'/'.join(sorted(t.value for t in wanted))} event for task {task_id} "
                    f"within {timeout} s (events so far: {seen}); is a worker running "
                    "(the omniq_worker fixture)?"
                )
            time.sleep(self.poll)


def _event_types(until: EventType | str | Collection[EventType | str]) -> frozenset[EventType]:
    if isinstance(until, EventType | str):
        return frozenset({EventType(until)})
    return frozenset(EventType(t) for t in until)


def memory_app(**options: Any) -> OmniQ:
    """A sync app whose four roles use one new memory backend (not started)."""
    return OmniQ(backend=load_backend("memory"), **options)


def _on_loop(app: OmniQ, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, app.loop).result()


@pytest.fixture
def omniq_app_options() -> dict[str, Any]:
    """Extra arguments of the fixtures' apps (override it in your conftest.py or test module)."""
    return {}


@pytest.fixture
def omniq_app(omniq_app_options: dict[str, Any]) -> Iterator[OmniQ]:
    """A started app on the memory backend, with no worker of its own."""
    options = {**omniq_app_options, "workers": 0, "scheduler": False}
    with memory_app(**options) as app:
        yield app


@pytest.fixture
def omniq_worker(omniq_app: OmniQ) -> Iterator[Worker]:
    """A worker running ``omniq_app``'s tasks until the test ends (a grace of 5 s then)."""
    from omniq.runtime.app_worker import worker_settings

    core = omniq_app.async_app
    worker = Worker(
        core.stores.task_queue,
        core.stores.results,
        core.event_sink,
        core.registry,
        worker_settings(core, concurrency=WORKER_CONCURRENCY),
    )
    _on_loop(omniq_app, worker.start())
    try:
        yield worker
    finally:
        _on_loop(omniq_app, worker.stop(5.0))


@pytest.fixture
def omniq_eager_app(omniq_app_options: dict[str, Any]) -> Iterator[OmniQ]:
    """A started eager app on the memory backend: ``enqueue`` returns once the task ran."""
    with memory_app(**{**omniq_app_options, "eager": True}) as app:
        yield app


@pytest.fixture
def omniq_wait(omniq_app: OmniQ) -> TaskWaiter:
    """Waits for a task of ``omniq_app``: ``omniq_wait.result(task_id)``,
    ``omniq_wait.events(task_id)``."""
    return TaskWaiter(omniq_app)
