"""Task functions of the benchmarks (importable, so any worker process may run them)."""

from __future__ import annotations


def noop(i: int = 0) -> None:
    """Does nothing: the benchmarks measure OmniQ, not the task."""
    return None


async def anoop(i: int = 0) -> None:
    return None
