"""What Ctrl-C says and does while an app shuts down.

The first Ctrl-C (in ``omniq worker``, ``run_worker`` or a ``with OmniQ()`` block) starts the
graceful shutdown and says what it waits for: how many tasks, for how long at most. The second
ends the wait: the running tasks are released to the queue at once (their attempt not counted),
so another worker, or this one started again, claims them without waiting for their leases to
run out. These lines go to stderr: whoever pressed Ctrl-C is at a terminal, and the library
configures no logging.
"""

from __future__ import annotations

import sys

__all__ = ["releasing_notice", "tell", "waiting_notice"]


def _tasks(count: int) -> str:
    return f"{count} running task" + ("" if count == 1 else "s")


def waiting_notice(running: int, grace: float) -> str:
    """The first Ctrl-C's line."""
    if running == 0:
        return "OmniQ: stopping (no task is running)."
    them = "it" if running == 1 else "them"
    return (
        f"OmniQ: stopping; waiting up to {grace:g} s for {_tasks(running)} to finish. "
        f"Press Ctrl-C again to release {them} to the queue now."
    )


def releasing_notice(running: int) -> str:
    """The second Ctrl-C's line."""
    if running == 0:
        return "OmniQ: stopping now."
    return (
        f"OmniQ: releasing {_tasks(running)} to the queue now (claimable again at once; the "
        "attempt is not counted)."
    )


def tell(text: str) -> None:
    """Write ``text`` to stderr (never raises: a closed stderr must not break a shutdown)."""
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
