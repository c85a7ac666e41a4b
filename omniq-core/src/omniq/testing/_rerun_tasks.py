"""Task functions of the re-run conformance tests (importable, so any worker can run them)."""

from __future__ import annotations

import time
from pathlib import Path


def echo(value: int, seconds: float = 0.0) -> int:
    """``value``, after ``seconds``."""
    time.sleep(seconds)
    return value


def fails_until(path: str) -> str:
    """Fails until the file ``path`` exists."""
    if not Path(path).exists():
        raise RuntimeError(f"{path} does not exist yet")
    return "fixed"
