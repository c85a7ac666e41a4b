"""Adaptive polling for backends that cannot be told of other processes' writes.

A waiting worker looks fast right after work (``first``, a few ms: latency while busy), then
doubles its pause after each empty look up to ``maximum`` (default :data:`IDLE_POLL_MAX`,
100 ms), so an idle worker rests: a handful of cheap looks a second instead of hundreds. Each new
wait starts fast again. Writes of the same process still wake a waiter at once
(:class:`omniq.storage.wakeup.Waiters`).
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["IDLE_POLL_MAX", "poll_intervals"]

IDLE_POLL_MAX = 0.1
"""The longest pause between two looks of an idle worker, in seconds."""


def poll_intervals(first: float, maximum: float = IDLE_POLL_MAX) -> Iterator[float]:
    """``first``, then doubling after each look, capped at ``max(first, maximum)``."""
    cap = max(first, maximum)
    interval = first
    while True:
        yield interval
        interval = min(interval * 2, cap)
