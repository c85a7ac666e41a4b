"""Task functions of the cancellation conformance tests, in an importable module so that
``process_pool`` children can import them. Each writes ``marker`` when it starts (with its
process id) and ``marker + ".stopped"`` when it notices that it was asked to stop."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from omniq.runtime.cancellation import wait_for_cancellation


def _mark(path: str, text: str) -> None:
    Path(path).write_text(text)


async def sleep_async(marker: str, seconds: float) -> str:
    """A coroutine that sleeps ``seconds`` (cancelled: it notes that and lets the cancel end it)."""
    _mark(marker, str(os.getpid()))
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _mark(marker + ".stopped", "CancelledError")
        raise
    return "slept"


def sleep_cooperatively(marker: str, seconds: float) -> str:
    """A plain function that sleeps ``seconds`` unless the cancellation flag is set meanwhile."""
    _mark(marker, str(os.getpid()))
    if wait_for_cancellation(seconds):
        _mark(marker + ".stopped", "flag")
        return "stopped early"
    return "slept"


def sleep_blocking(marker: str, seconds: float) -> str:
    """A plain function that sleeps ``seconds`` and checks nothing (to be killed or waited for)."""
    _mark(marker, str(os.getpid()))
    time.sleep(seconds)
    return "slept"
