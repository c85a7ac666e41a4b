"""Worker processes for end-to-end tests: run ``python -m omniq worker`` with an environment,
kill it (SIGKILL) or stop it (SIGTERM), and read what it printed.

A backend's multi-process tests use these to prove at-least-once delivery across real processes::

    with worker_process(env, cwd=tmp_path, concurrency=4) as worker:
        ...
        worker.kill()
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import attrs

from omniq.runtime.stack_dump import END_OF_DUMP

if TYPE_CHECKING:
    import pytest

__all__ = [
    "TASK_MODULE",
    "TaskModule",
    "WorkerProcess",
    "count_runs",
    "use_task_module",
    "worker_process",
    "write_task_module",
]

TASK_MODULE = "omniq_e2e_tasks"
"""The module :func:`write_task_module` writes; allow it in workers with
``OMNIQ_ALLOWED_MODULES=omniq_e2e_tasks``."""

_TASKS = """
import os
import time

def record(n, seconds=0.0):
    \"\"\"Sleep, then note that task ``n`` ran to completion in this process.\"\"\"
    if seconds:
        time.sleep(seconds)
    with open(os.path.join(os.environ["OMNIQ_E2E_RUNS"], f"runs-{os.getpid()}.log"), "a") as f:
        f.write(f"{n}\\n")
    return n

def hold(n):
    \"\"\"The first run of task ``n`` anywhere notes its pid in ``held-<n>`` and waits until the
    file ``release`` exists in the runs folder; every later run returns at once. ``held-<n>``
    appears whole (written aside, then renamed): a reader never sees it empty.\"\"\"
    runs = os.environ["OMNIQ_E2E_RUNS"]
    held = os.path.join(runs, f"held-{n}")
    try:
        os.close(os.open(held + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return record(n)
    with open(held + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(held + ".tmp", held)
    while not os.path.exists(os.path.join(runs, "release")):
        time.sleep(0.02)
    return record(n)
"""


def write_task_module(directory: Path) -> Path:
    """Write the task module into ``directory`` (put it on ``PYTHONPATH``) and make the folder
    its runs are noted in (``OMNIQ_E2E_RUNS``); returns that folder."""
    (directory / f"{TASK_MODULE}.py").write_text(_TASKS)
    runs = directory / "runs"
    runs.mkdir(exist_ok=True)
    return runs


@attrs.frozen
class TaskModule:
    """The task module as :func:`use_task_module` set it up."""

    env: dict[str, str]
    """Every variable it set: give the same to worker processes."""
    runs: Path
    """Where the tasks' runs are noted (:func:`count_runs`)."""
    module: ModuleType
    """The module itself (``module.record``, ``module.hold``)."""


def use_task_module(
    directory: Path, monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str] | None = None
) -> TaskModule:
    """Write the task module into ``directory`` and import it afresh in this process, with
    ``env`` and the module's own variables (``OMNIQ_ALLOWED_MODULES``, ``OMNIQ_E2E_RUNS``,
    ``PYTHONPATH``; ``env`` wins) set through ``monkeypatch``, which also undoes the import."""
    runs = write_task_module(directory)
    variables = {
        "OMNIQ_ALLOWED_MODULES": TASK_MODULE,
        "OMNIQ_E2E_RUNS": str(runs),
        "PYTHONPATH": str(directory),
        **(env or {}),
    }
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(directory))
    spec = importlib.util.spec_from_file_location(TASK_MODULE, directory / f"{TASK_MODULE}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, TASK_MODULE, module)
    return TaskModule(env=variables, runs=runs, module=module)


def count_runs(runs: Path) -> dict[int, int]:
    """How many times each task number ran to completion, over every process."""
    counts: dict[int, int] = {}
    for log in runs.glob("runs-*.log"):
        for line in log.read_text().split():
            counts[int(line)] = counts.get(int(line), 0) + 1
    return counts


class WorkerProcess:
    """One ``omniq worker`` child process."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        cwd: Path,
        concurrency: int = 4,
        worker_type: str = "async",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.log_path = cwd / f"worker-{os.urandom(4).hex()}.log"
        command = [
            sys.executable, "-m", "omniq", "worker",
            "--concurrency", str(concurrency), "--worker-type", worker_type, *extra_args,
        ]  # fmt: skip
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            command, cwd=cwd, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to release or finish anything."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP: the whole process freezes (its leases run out) until :meth:`resume`."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: a paused process carries on where it was, unaware of the time that passed."""
        self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then wait for the graceful shutdown; returns the exit code. A worker still
        running after ``timeout`` seconds is asked for its stacks (SIGUSR1) and the test fails
        with the end of what it printed: what it was waiting on."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            with contextlib.suppress(AssertionError):  # a worker too stuck to dump says so too
                self.wait_for_output(END_OF_DUMP, timeout=10)
            raise AssertionError(
                f"worker {self.pid} did not stop within {timeout:g} s of SIGTERM; the end of "
                f"its output:\n{self.output()[-20_000:]}"
            ) from None

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60) -> str:
        """What the worker printed, once it holds ``text`` (fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while text not in (printed := self.output()):
            if time.monotonic() >= deadline:
                raise AssertionError(f"{text!r} never appeared in the worker's output:\n{printed}")
            time.sleep(0.1)
        return printed

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._log.close()


@contextmanager
def worker_process(
    env: Mapping[str, str], *, cwd: Path, concurrency: int = 4, worker_type: str = "async"
) -> Iterator[WorkerProcess]:
    """A worker process that is killed at the end if still running."""
    worker = WorkerProcess(env, cwd=cwd, concurrency=concurrency, worker_type=worker_type)
    try:
        yield worker
    finally:
        worker.close()
