"""Records never choose code: records written straight into the store by someone who can write
to it run nothing in a real worker process (or, on memory, the app's own worker) nor in the
producer that reads a result.

- a task naming ``<allowed module>:os.system``, whose argument would create a canary file: the
  allow-list resolves the path exactly, so an attribute reached through the module is refused;
- a task of an allowed function whose payload says ``serializer="pickle"`` (the app uses JSON)
  and is a pickle that would create a canary: the serializer comes from the configuration;
- a result record that says ``pickle``, read with ``get_result``: the same, in the producer.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from omniq import OmniQ
from omniq.errors import OmniQError
from omniq.ids import new_id
from omniq.models.config import DEFAULT_WORKERS
from omniq.models.result import ResultStatus, TaskResult
from omniq.models.task import Task, TaskState
from omniq.runtime.codec import encode_call
from omniq.testing.processes import TASK_MODULE, WorkerProcess

pytestmark = pytest.mark.chaos


class _Shell:
    """Unpickling this runs ``command`` in a shell."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (self.command,)


def _run(oq: OmniQ, coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro`` on the app's loop, where its storages live."""
    return asyncio.run_coroutine_threadsafe(coro, oq.loop).result(timeout=30)


@pytest.mark.parametrize("backend", ["memory", "sqlite", "file", "redis", "postgres"])
@pytest.mark.timeout(120)
def test_hand_written_records_run_nothing(
    backend: str, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    import importlib

    tasks = importlib.import_module(TASK_MODULE)
    canaries = {name: tmp_path / f"canary-{name}" for name in ("os.system", "pickle", "result")}
    through_module = Task(
        func=f"{TASK_MODULE}:os.system",  # the module imports os
        payload=encode_call("json", (f"touch {canaries['os.system']}",), {}),
    )
    pickled = Task(
        func=f"{TASK_MODULE}:record",
        payload=pickle.dumps(_Shell(f"touch {canaries['pickle']}")),
        serializer="pickle",
    )
    bad = [through_module.id, pickled.id]
    in_process = backend == "memory"  # one process: the app's own worker runs the tasks
    worker: WorkerProcess | None = None
    with OmniQ(workers=DEFAULT_WORKERS if in_process else 0) as oq:
        try:
            for task in (through_module, pickled):
                assert _run(oq, oq.stores.task_queue.enqueue(task)) is True
            control = oq.enqueue(tasks.record, 7)
            if not in_process:
                worker = WorkerProcess(chaos_env, cwd=tmp_path, concurrency=DEFAULT_WORKERS)
            assert oq.get_result(control, timeout=60) == 7  # the worker ran what it may

            def settled(task_id: str) -> bool:
                info = oq.get_task(task_id)
                return info is None or info.state is TaskState.DEAD

            deadline = time.monotonic() + 30
            while not all(map(settled, bad)) and time.monotonic() < deadline:
                time.sleep(0.05)
            states = {task_id: oq.get_task(task_id) for task_id in bad}
            result = TaskResult(
                task_id=new_id(),
                status=ResultStatus.SUCCESS,
                payload=pickle.dumps(_Shell(f"touch {canaries['result']}")),
                serializer="pickle",
            )
            _run(oq, oq.stores.results.store(result))
            try:
                read: object = oq.get_result(result.task_id, timeout=5)
            except OmniQError as exc:
                read = exc
            if worker is not None:
                assert worker.stop() == 0
        finally:
            if worker is not None:
                worker.close()
    ran = sorted(name for name, path in canaries.items() if path.exists())
    print(f"{backend}: code ran from records naming {ran or 'nothing'}; get_result -> {read!r}")
    assert ran == [], f"{backend}: a hand-written record ran code: {ran}"
    assert isinstance(read, OmniQError), f"get_result of a pickle result returned {read!r}"
    assert {i: info and info.state for i, info in states.items()} == dict.fromkeys(
        bad, TaskState.DEAD
    ), "the refused records are kept in the dead letters"
