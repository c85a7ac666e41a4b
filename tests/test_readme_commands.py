"""The README's two set-up commands work on a stock machine: system ``python3``, no uv on PATH.

Each runs in a fresh copy of this working tree, twice: with the system's ``python3`` (Debian's is
externally managed, so any ``pip install`` into it fails) and from inside a freshly made
virtual environment, as a user with an activated venv would run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _system_python() -> str:
    """Debian's own python3 where there is one (the stock machine), else this interpreter."""
    system = Path("/usr/bin/python3")
    return str(system) if system.exists() else sys.executable


def _copy_of_worktree(dest: Path) -> Path:
    """The files git would commit (tracked and new), not .venv, caches or local data."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def _stock_env(tmp_path: Path, how: str) -> dict[str, str]:
    """An environment whose PATH has a ``python3`` (``how``: the system's, or a new venv's
    first on PATH) and the usual system folders, and no ``uv``."""
    python = _system_python()
    if how == "venv":
        venv = tmp_path / "user-venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        first = venv / "bin"
    else:
        first = tmp_path / "python-bin"
        first.mkdir()
        (first / "python3").symlink_to(python)
    dirs = [str(first), *(d for d in SYSTEM_DIRS if not Path(d, "uv").exists())]
    path = os.pathsep.join(dirs)
    assert shutil.which("uv", path=path) is None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env.update(PATH=path, HOME=os.environ.get("HOME", str(tmp_path)), PYTHONNOUSERSITE="1")
    if how == "venv":
        env["VIRTUAL_ENV"] = str(first.parent)
    return env


def _system_site_packages() -> list[str]:
    done = subprocess.run(
        [_system_python(), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=False,
    )
    return sorted(done.stdout.splitlines())


def _files(root: Path, *, skip: tuple[str, ...]) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not str(p.relative_to(root)).startswith(skip)
    }


@pytest.mark.parametrize("how", ["system", "venv"])
def test_quickstart_runs_in_its_own_venv_and_leaves_no_data(tmp_path: Path, how: str) -> None:
    repo = _copy_of_worktree(tmp_path / "clone")
    before_system = _system_site_packages()
    before = _files(repo, skip=(".venv-quickstart",))
    done = subprocess.run(
        ["bash", "scripts/quickstart.sh"],
        cwd=repo,
        env=_stock_env(tmp_path, how),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all 3000 tasks finished" in done.stdout
    assert "failed for good (dead letters): 6" in done.stdout
    # only what the SQLite example needs, in its own venv
    venv_python = repo / ".venv-quickstart" / "bin" / "python"
    listed = subprocess.run(
        [str(venv_python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "omniq-core==" in listed and "omniq-sqlite==" in listed
    for unneeded in ("omniq-redis", "omniq-file", "mypy", "moto", "s3fs", "pytest"):
        assert f"{unneeded}==" not in listed
    # every run cleans up after itself: no data folder, no database next to the example
    assert _files(repo, skip=(".venv-quickstart",)) == before
    assert _system_site_packages() == before_system


@pytest.mark.parametrize("how", ["system", "venv"])
def test_bootstrap_installs_uv_privately_and_syncs_the_workspace(tmp_path: Path, how: str) -> None:
    repo = _copy_of_worktree(tmp_path / "clone")
    before_system = _system_site_packages()
    done = subprocess.run(
        [
            "bash",
            "-c",
            "source scripts/bootstrap.sh && command -v uv && uv run --no-sync python -c "
            "'import omniq, omniq_sqlite, omniq_file, omniq_redis, pytest, mypy; print(\"ok\")'",
        ],
        cwd=repo,
        env=_stock_env(tmp_path, how),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.split()
    assert lines[-1] == "ok"
    assert str(repo / ".tools" / "bin" / "uv") in lines
    assert _system_site_packages() == before_system
