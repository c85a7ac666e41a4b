"""The dashboard's read model: what each page and API endpoint shows, as JSON-able dicts.

Everything is read through the storage contracts, so it works on every backend:

* queue counts: ``TaskQueueStorage.stats`` (the backends' counters or indexes);
* tasks in a queue (pending, active, dead): ``list_tasks`` in its claim or age order, paged by
  asking for ``offset + page`` rows (at most :data:`SCAN_CAP`), filtered by function and time;
* finished tasks (completed, failed attempts, cancelled, dead-lettered): their events, newest
  first, by type, queue and time (:class:`~omniq.storage.EventInsights` where the event storage
  has it, else a bounded ascending query over a recent window, marked ``partial``);
* a task: the queue's record, the result and the task's events (by task id);
* the throughput chart: event counts per minute (``EventInsights.count_events``, else bounded);
* workers: the worker registry (:mod:`omniq.runtime.presence`).

Arguments, results, errors and event details go through :mod:`omniq.dashboard.redaction`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from omniq._time import utcnow
from omniq.dashboard.redaction import arguments_view, headers_view, payload_view, redact, text
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.schedule import Schedule
from omniq.models.task import QueueStats, TaskInfo, TaskState
from omniq.runtime.async_app import AsyncOmniQ
from omniq.runtime.presence import WorkerRecord, list_workers
from omniq.storage import EventInsights, EventStorage, TaskBrowsing

__all__ = [
    "EVENT_STATES",
    "PER_PAGE",
    "QUEUE_STATES",
    "SCAN_CAP",
    "DashboardData",
    "TaskFilter",
]

PER_PAGE = 50
SCAN_CAP = 10_000
"""Most rows one listing reads from a store (deep pages and filters stop there, saying so)."""
FALLBACK_WINDOWS = (timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=1))
"""How far back finished tasks are looked for where the event storage has no EventInsights:
the narrowest of these windows that fills the page."""

QUEUE_STATES = (TaskState.PENDING.value, TaskState.ACTIVE.value, TaskState.DEAD.value)
EVENT_STATES: dict[str, EventType] = {
    "completed": EventType.COMPLETED,
    "failed": EventType.FAILED,
    "retrying": EventType.RETRYING,
    "cancelled": EventType.CANCELLED,
    "dead_lettered": EventType.DEAD_LETTERED,
}
THROUGHPUT_TYPES = (EventType.COMPLETED, EventType.FAILED)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


@attrs.frozen(kw_only=True)
class TaskFilter:
    """The tasks page's filters (validated by :mod:`omniq.dashboard.params`)."""

    queue: str | None = None
    state: str = TaskState.PENDING.value
    func: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    per_page: int = PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def queue_row(stats: QueueStats) -> dict[str, Any]:
    return {
        "queue": stats.queue,
        "ready": stats.ready,
        "delayed": stats.delayed,
        "pending": stats.pending,
        "active": stats.active,
        "dead": stats.dead,
    }


def task_row(info: TaskInfo) -> dict[str, Any]:
    task = info.task
    return {
        "id": task.id,
        "queue": task.queue,
        "state": info.state.value,
        "delayed": info.state is TaskState.PENDING and task.eta > utcnow(),
        "func": task.func,
        "priority": task.priority,
        "attempt": info.attempt,
        "max_attempts": task.max_attempts,
        "deliveries": info.deliveries,
        "enqueued_at": iso(task.enqueued_at),
        "eta": iso(task.eta),
        "worker_id": info.worker_id,
        "last_error": text(info.last_error, 200),
    }


def event_row(event: TaskEvent) -> dict[str, Any]:
    details = redact(event.details)
    return {
        "id": event.id,
        "type": event.event_type.value,
        "task_id": event.task_id,
        "queue": event.queue,
        "timestamp": iso(event.timestamp),
        "worker_id": event.worker_id,
        "attempt": event.attempt,
        "func": details.get("func") if isinstance(details, dict) else None,
        "details": details,
    }


def schedule_row(schedule: Schedule) -> dict[str, Any]:
    if schedule.cron:
        trigger = f"cron {schedule.cron} ({schedule.timezone})"
    elif schedule.interval:
        trigger = f"every {schedule.interval:g} s"
    else:
        trigger = f"once at {iso(schedule.at)}"
    return {
        "name": schedule.name,
        "func": schedule.func,
        "queue": schedule.queue,
        "trigger": trigger,
        "paused": schedule.paused,
        "next_fire_at": iso(schedule.next_fire_at),
        "last_fired_at": iso(schedule.last_fired_at),
    }


def worker_row(record: WorkerRecord) -> dict[str, Any]:
    return {
        "id": record.worker_id,
        "host": record.host,
        "pid": record.pid,
        "queues": list(record.queues),
        "concurrency": record.concurrency,
        "worker_type": record.worker_type,
        "state": record.state,
        "started_at": iso(record.started_at),
        "last_heartbeat": iso(record.last_seen),
        "processed": record.processed,
        "running": record.running,
    }


class DashboardData:
    """Reads for the pages and the API, over a started app."""

    def __init__(self, app: AsyncOmniQ) -> None:
        self.app = app

    @property
    def _events(self) -> EventStorage:
        return self.app.stores.events

    async def queues(self) -> list[dict[str, Any]]:
        return [queue_row(s) for s in (await self.app.queue_sizes()).values()]

    async def queue_names(self) -> list[str]:
        return sorted((await self.app.queue_sizes()).keys())

    async def throughput(
        self, *, minutes: int = 60, bucket_seconds: int = 60, queue: str | None = None
    ) -> dict[str, Any]:
        """Completed and failed attempts per bucket over the last ``minutes``."""
        now = utcnow()
        end = int(now.timestamp()) // bucket_seconds * bucket_seconds + bucket_seconds
        start = end - minutes * 60
        since = datetime.fromtimestamp(start, tz=now.tzinfo)
        until = datetime.fromtimestamp(end, tz=now.tzinfo)
        partial = False
        store = self._events
        if isinstance(store, EventInsights):
            counts = await store.count_events(
                THROUGHPUT_TYPES, since=since, until=until, bucket_seconds=bucket_seconds,
                queue=queue,
            )
        else:
            found = await store.query(
                EventQuery(
                    event_types=THROUGHPUT_TYPES, queue=queue, since=since, until=until,
                    limit=SCAN_CAP,
                )
            )
            partial = len(found) >= SCAN_CAP
            counts = {}
            for event in found:
                key = (int(event.timestamp.timestamp()) // bucket_seconds * bucket_seconds,
                       event.event_type)
                counts[key] = counts.get(key, 0) + 1
        buckets = []
        for moment in range(start, end, bucket_seconds):
            buckets.append(
                {
                    "start": iso(datetime.fromtimestamp(moment, tz=now.tzinfo)),
                    "completed": counts.get((moment, EventType.COMPLETED), 0),
                    "failed": counts.get((moment, EventType.FAILED), 0),
                }
            )
        return {"bucket_seconds": bucket_seconds, "buckets": buckets, "partial": partial}

    async def tasks(self, wanted: TaskFilter) -> dict[str, Any]:
        """One page of tasks matching ``wanted``, and the queue names (for the filter)."""
        queues = await self.queue_names()
        if wanted.state in EVENT_STATES:
            items, more, note = await self._finished(wanted)
        else:
            items, more, note = await self._queued(wanted, queues)
        return {
            "queues": queues,
            "filter": {
                "queue": wanted.queue,
                "state": wanted.state,
                "func": wanted.func,
                "since": iso(wanted.since),
                "until": iso(wanted.until),
            },
            "page": wanted.page,
            "per_page": wanted.per_page,
            "has_more": more,
            "items": items,
            "note": note,
        }

    async def _queued(
        self, wanted: TaskFilter, names: list[str]
    ) -> tuple[list[dict[str, Any]], bool, str | None]:
        state = TaskState(wanted.state)
        queues = [wanted.queue] if wanted.queue else names
        store = self.app.stores.task_queue
        if isinstance(store, TaskBrowsing):
            return await self._browsed(store, state, queues, wanted)
        needed = wanted.offset + wanted.per_page + 1
        filtering = bool(wanted.func or wanted.since or wanted.until)
        read = min(SCAN_CAP, needed if not filtering else SCAN_CAP)
        found: list[TaskInfo] = []
        capped = False
        for queue in queues:
            listed = await self.app.list_tasks(queue, state, limit=read)
            capped = capped or (len(listed) >= read and read == SCAN_CAP)
            found += [i for i in listed if _matches(i, wanted)]
            if len(found) >= needed:
                break
        page = found[wanted.offset : wanted.offset + wanted.per_page]
        note = None
        if capped:
            note = f"only the first {SCAN_CAP:,} tasks of a queue were read for this listing"
        return [task_row(i) for i in page], len(found) > wanted.offset + wanted.per_page, note

    async def _browsed(
        self, store: TaskBrowsing, state: TaskState, queues: list[str], wanted: TaskFilter
    ) -> tuple[list[dict[str, Any]], bool, str | None]:
        """Paged by the store. One queue, or no filter (whole queues before the offset are
        skipped by their counts): the store skips to the offset. Several queues with a filter
        (how many matched in each is unknown): each is read from its start, up to the page."""
        filtering = bool(wanted.func or wanted.since or wanted.until)
        want = wanted.per_page + 1
        found: list[TaskInfo] = []
        note = None
        if filtering and len(queues) > 1:
            read = min(wanted.offset + want, SCAN_CAP)
            for queue in queues:
                found += await store.browse_tasks(
                    queue, state=state, limit=read, func=wanted.func,
                    since=wanted.since, until=wanted.until,
                )
                if len(found) >= wanted.offset + want:
                    break
            if wanted.offset + want > SCAN_CAP:
                note = f"only the first {SCAN_CAP:,} matches of a queue were read"
            found = found[wanted.offset :]
        else:
            counts: dict[str, int] = {}
            if len(queues) > 1:
                sizes = await self.app.queue_sizes(queues)
                counts = {q: _count(s, state) for q, s in sizes.items()}
            skip = wanted.offset
            for queue in queues:
                if queue in counts and counts[queue] <= skip:
                    skip -= counts[queue]
                    continue
                found += await store.browse_tasks(
                    queue, state=state, offset=skip, limit=want - len(found), func=wanted.func,
                    since=wanted.since, until=wanted.until,
                )
                skip = 0
                if len(found) >= want:
                    break
        page = found[: wanted.per_page]
        return [task_row(i) for i in page], len(found) > wanted.per_page, note

    async def _finished(
        self, wanted: TaskFilter
    ) -> tuple[list[dict[str, Any]], bool, str | None]:
        needed = wanted.offset + wanted.per_page + 1
        limit = SCAN_CAP if wanted.func else min(needed, SCAN_CAP)
        query = EventQuery(
            event_types={EVENT_STATES[wanted.state]},
            queue=wanted.queue,
            since=wanted.since,
            until=wanted.until,
            limit=limit,
        )
        store = self._events
        note = None
        if isinstance(store, EventInsights):
            page_query = attrs.evolve(query, limit=wanted.per_page + 1)
            events = await store.query_latest(
                page_query, func=wanted.func, scan=SCAN_CAP, offset=wanted.offset
            )
            more = len(events) > wanted.per_page
            if wanted.func:
                note = f"the function filter searches the latest {SCAN_CAP:,} such events"
            return [event_row(e) for e in events[: wanted.per_page]], more, note
        # bounded ascending reads of recent windows, the narrowest that fills the page
        now = utcnow()
        windows = [wanted.since] if wanted.since else [now - w for w in FALLBACK_WINDOWS]
        events = []
        for since in windows:
            events = await store.query(attrs.evolve(query, since=since, limit=SCAN_CAP))
            if len(events) >= needed:
                break
        events.reverse()
        if wanted.since is None:
            note = "this event storage lists finished tasks of the last hour only"
        if wanted.func:
            events = [e for e in events if e.details.get("func") == wanted.func]
        page = events[wanted.offset : wanted.offset + wanted.per_page]
        if len(events) >= SCAN_CAP:
            note = f"only the latest {SCAN_CAP:,} events were read for this listing"
        return [event_row(e) for e in page], len(events) > wanted.offset + wanted.per_page, note

    async def task(self, task_id: str) -> dict[str, Any] | None:
        """A task's record, result and event timeline; ``None`` if nothing knows it."""
        info = await self.app.get_task(task_id)
        result = await self.app.get_task_result(task_id)
        events = await self._events.query(EventQuery(task_id=task_id, limit=1000))
        if info is None and result is None and not events:
            return None
        document: dict[str, Any] = {
            "id": task_id,
            "state": None,
            "record": None,
            "arguments": None,
            "headers": {},
            "result": None,
            "events": [event_row(e) for e in events],
        }
        if info is not None:
            document["record"] = task_row(info)
            document["state"] = "delayed" if document["record"]["delayed"] else info.state.value
            document["arguments"] = arguments_view(info.task.payload, info.task.serializer)
            document["headers"] = headers_view(info.task.headers)
        if result is not None:
            error = result.error
            document["result"] = {
                "status": result.status.value,
                "completed_at": iso(result.completed_at),
                "attempt": result.attempt,
                "worker_id": result.worker_id,
                "value": payload_view(result.payload, result.serializer)
                if error is None
                else None,
                "error": None
                if error is None
                else {
                    "type": text(error.type, 200),
                    "message": text(error.message, 2000),
                    "traceback": text(error.traceback, 20_000),
                },
            }
            if document["state"] is None:
                document["state"] = {"success": "completed"}.get(
                    result.status.value, result.status.value
                )
        if document["state"] is None and events:
            document["state"] = events[-1].event_type.value
        return document

    async def dead_letters(self, queue: str | None, *, limit: int = PER_PAGE) -> dict[str, Any]:
        """Dead letters per queue (the oldest ``limit`` of each) and their counts."""
        sizes = await self.app.queue_sizes([queue] if queue else None)
        groups = []
        for name, stats in sizes.items():
            if stats.dead == 0:
                continue
            listed = await self.app.list_tasks(name, TaskState.DEAD, limit=limit)
            items = [task_row(i) for i in listed]
            groups.append({"queue": name, "count": stats.dead, "items": items})
        return {"queues": groups}

    async def schedules(self) -> list[dict[str, Any]]:
        return [schedule_row(s) for s in await self.app.list_schedules()]

    async def workers(self, *, window: float = 3600.0) -> list[dict[str, Any]]:
        return [worker_row(w) for w in await list_workers(self._events, window=window)]


def _count(stats: QueueStats, state: TaskState) -> int:
    if state is TaskState.PENDING:
        return stats.pending
    return stats.active if state is TaskState.ACTIVE else stats.dead


def _matches(info: TaskInfo, wanted: TaskFilter) -> bool:
    task = info.task
    return (
        (not wanted.func or task.func == wanted.func)
        and (wanted.since is None or task.enqueued_at >= wanted.since)
        and (wanted.until is None or task.enqueued_at < wanted.until)
    )

