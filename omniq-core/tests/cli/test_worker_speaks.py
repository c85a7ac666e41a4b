"""``omniq worker`` says what it runs and what happens to each task, captured from a real
process: a banner on start, one line per task outcome, quiet with ``-q``, levels from
``--log-level``, ``OMNIQ_LOG_LEVEL`` and the app's ``log_level``, and JSON lines with ``--json``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import omniq
import pytest
from omniq.cli import ExitCode, main

pytestmark = pytest.mark.slow

TASKS = '''
from omniq import OmniQ, OmniQConfig


def add(a, b):
    return a + b


def boom():
    raise ValueError("boom for the test")


quiet_app = OmniQ(config=OmniQConfig.from_dict({
    "task_queue": {"backend_type": "sqlite", "url": "sqlite:///speak.db"},
    "log_level": "WARNING",
}))
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "speak_tasks.py").write_text(TASKS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "sqlite")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", "sqlite:///speak.db")
    monkeypatch.setenv("OMNIQ_ALLOWED_MODULES", "speak_tasks")
    monkeypatch.delenv("OMNIQ_LOG_LEVEL", raising=False)
    return tmp_path


def _enqueue(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["enqueue", *argv]) == ExitCode.OK
    return capsys.readouterr().out.strip()


def _run_worker(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    *flags: str,
    env: dict[str, str] | None = None,
) -> str:
    """Enqueue one success and one failure (retried once, then dead-lettered), run a worker
    until both are finished, stop it with SIGTERM; its stderr."""
    good = _enqueue(capsys, "speak_tasks:add", "--args", "[2, 3]")
    bad = _enqueue(capsys, "speak_tasks:boom", "--max-retries", "1")
    worker = subprocess.Popen(
        [sys.executable, "-m", "omniq", "worker", "--concurrency", "2", *flags],
        cwd=project,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert main(["result", good, "--timeout", "60"]) == ExitCode.OK
        assert main(["result", bad, "--timeout", "60"]) == ExitCode.TASK_FAILED
        capsys.readouterr()
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert out == ""  # logs go to stderr; stdout stays for command output
    return err


def test_banner_and_one_line_per_task_outcome(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _run_worker(capsys, project)
    lines = err.splitlines()
    first = [i for i, line in enumerate(lines) if line.startswith("omniq ")]
    assert first, err
    assert lines[first[0]].startswith(f"omniq {omniq.__version__} worker  (pid ")
    banner = "\n".join(lines[first[0] : first[0] + 10])
    db = project / "speak.db"
    assert f"  task queue   sqlite {db}" in banner
    assert "  app          the OMNIQ_* environment" in banner
    assert "  queues       default" in banner
    assert "  concurrency  2 (async)" in banner
    assert "  scheduler    on" in banner
    received = [line for line in lines if "task received" in line]
    assert len(received) == 3  # add, and boom twice
    (succeeded,) = [line for line in lines if "task succeeded" in line]
    assert "[info" in succeeded and "func=speak_tasks:add" in succeeded
    assert "duration_ms=" in succeeded
    (retried,) = [line for line in lines if "task failed, will retry" in line]
    assert "[warning" in retried and "ValueError: boom for the test" in retried
    assert "attempt=1" in retried and "max_attempts=2" in retried
    (dead,) = [line for line in lines if "task failed, dead-lettered" in line]
    assert "[error" in dead and "attempt=2" in dead


def test_json_lines(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_worker(capsys, project, "--json")
    records = [json.loads(line) for line in err.splitlines()]
    (ready,) = [r for r in records if r["event"] == "worker ready"]
    assert ready["version"] == omniq.__version__
    assert ready["backends"]["task queue"] == f"sqlite {project / 'speak.db'}"
    assert (ready["queues"], ready["concurrency"]) == (["default"], 2)
    assert ready["worker_type"] == "async"
    (succeeded,) = [r for r in records if r["event"] == "task succeeded"]
    assert succeeded["level"] == "info" and isinstance(succeeded["duration_ms"], float)
    assert succeeded["func"] == "speak_tasks:add" and "timestamp" in succeeded
    assert [r["level"] for r in records if r["event"] == "task failed, dead-lettered"] == ["error"]


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (("-q",), {}),
        (("--log-level", "warning"), {}),
        ((), {"OMNIQ_LOG_LEVEL": "WARNING"}),
        (("--app", "speak_tasks:quiet_app"), {}),  # the app's configured log_level
    ],
    ids=["-q", "--log-level", "OMNIQ_LOG_LEVEL", "log_level"],
)
def test_quiet_levels_keep_only_problems(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
    env: dict[str, str],
) -> None:
    err = _run_worker(capsys, project, *flags, env=env)
    assert "omniq 0.1.0 worker" not in err
    assert "task received" not in err and "task succeeded" not in err
    assert err.count("task failed, will retry") == 1
    assert err.count("task failed, dead-lettered") == 1


def test_debug_level_from_the_flag_wins_over_the_environment(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _run_worker(capsys, project, "--log-level", "DEBUG", env={"OMNIQ_LOG_LEVEL": "ERROR"})
    assert "task succeeded" in err and "[debug" in err


def test_banner_masks_secrets_of_a_store() -> None:
    from omniq.storage import Role

    backend = omniq.load_backend("file", fsspec_uri="s3://AKIAKEY:hunter2@bucket/omniq")
    described = backend.storage(Role.TASK_QUEUE).describe()
    assert "hunter2" not in described and described.startswith("s3://AKIAKEY:***@")
