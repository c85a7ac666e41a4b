"""Ctrl-C, as a user presses it, in real processes: the first says what the shutdown waits for
(how many tasks, how long at most); the second releases the running task to the queue at once,
its attempt not counted, so the next worker claims it without waiting for the lease."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omniq import OmniQ
from omniq.models import TaskState

pytestmark = pytest.mark.slow

TASKS = """
import time
from pathlib import Path


def slow(marker):
    Path(marker).write_text("started")
    for _ in range(600):
        time.sleep(0.1)
    return "finished"
"""

WITH_BLOCK = """
import time
from omniq import OmniQ
import ctrl_c_tasks

with OmniQ(task_queue_url="sqlite:///ctrl.db", workers=1, allowed_modules="ctrl_c_tasks") as oq:
    oq.enqueue(ctrl_c_tasks.slow, "started.txt", task_id="the-task")
    time.sleep(300)
"""

APP = """
from omniq import OmniQ

app = OmniQ(task_queue_url="sqlite:///ctrl.db", allowed_modules="ctrl_c_tasks")
"""


def _start(project: Path, argv: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(project), "OMNIQ_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        argv, cwd=project, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def _line_with(process: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no line with {text!r} in {seen}")


def _interrupt_twice(project: Path, process: subprocess.Popen[str]) -> tuple[str, str, float]:
    _wait_for(project / "started.txt", process)
    process.send_signal(signal.SIGINT)
    first = _line_with(process, "waiting up to")
    assert process.poll() is None, "the first Ctrl-C must wait for the running task"
    pressed = time.monotonic()
    process.send_signal(signal.SIGINT)
    second = _line_with(process, "releasing")
    process.wait(timeout=30)
    return first, second, time.monotonic() - pressed


def _assert_released_and_claimable(project: Path) -> None:
    with OmniQ(
        task_queue_url=f"sqlite:///{project / 'ctrl.db'}", workers=0, allowed_modules="x"
    ) as oq:
        info = oq.get_task("the-task")
        assert info is not None
        assert info.state is TaskState.PENDING, info
        assert info.attempt == 0, "a released task's attempt must not be counted"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "ctrl_c_tasks.py").write_text(TASKS)
    return tmp_path


@pytest.mark.timeout(120)
def test_ctrl_c_twice_in_a_with_block_says_what_it_waits_for_then_releases(
    project: Path,
) -> None:
    (project / "main.py").write_text(WITH_BLOCK)
    process = _start(project, [sys.executable, "main.py"])
    first, second, took = _interrupt_twice(project, process)
    assert "1 running task" in first and "up to 30 s" in first and "Ctrl-C again" in first
    assert "releasing 1 running task" in second
    assert took < 15, f"the second Ctrl-C took {took:.1f} s to end the process"
    _assert_released_and_claimable(project)


@pytest.mark.timeout(120)
def test_ctrl_c_twice_in_omniq_worker_says_what_it_waits_for_then_releases(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "ctrl_app.py").write_text(APP)
    monkeypatch.syspath_prepend(str(project))
    tasks = importlib.import_module("ctrl_c_tasks")
    with OmniQ(
        task_queue_url=f"sqlite:///{project / 'ctrl.db'}", workers=0, allowed_modules="x"
    ) as oq:
        oq.enqueue(tasks.slow, str(project / "started.txt"), task_id="the-task")
    omniq = [sys.executable, "-m", "omniq", "worker", "--app", "ctrl_app:app", "-q"]
    process = _start(project, omniq)
    first, second, took = _interrupt_twice(project, process)
    assert "1 running task" in first and "up to 30 s" in first
    assert "releasing 1 running task" in second
    assert took < 15, f"the second Ctrl-C took {took:.1f} s to end the process"
    _assert_released_and_claimable(project)
