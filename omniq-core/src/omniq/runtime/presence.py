"""The worker registry, kept in the event storage: every backend has one, so no backend code.

A running worker records its presence as events with no queue: ``worker_started`` when it
starts, ``worker_heartbeat`` every ``heartbeat_interval`` seconds (15 by default) and
``worker_stopped`` when it stops. Each carries the worker's id (as ``task_id`` and
``worker_id``), host, pid, queues, concurrency, worker type, start time, the tasks it has
finished and the tasks it runs now, in ``details``.

:func:`list_workers` reads the events of a recent window (an ``EventQuery`` by type and time,
which every event storage serves from its type/time index) and keeps the latest per worker. A
worker whose last heartbeat is older than three intervals is reported ``lost``: it died without
saying so (SIGKILL, power cut). Presence events age out with the others (the worker's
``event_retention``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from attrs import frozen

from omniq._time import utcnow
from omniq.logging import get_logger
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.unchecked import unchecked_event
from omniq.storage.events import EventStorage

__all__ = [
    "PRESENCE_EVENTS",
    "WorkerPresence",
    "WorkerRecord",
    "list_workers",
    "presence_id",
]

log = get_logger(__name__)

PRESENCE_EVENTS = frozenset(
    {EventType.WORKER_STARTED, EventType.WORKER_HEARTBEAT, EventType.WORKER_STOPPED}
)
"""The event types of the worker registry."""

LOST_AFTER_BEATS = 3
"""Missed heartbeats after which a worker that did not say it stopped is reported lost."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def presence_id(worker_id: str) -> str:
    """``worker_id`` as a valid task id (the registry's events are keyed by it): characters
    outside ``[A-Za-z0-9_-]`` (a host name's dots) become ``_``."""
    cleaned = _UNSAFE.sub("_", worker_id).lstrip("_-") or "worker"
    return cleaned[:128]


WorkerState = Literal["running", "stopped", "lost"]


@frozen(kw_only=True)
class WorkerRecord:
    """What the registry knows of one worker."""

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    worker_type: str
    started_at: datetime | None
    last_seen: datetime
    """The time of its latest presence event (heartbeat, start or stop)."""
    state: WorkerState
    processed: int = 0
    running: int = 0
    heartbeat_interval: float = 15.0


class WorkerPresence:
    """Emits one worker's presence events through ``emit`` (the app's event sink)."""

    def __init__(
        self,
        emit: Callable[[TaskEvent], None],
        *,
        worker_id: str,
        queues: Sequence[str],
        concurrency: int,
        worker_type: str,
        interval: float,
        counts: Callable[[], tuple[int, int]],
    ) -> None:
        self._emit = emit
        self.worker_id = worker_id
        self.interval = interval
        self._counts = counts
        self._started_at = utcnow()
        self._static: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": list(queues),
            "concurrency": concurrency,
            "worker_type": worker_type,
            "started_at": self._started_at.isoformat(),
            "heartbeat_interval": interval,
        }
        self._beating: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Record the start and beat in the background until :meth:`stop`."""
        self._record(EventType.WORKER_STARTED)
        self._beating = asyncio.create_task(self._beat(), name="omniq-heartbeat")

    async def stop(self) -> None:
        """Stop beating and record the stop (written when the sink next flushes or closes)."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None
        self._record(EventType.WORKER_STOPPED)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self._record(EventType.WORKER_HEARTBEAT)
            except Exception as exc:  # never let the registry take a worker down
                log.warning("could not record a worker heartbeat", error=repr(exc))

    def _record(self, event_type: EventType) -> None:
        processed, running = self._counts()
        details = {**self._static, "processed": processed, "running": running}
        self._emit(
            unchecked_event(
                event_type,
                presence_id(self.worker_id),
                queue=None,
                worker_id=self.worker_id,
                details=details,
            )
        )


async def list_workers(
    events: EventStorage,
    *,
    window: float = 3600.0,
    now: datetime | None = None,
    limit: int = 100_000,
) -> list[WorkerRecord]:
    """The workers that recorded their presence in the last ``window`` seconds, latest state
    of each, sorted by id. A read of the registry's events by type and time (indexed)."""
    now = now or utcnow()
    query = EventQuery(
        event_types=PRESENCE_EVENTS, since=now - timedelta(seconds=window), limit=limit
    )
    latest: dict[str, TaskEvent] = {}
    for event in await events.query(query):
        key = event.worker_id or event.task_id
        if key not in latest or (event.timestamp, event.id) >= (
            latest[key].timestamp,
            latest[key].id,
        ):
            latest[key] = event
    return sorted((_record(e, now) for e in latest.values()), key=lambda r: r.worker_id)


def _record(event: TaskEvent, now: datetime) -> WorkerRecord:
    details = event.details
    interval = _number(details.get("heartbeat_interval"), 15.0)
    state: WorkerState
    if event.event_type is EventType.WORKER_STOPPED:
        state = "stopped"
    elif now - event.timestamp > timedelta(seconds=interval * LOST_AFTER_BEATS):
        state = "lost"
    else:
        state = "running"
    started = details.get("started_at")
    try:
        started_at = datetime.fromisoformat(started) if isinstance(started, str) else None
    except ValueError:
        started_at = None
    queues = details.get("queues")
    return WorkerRecord(
        worker_id=event.worker_id or event.task_id,
        host=str(details.get("host", "")),
        pid=int(_number(details.get("pid"), 0)),
        queues=tuple(str(q) for q in queues) if isinstance(queues, list) else (),
        concurrency=int(_number(details.get("concurrency"), 0)),
        worker_type=str(details.get("worker_type", "")),
        started_at=started_at,
        last_seen=event.timestamp,
        state=state,
        processed=int(_number(details.get("processed"), 0)),
        running=int(_number(details.get("running"), 0)),
        heartbeat_interval=interval,
    )


def _number(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default
