"""The omniq command line, run in-process (``main(argv)``) and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omniq.cli import ExitCode, main


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every role on one SQLite file in a temp dir, and an importable task module."""
    (tmp_path / "cli_tasks.py").write_text("def add(a, b):\n    return a + b\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "sqlite")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OMNIQ_ALLOWED_MODULES", "cli_tasks")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_enqueue_status_result_and_events(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "enqueue", "cli_tasks:add", "--args", "[2, 3]", "--json")
    assert code == ExitCode.OK
    task_id = json.loads(out)["task_id"]
    code, out = run(capsys, "status", "--json")
    (queue,) = json.loads(out)["queues"]
    assert (queue["queue"], queue["ready"]) == ("default", 1)
    code, out = run(capsys, "result", task_id)
    assert code == ExitCode.TIMEOUT  # nobody ran it yet
    code, out = run(capsys, "events", task_id, "--json")
    assert [json.loads(line)["event_type"] for line in out.splitlines()] == ["enqueued"]


def test_worker_process_runs_tasks_and_stops_on_sigterm(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import signal
    import time

    code, out = run(capsys, "enqueue", "cli_tasks:add", "--args", "[20, 22]")
    task_id = out.strip()
    worker = subprocess.Popen(
        [sys.executable, "-m", "omniq", "worker", "--concurrency", "2"],
        cwd=env,
        env={**os.environ, "PYTHONPATH": str(env)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        code, out = run(capsys, "result", task_id, "--timeout", "30", "--json")
        assert code == ExitCode.OK
        assert json.loads(out)["result"] == 42
    finally:
        time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0].decode()
    assert worker.returncode == 0, output


def test_failed_tasks_and_unknown_ids_exit_1(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "result", "01NOSUCHTASK0000000000000", "--json")
    assert code == ExitCode.TASK_FAILED
    assert "No task" in json.loads(out)["error"]


def test_purge_and_retry_dead(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        run(capsys, "enqueue", "cli_tasks:add", "--args", "[1, 1]")
    code, out = run(capsys, "purge", "default", "--json")
    assert (code, json.loads(out)["purged"]) == (ExitCode.OK, 3)
    code, out = run(capsys, "retry-dead", "default", "--json")
    assert (code, json.loads(out)["requeued"]) == (ExitCode.OK, 0)


def test_backends_lists_installed_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "backends", "--json")
    names = {b["name"] for b in json.loads(out)}
    assert code == ExitCode.OK and {"memory", "sqlite"} <= names


def test_bad_configuration_exits_2_without_credentials(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "nosuchbackend")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", "nosuch://user:hunter2@host/0")
    code = main(["status"])
    err = capsys.readouterr().err
    assert code in (ExitCode.USAGE, ExitCode.BACKEND)
    assert "hunter2" not in err and "omniq: error:" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["worker", "--worker-type", "green"])
    assert caught.value.code == 2
    assert main([]) == ExitCode.USAGE
