"""File events: each ``append_many`` writes one batch file in the hour bucket of its events'
time (``events/hours/<YYYYmmddHH>/``) and one small file per event in its task's folder
(``events/tasks/<task id>/``), so queries by task read only that task's files and queries by
time only the hours they cover."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from omniq.models.event import EventQuery, TaskEvent
from omniq.storage import Capability, EventStorage

from omniq_file.base import FileStorageMixin
from omniq_file.paths import component
from omniq_file.store import EventBatch

__all__ = ["FileEventStorage"]


def _hour(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H")


class FileEventStorage(FileStorageMixin, EventStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )
    subscribe_poll_interval = 0.1

    async def append(self, event: TaskEvent) -> None:
        await self.append_many((event,))

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        if events:
            await self._run(self._append, list(events))

    def _append(self, events: list[TaskEvent]) -> None:
        blobs, batch_id = self.files.blobs, uuid.uuid4().hex[:12]
        by_hour: dict[str, list[TaskEvent]] = defaultdict(list)
        for event in events:
            by_hour[_hour(event.timestamp)].append(event)
            task = component(event.task_id, "task id")
            blobs.write(f"events/tasks/{task}/{event.id}.event", self.files.dump(event))
        for hour, members in by_hour.items():
            first = min(e.id for e in members)
            path = f"events/hours/{hour}/{first}-{batch_id}.batch"
            blobs.write(path, self.files.dump(EventBatch(events=members)))

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        found: list[TaskEvent] = await self._run(self._query, query)
        return found

    def _query(self, query: EventQuery) -> list[TaskEvent]:
        events: list[TaskEvent] = []
        if query.task_id is not None:
            folder = f"events/tasks/{component(query.task_id, 'task id')}"
            for name in self.files.blobs.list(folder):
                event = self.files.load(f"{folder}/{name}", TaskEvent)
                if event is not None and query.matches(event):
                    events.append(event)
        else:
            for hour in self._hours(query.since, query.until):
                folder = f"events/hours/{hour}"
                for name in self.files.blobs.list(folder):
                    batch = self.files.load(f"{folder}/{name}", EventBatch)
                    if batch is not None:
                        events += [e for e in batch.events if query.matches(e)]
        events.sort(key=lambda e: (e.timestamp, e.id))
        return events[: query.limit]

    def _hours(self, since: datetime | None, until: datetime | None) -> list[str]:
        hours = sorted(self.files.blobs.list("events/hours"))
        low = _hour(since) if since is not None else None
        high = _hour(until + timedelta(hours=1)) if until is not None else None
        return [h for h in hours if (low is None or h >= low) and (high is None or h <= high)]

    async def purge(self, before: datetime) -> int:
        count: int = await self._run(self._purge, before)
        return count

    def _purge(self, before: datetime) -> int:
        blobs, count = self.files.blobs, 0
        for hour in self._hours(None, before):
            folder = f"events/hours/{hour}"
            for name in blobs.list(folder):
                batch = self.files.load(f"{folder}/{name}", EventBatch)
                if batch is None:
                    continue
                old = [e for e in batch.events if e.timestamp < before]
                if not old:
                    continue
                kept = [e for e in batch.events if e.timestamp >= before]
                if kept:
                    blobs.write(f"{folder}/{name}", self.files.dump(EventBatch(events=kept)))
                else:
                    blobs.delete(f"{folder}/{name}")
                for event in old:
                    blobs.delete(f"events/tasks/{event.task_id}/{event.id}.event")
                count += len(old)
        return count
