"""Every Python code block in docs/ runs, so the documented examples cannot rot.

Each block runs as a script in a fresh temporary folder (its working directory, on the import
path), with no ``OMNIQ_*`` variable of this environment. A block whose first line names a file
(``# myapp/tasks.py``) is written there under that name, and the same page's later blocks find
it (each block's folder gets every file-named block above it on its page); a block named
``test_*.py`` is run by pytest instead (with the page's ``conftest.py`` above it, if any).

A block preceded by ``<!-- not-run: reason -->`` is skipped with that reason; say why (it needs
a Redis server, it is a fragment of the block above, ...).

A page's fragments (``oq.enqueue(send_report, ...)``, with ``oq`` and ``send_report`` made
earlier in the prose) get what they need from a setup block the site does not show: a Python
block inside an HTML comment that starts with ``<!-- setup``. Its code runs before each block
below it on the page (not before file-named ones).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXCLUDED = ("dev",)
"""Folders of docs/ that are not the users' documentation (not on the site either)."""

TIMEOUT = 90.0
"""Seconds one block may take (most take one: they run on memory and SQLite)."""

_FENCE = re.compile(r"^```(\w*)\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.+?)\s*-->\s*$")
_FILE_NAME = re.compile(r"^#\s*([\w./-]+\.py)\s*$")
_DATA_FILE_NAME = re.compile(r"^#\s*([\w./-]+\.(?:yaml|yml|json|toml))\s*$")
_SETUP_START = re.compile(r"^<!--\s*setup\b")


@attrs.frozen
class Block:
    page: str
    line: int
    code: str
    skip_reason: str | None
    file_name: str | None
    setup: bool = False
    runnable: bool = True
    """``False`` for a file-named data block (``# omniq.yaml``): written, never run."""
    """Inside ``<!-- setup ... -->``: run before the page's later blocks, not on its own."""

    @property
    def test_id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(path: Path, root: Path = DOCS) -> list[Block]:
    """The Python blocks of one page, in order."""
    page = path.relative_to(root).as_posix()
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    reason: str | None = None
    in_setup = False
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence is None:
            marker = _NOT_RUN.match(line.strip())
            if marker is not None:
                reason = marker.group(1)
            elif _SETUP_START.match(line.strip()):
                in_setup = True
            elif in_setup and line.strip() == "-->":
                in_setup = False
            elif line.strip():
                reason = None  # a marker applies to the block right after it only
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        first_line = lines[index + 1] if index + 1 < end else ""
        data_file = _DATA_FILE_NAME.match(first_line)
        if data_file is not None:
            code = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Block(page, index + 1, code, None, data_file.group(1), runnable=False))
        elif fence.group(1) in ("python", "py"):
            code = "\n".join(lines[index + 1 : end]) + "\n"
            first = code.splitlines()[0] if code.strip() else ""
            named = _FILE_NAME.match(first)
            found.append(
                Block(page, index + 1, code, reason, named.group(1) if named else None, in_setup)
            )
        reason = None
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    pages = sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] not in EXCLUDED)
    return [block for page in pages for block in blocks_of(page)]


ALL_BLOCKS = all_blocks()
BLOCKS = [block for block in ALL_BLOCKS if block.runnable and not block.setup]


def test_the_docs_have_python_examples() -> None:
    """A parser that found nothing would pass every page."""
    assert len(BLOCKS) > 20
    assert {b.page for b in BLOCKS} >= {"guide.md", "configuration.md", "testing.md"}


def test_a_marker_skips_only_the_block_after_it(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text(
        "<!-- not-run: needs a server -->\n```python\nA\n```\ntext\n```python\nB\n```\n",
        encoding="utf-8",
    )
    found = blocks_of(tmp_path / "page.md", root=tmp_path)
    assert [(b.code, b.skip_reason) for b in found] == [("A\n", "needs a server"), ("B\n", None)]


def test_a_setup_block_is_found_and_not_run_on_its_own(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text(
        "<!-- setup: what the fragments use\n```python\nS\n```\n-->\n```python\nB\n```\n",
        encoding="utf-8",
    )
    found = blocks_of(tmp_path / "page.md", root=tmp_path)
    assert [(b.code, b.setup) for b in found] == [("S\n", True), ("B\n", False)]


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIQ_")}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["NO_COLOR"] = "1"
    return env


@pytest.mark.parametrize("block", BLOCKS, ids=[b.test_id for b in BLOCKS])
def test_doc_example_runs(block: Block, tmp_path: Path) -> None:
    if block.skip_reason is not None:
        pytest.skip(block.skip_reason)
    earlier = [
        b
        for b in ALL_BLOCKS
        if b.page == block.page and b.line < block.line and b.file_name is not None
    ]
    for other in earlier:  # a later block on the page imports what these define
        target = tmp_path / other.file_name  # type: ignore[operator]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(other.code, encoding="utf-8")
    name = block.file_name or "example.py"
    code = block.code
    if block.file_name is None:
        setups = [
            b.code for b in ALL_BLOCKS if b.setup and b.page == block.page and b.line < block.line
        ]
        code = "".join(setups) + code
    script = tmp_path / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(code, encoding="utf-8")
    if Path(name).name.startswith("test_"):
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name]
    else:
        command = [sys.executable, name]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"docs/{block.test_id} failed (exit {done.returncode}):\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
