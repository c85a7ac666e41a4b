"""The quick start's task functions: module level in an importable module, so any worker
process (and the scheduler, which stores them by import path) can find them."""

from __future__ import annotations

import collections
from datetime import UTC, datetime

_attempts: collections.Counter[int] = collections.Counter()
"""How often each flaky task ran in this process (the in-process worker shares it)."""


def add(a: int, b: int) -> int:
    """A task that succeeds."""
    return a + b


def flaky_square(n: int) -> int:
    """A task that fails on its first attempt and succeeds when retried."""
    _attempts[n] += 1
    if _attempts[n] == 1:
        raise ConnectionError(f"transient failure for {n}, will be retried")
    return n * n


def broken(n: int) -> None:
    """A task that always fails: after its retries it becomes a dead letter."""
    raise ValueError(f"input {n} is invalid")


def nightly_report(label: str) -> str:
    """The scheduled task."""
    return f"report {label} at {datetime.now(UTC):%H:%M:%S}"
