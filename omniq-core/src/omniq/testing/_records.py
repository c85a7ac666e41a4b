"""Records the conformance tests store: made fresh per test, with every field set."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from omniq._time import utcnow
from omniq.models.task import Task

__all__ = ["make_task", "soon"]

ODD_BYTES = bytes(range(256))
"""Every byte value: payloads are bytes, and must come back exactly."""


def make_task(queue: str, **changes: Any) -> Task:
    """A task of ``queue`` with every field set to something a store could get wrong."""
    fields: dict[str, Any] = {
        "func": "tests.tasks:work",
        "payload": b'{"args":[1],"kwargs":{}}',
        "queue": queue,
        "max_retries": 2,
        "retry_backoff": 0.5,
        "timeout": 30.0,
        "result_ttl": 3600.0,
        "headers": {"origin": "conformance", "trace": "t-1"},
    }
    fields.update(changes)
    return Task(**fields)


def soon(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
