"""Records never choose code: hand-written records in a real SQLite file (and the memory
backend), run by the app's real worker, with the default settings. A function reached through an
allowed module, a task or a result that names the pickle serializer in an app configured for
JSON: nothing runs (the canary file a run would create stays absent), the task ends
dead-lettered at its first attempt with the reason, and ``get_result`` raises without
decoding."""

from __future__ import annotations

import asyncio
import base64
import importlib
import os
import pickle
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import omniq
import pytest
from omniq import AsyncOmniQ, OmniQ, OmniQConfig, TaskFailedError
from omniq.errors import SerializationError, SerializerNotAllowedError
from omniq.models import EventType, ResultStatus, Task, TaskResult, TaskState
from omniq.runtime.codec import encode_call
from omniq.runtime.registry import PICKLED_PREFIX

pytestmark = pytest.mark.timeout(60)

MODULE = "omniq_canary_tasks"
TASKS = """
import functools
import os
import subprocess
from os import system
from subprocess import Popen
from pathlib import Path


def touch(path):
    Path(path).write_text("ran")
    return path


class Box:
    system = staticmethod(os.system)

    @staticmethod
    def touch(path):
        return touch(path)


shell = functools.partial(subprocess.call, shell=True)
"""


class Canary:
    """Unpickling it runs ``touch <path>``: what a hostile writer would store."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


@pytest.fixture(params=["sqlite", "memory"])
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if not any(ep.name == name for ep in entry_points(group="omniq.backends")):
        pytest.skip(f"the {name} backend is not installed")
    return name


@pytest.fixture
def canary_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend_name: str
) -> Iterator[ModuleType]:
    """An importable module of task functions (and of things it merely imports), and an
    environment without OMNIQ_* variables."""
    for name in list(os.environ):
        if name.startswith("OMNIQ_"):
            monkeypatch.delenv(name)
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(TASKS))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(MODULE, None)
    yield importlib.import_module(MODULE)
    sys.modules.pop(MODULE, None)


def open_backend(name: str, tmp_path: Path) -> omniq.Backend:
    if name == "sqlite":
        return omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    return omniq.load_backend(name)


def make_app(name: str, tmp_path: Path, **kwargs: Any) -> AsyncOmniQ:
    """An app on one SQLite file (or in memory) with its in-process worker; the defaults
    otherwise."""
    backend = open_backend(name, tmp_path)
    return AsyncOmniQ(OmniQConfig(allowed_modules=[MODULE]), backend=backend, **kwargs)


@pytest.fixture
async def oq(
    tmp_path: Path, canary_tasks: ModuleType, backend_name: str
) -> AsyncIterator[AsyncOmniQ]:
    async with make_app(backend_name, tmp_path) as app:
        yield app


async def refused(oq: AsyncOmniQ, task: Task, error_type: str) -> TaskFailedError:
    """Store ``task`` as a hostile writer would, wait for it to end; check it was refused and
    dead-lettered at its first attempt, and return the failure ``get_result`` raised."""
    assert await oq.stores.task_queue.enqueue(task)
    with pytest.raises(TaskFailedError) as caught:
        await oq.get_result(task.id, timeout=30)
    assert caught.value.error_type == error_type
    info = await oq.get_task(task.id)
    assert info is not None
    assert info.state is TaskState.DEAD
    assert info.attempt == 1  # not retried, though the record allows 3 retries
    assert info.last_error == caught.value.error_message
    events = await oq.get_events(task.id)
    kinds = [e.event_type for e in events]
    assert EventType.DEAD_LETTERED in kinds
    assert EventType.RETRYING not in kinds
    failed = next(e for e in events if e.event_type is EventType.FAILED)
    assert failed.details["refused"] is True
    return caught.value


@pytest.mark.parametrize(
    "qualname",
    [
        "os.system",  # a module the allowed module imports
        "system",  # a function it imports
        "subprocess.call",
        "Popen",  # an imported class: its constructor runs the command
        "Box.system",  # a class defined there holding a function defined elsewhere
        "shell",  # a partial of a function defined elsewhere
    ],
)
async def test_a_function_reached_through_an_allowed_module_never_runs(
    oq: AsyncOmniQ, tmp_path: Path, qualname: str
) -> None:
    canary = tmp_path / "canary"
    kwargs = {"shell": True} if qualname == "Popen" else {}
    payload = encode_call("json", (f"touch {canary}",), kwargs)
    task = Task(func=f"{MODULE}:{qualname}", payload=payload, max_retries=3)
    failure = await refused(oq, task, "omniq.FunctionNotAllowed")
    assert f"{MODULE}:{qualname}" in failure.error_message
    assert f"not a function defined in {MODULE!r}" in failure.error_message or (
        f"not a class defined in {MODULE!r}" in failure.error_message
    )
    assert "@oq.task" in failure.error_message
    # the same worker runs what the module defines, and only that
    control = tmp_path / "control"
    ran = Task(func=f"{MODULE}:Box.touch", payload=encode_call("json", (str(control),), {}))
    assert await oq.stores.task_queue.enqueue(ran)
    assert await oq.get_result(ran.id, timeout=30) == str(control)
    assert control.read_text() == "ran"
    assert not canary.exists()


async def test_a_pickled_function_in_a_json_app_never_loads(oq: AsyncOmniQ, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    func = PICKLED_PREFIX + base64.b64encode(pickle.dumps(Canary(canary))).decode()
    task = Task(func=func, payload=encode_call("json", (), {}), max_retries=3)
    failure = await refused(oq, task, "omniq.FunctionNotAllowed")
    assert "pickled function" in failure.error_message
    assert "serializer='pickle'" in failure.error_message
    assert not canary.exists()


async def test_a_task_naming_pickle_in_a_json_app_is_not_decoded(
    oq: AsyncOmniQ, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    payload = pickle.dumps([[Canary(canary)], {}])
    task = Task(func=f"{MODULE}:touch", payload=payload, serializer="pickle", max_retries=3)
    failure = await refused(oq, task, "omniq.SerializerNotAllowed")
    message = failure.error_message
    assert "'pickle'" in message and "'json'" in message
    assert "OMNIQ_SERIALIZER" in message and "serializer=" in message
    assert "runs code" in message
    assert not canary.exists()


async def test_a_task_naming_another_safe_serializer_is_refused_too(oq: AsyncOmniQ) -> None:
    task = Task(func=f"{MODULE}:touch", payload=b"\x91\xa1x", serializer="msgpack")
    failure = await refused(oq, task, "omniq.SerializerNotAllowed")
    assert "'msgpack'" in failure.error_message


async def test_pickle_runs_when_the_producer_and_the_worker_both_chose_it(
    tmp_path: Path, canary_tasks: ModuleType, backend_name: str
) -> None:
    done = tmp_path / "done"
    async with make_app(backend_name, tmp_path, serializer="pickle") as oq:
        task_id = await oq.enqueue(canary_tasks.touch, done)  # a Path: pickle only
        assert await oq.get_result(task_id, timeout=30) == done
        info = await oq.get_task(task_id)
    assert info is None or info.task.serializer == "pickle"
    assert done.read_text() == "ran"


def stored_result(task_id: str, payload: bytes, serializer: str) -> TaskResult:
    return TaskResult(
        task_id=task_id, status=ResultStatus.SUCCESS, payload=payload, serializer=serializer
    )


async def test_get_result_refuses_a_stored_result_naming_pickle(
    oq: AsyncOmniQ, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    result = stored_result("hostile-result", pickle.dumps(Canary(canary)), "pickle")
    await oq.stores.results.store(result)
    with pytest.raises(SerializerNotAllowedError) as caught:
        await oq.get_result(result.task_id, timeout=10)
    assert isinstance(caught.value, SerializationError)
    message = str(caught.value)
    assert "result of task hostile-result" in message
    assert "'pickle'" in message and "OMNIQ_SERIALIZER" in message
    assert not canary.exists()


def test_the_sync_get_result_refuses_it_too(
    tmp_path: Path, canary_tasks: ModuleType, backend_name: str
) -> None:
    """The sync API reads results without the event loop where it can: the same check."""
    canary = tmp_path / "canary"
    backend = open_backend(backend_name, tmp_path)
    with OmniQ(OmniQConfig(allowed_modules=[MODULE]), backend=backend) as oq:
        result = stored_result("hostile-result", pickle.dumps(Canary(canary)), "pickle")
        asyncio.run_coroutine_threadsafe(oq.stores.results.store(result), oq.loop).result()
        with pytest.raises(SerializerNotAllowedError, match="'pickle'"):
            oq.get_result(result.task_id, timeout=10)
        msgpacked = stored_result("msgpacked-result", b"\xa1x", "msgpack")
        asyncio.run_coroutine_threadsafe(oq.stores.results.store(msgpacked), oq.loop).result()
        with pytest.raises(SerializerNotAllowedError, match="'msgpack'"):
            oq.get_result(msgpacked.task_id, timeout=10)
    assert not canary.exists()


async def test_an_app_that_chose_pickle_reads_pickled_results(
    tmp_path: Path, canary_tasks: ModuleType, backend_name: str
) -> None:
    async with make_app(backend_name, tmp_path, serializer="pickle", workers=0) as oq:
        await oq.stores.results.store(stored_result("pickled", pickle.dumps({1, 2}), "pickle"))
        assert await oq.get_result("pickled", timeout=10) == {1, 2}
        await oq.stores.results.store(stored_result("json", b"[1]", "json"))
        with pytest.raises(SerializerNotAllowedError, match="'json'"):
            await oq.get_result("json", timeout=10)


async def test_a_worker_configured_for_two_serializers_decodes_both(
    tmp_path: Path, canary_tasks: ModuleType, backend_name: str
) -> None:
    """``worker_options={"serializers": [...]}``: the worker's own configuration, for moving a
    queue from one serializer to another."""
    done = tmp_path / "done"
    options = {"serializers": ["json", "msgpack"]}
    async with make_app(backend_name, tmp_path, serializer="msgpack", worker_options=options) as oq:
        assert oq.worker.settings.serializers == ("json", "msgpack")
        old = Task(func=f"{MODULE}:touch", payload=encode_call("json", (str(done),), {}))
        assert await oq.stores.task_queue.enqueue(old)
        with pytest.raises(SerializerNotAllowedError, match="'json'"):
            await oq.get_result(old.id, timeout=30)  # the app reads msgpack results only
        assert done.read_text() == "ran"
        assert await oq.get_result(await oq.enqueue(canary_tasks.touch, str(done))) == str(done)
