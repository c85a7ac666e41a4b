"""Each distribution installs and works on its own, in a fresh virtual environment.

This catches imports a distribution uses but does not declare, and proves the promise that
``pip install ./omniq-core`` alone gives a working ``omniq.load_backend("memory")``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is required for the packaging tests; scripts/test.sh installs it")
    return uv


def _fresh_venv(tmp_path: Path, *distributions: str) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            _uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            *[str(ROOT / dist) for dist in distributions],
        ],
        check=True,
    )
    return python


def _run(python: Path, code: str) -> str:
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=False, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_core_alone_gives_a_working_memory_backend(tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path, "omniq-core")
    out = _run(
        python,
        "import asyncio, omniq\n"
        "from omniq.models import Task\n"
        "async def main():\n"
        "    async with omniq.load_backend('memory') as backend:\n"
        "        queue = backend.task_queue()\n"
        "        await queue.connect()\n"
        "        await queue.enqueue(Task(func='m:f'))\n"
        "        claimed = await queue.claim(\n"
        "            ['default'], limit=5, lease_seconds=5, worker_id='w'\n"
        "        )\n"
        "        print(len(claimed), sorted(b.name for b in omniq.list_backends()))\n"
        "asyncio.run(main())\n",
    )
    assert out.strip() == "1 ['memory']"


def test_core_alone_names_the_missing_backend_and_the_fix(tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path, "omniq-core")
    out = _run(
        python,
        "import omniq\n"
        "try:\n"
        "    omniq.load_backend('redis')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n",
    )
    assert (
        "OmniQ backend 'redis' is not installed. Install it with: pip install ./omniq-redis "
    ) in out


@pytest.mark.parametrize(
    ("distribution", "backend"),
    [
        ("omniq-sqlite", "sqlite"),
        ("omniq-file", "file"),
        ("omniq-redis", "redis"),
        ("omniq-postgres", "postgres"),
        ("omniq-nats", "nats"),
    ],
)
def test_each_backend_installs_with_only_its_declared_dependencies(
    tmp_path: Path, distribution: str, backend: str
) -> None:
    python = _fresh_venv(tmp_path, "omniq-core", distribution)
    out = _run(
        python,
        "import omniq\n"
        f"info = {{b.name: b for b in omniq.list_backends(load=True)}}[{backend!r}]\n"
        "print(info.status, info.distribution)\n",
    )
    assert out.split() == ["ok", distribution]
