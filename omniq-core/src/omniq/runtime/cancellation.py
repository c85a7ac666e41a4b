"""Telling a real cancellation from a leaked one."""

from __future__ import annotations

import asyncio

__all__ = ["being_cancelled"]


def being_cancelled() -> bool:
    """Whether the running task has a cancellation request.

    A ``CancelledError`` raised while this is false did not come from a cancel at all (a
    library raised it); the runtime's background loops count it as a failed call and go on.
    While it is true the error may be a real cancel or a library's timeout that cancelled the
    task and failed to take it back: the two look alike, so the loop ends and its supervisor
    (which knows whether its owner is stopping) starts it again or lets it go."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
