"""Telling a real cancellation from a leaked one."""

from __future__ import annotations

import asyncio

__all__ = ["being_cancelled"]


def being_cancelled() -> bool:
    """Whether the running task was asked to stop. A ``CancelledError`` raised while this is
    false leaked from a library's own timeout handling (redis-py has had such bugs); the
    runtime's background loops treat it as a failed call instead of ending."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
