"""The exit codes of ``omniq`` commands, for scripts."""

from __future__ import annotations

import enum

__all__ = ["ExitCode"]


class ExitCode(enum.IntEnum):
    OK = 0
    """The command did what was asked."""
    TASK_FAILED = 1
    """The task failed, was cancelled or dead-lettered, or no such task exists."""
    USAGE = 2
    """Bad arguments or configuration (argparse uses 2 as well)."""
    BACKEND = 3
    """A backend could not be loaded or reached."""
    TIMEOUT = 124
    """A wait ran out (as GNU ``timeout`` reports it)."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C."""
