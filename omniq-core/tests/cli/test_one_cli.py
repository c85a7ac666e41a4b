"""Every ``omniq`` command takes ``--app``; errors are one line with the fix and its exit code;
``status`` creates nothing; ``cancel``, ``tasks`` and ``schedules`` manage what is queued."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import omniq
import pytest
from omniq.cli import ExitCode, main

APP = '''
from omniq import OmniQ

oq = OmniQ(task_queue_url="sqlite:///shop-queue.db", workers=0, scheduler=False)


def add(a, b):
    return a + b
'''

STARTS_AT_IMPORT = '''
from omniq import OmniQ

with OmniQ(task_queue_url="sqlite:///eager.db", workers=0) as oq:
    pass
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "shop.py").write_text(APP)
    (tmp_path / "eager_app.py").write_text(STARTS_AT_IMPORT)
    monkeypatch.chdir(tmp_path)
    for name in ("OMNIQ_TASK_QUEUE_TYPE", "OMNIQ_TASK_QUEUE_URL", "OMNIQ_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMNIQ_ALLOWED_MODULES", "shop")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """One command, as a fresh ``omniq`` process would import the app module."""
    import sys

    for name in ("shop", "eager_app"):
        sys.modules.pop(name, None)
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"omniq {omniq.__version__}"


def test_every_command_uses_the_apps_store(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ("--app", "shop:oq")
    code, out, _ = run(capsys, "enqueue", "shop:add", "--args", "[1, 2]", *app, "--json")
    assert code == ExitCode.OK
    task_id = json.loads(out)["task_id"]
    assert (project / "shop-queue.db").exists() and not (project / "omniq.db").exists()
    code, out, _ = run(capsys, "tasks", *app, "--json")
    assert [json.loads(line)["task"]["id"] for line in out.splitlines()] == [task_id]
    code, out, _ = run(capsys, "tasks", *app, "--state", "dead")
    assert out.strip() == "no tasks"
    code, out, _ = run(capsys, "status", *app)
    assert out.splitlines()[0] == f"task queue: sqlite {project / 'shop-queue.db'}"
    code, out, _ = run(capsys, "result", task_id, *app)
    assert code == ExitCode.TIMEOUT  # not run yet, but found in the app's store
    code, out, _ = run(capsys, "events", task_id, *app, "--json")
    assert [json.loads(line)["event_type"] for line in out.splitlines()] == ["enqueued"]
    code, out, _ = run(capsys, "cancel", task_id, *app, "--json")
    assert (code, json.loads(out)["outcome"]) == (ExitCode.OK, "cancelled")
    code, out, _ = run(capsys, "cancel", task_id, *app)
    assert code == ExitCode.TASK_FAILED and "no such task" in out
    code, out, _ = run(capsys, "purge", "default", *app, "--json")
    assert code == ExitCode.OK
    code, out, _ = run(capsys, "retry-dead", "default", *app, "--json")
    assert code == ExitCode.OK


def test_schedules_list_pause_resume_remove(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    sys.path.insert(0, str(project))
    try:
        import shop

        with omniq.OmniQ(task_queue_url="sqlite:///shop-queue.db", workers=0) as app:
            app.schedule(shop.add, 1, 2, name="nightly", cron="0 3 * * *")
    finally:
        sys.path.remove(str(project))
    app_args = ("--app", "shop:oq")
    code, out, _ = run(capsys, "schedules", *app_args)
    assert "nightly" in out and "0 3 * * *" in out
    paused = run(capsys, "schedules", *app_args, "pause", "nightly")[1]
    assert paused.strip() == "paused 'nightly'"
    code, out, _ = run(capsys, "schedules", "list", *app_args, "--json")
    assert json.loads(out)["paused"] is True
    assert run(capsys, "schedules", "resume", "nightly", *app_args)[0] == ExitCode.OK
    assert run(capsys, "schedules", "remove", "nightly", *app_args)[0] == ExitCode.OK
    code, out, _ = run(capsys, "schedules", "remove", "nightly", *app_args)
    assert code == ExitCode.TASK_FAILED and "no schedule named 'nightly'" in out


def test_status_in_an_empty_folder_creates_nothing_and_names_the_store(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in project.iterdir())
    code, out, _ = run(capsys, "status")
    assert code == ExitCode.OK
    assert f"sqlite {project / 'omniq.db'} (does not exist yet" in out
    assert sorted(p.name for p in project.iterdir()) == before


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["enqueue", "nosuchmodule:add"], ExitCode.USAGE, "no module named 'nosuchmodule' in"),
        (["enqueue", "shop:ad"], ExitCode.USAGE, "has no function 'ad'; did you mean 'add'?"),
        (["enqueue", "shop:add", "--args", "[1,"], ExitCode.USAGE, "--args is not valid JSON"),
        (["status", "--app", "shop:oqq"], ExitCode.USAGE, "no app 'oqq'; did you mean 'oq'?"),
        (["status", "--app", "eager_app:oq"], ExitCode.USAGE, "was started while its module"),
    ],
)
def test_errors_are_one_line_with_the_fix(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    got, _, err = run(capsys, *argv)
    assert got == code
    assert err.count("\n") == 1 and err.startswith("omniq: error: ")
    assert message in err


def test_a_backend_that_is_not_installed_exits_3(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    uninstall: Callable[..., None],
) -> None:
    uninstall("nats")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "nats")
    got, _, err = run(capsys, "status")
    assert got == ExitCode.BACKEND
    assert "pip install ./omniq-nats" in err
