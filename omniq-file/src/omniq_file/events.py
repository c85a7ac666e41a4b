"""File events: each ``append_many`` writes one batch file per hour its events fall in
(``events/hours/<YYYYmmddHH>/<first event id>-<batch>.batch``), so queries by time read only the
hours they cover. On local disks a per-hour task index (:mod:`omniq_file.event_index`) names the
batches that hold each task's events; on object stores, which cannot append, a query for one
task reads every batch (documented cost). Data dirs of the first layout also kept one file per
event in ``events/tasks/<task id>/``: those are still read and purged.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from omniq.models.event import EventQuery, TaskEvent
from omniq.storage import Capability, EventStorage

from omniq_file.base import FileStorageMixin
from omniq_file.blobs import LocalBlobs
from omniq_file.event_index import batch_names, index_lines, index_path, shard_of
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
            component(event.task_id, "task id")
            component(event.id, "event id")  # part of a batch's file name
            by_hour[_hour(event.timestamp)].append(event)
        for hour, members in by_hour.items():
            folder = f"events/hours/{hour}"
            name = f"{min(e.id for e in members)}-{batch_id}.batch"
            if isinstance(blobs, LocalBlobs):  # indexed before the batch becomes visible
                for shard, lines in index_lines(members, name).items():
                    blobs.append(index_path(folder, shard), lines)
            blobs.write(f"{folder}/{name}", self.files.dump(EventBatch(events=members)))

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        found: list[TaskEvent] = await self._run(self._query, query)
        return found

    def _query(self, query: EventQuery) -> list[TaskEvent]:
        if query.task_id is not None:
            found = self._of_task(component(query.task_id, "task id"))
            events = [e for e in found if query.matches(e)]
        else:
            events = []
            for hour in self._hours(query.since, query.until):
                for batch in self._batches(f"events/hours/{hour}", None):
                    events += [e for e in batch.events if query.matches(e)]
        events.sort(key=lambda e: (e.timestamp, e.id))
        return events[: query.limit]

    def _of_task(self, task_id: str) -> list[TaskEvent]:
        """Every stored event of one task: from the batches the index names (local disks) or
        from every batch (object stores), plus the first layout's per-event files."""
        blobs, by_id = self.files.blobs, dict[str, TaskEvent]()
        local = isinstance(blobs, LocalBlobs)
        for hour in self._hours(None, None):
            folder = f"events/hours/{hour}"
            if local:
                index = blobs.read(index_path(folder, shard_of(task_id))) or b""
                names: list[str] | None = batch_names(index, task_id)
            else:
                names = None
            for batch in self._batches(folder, names):
                by_id.update((e.id, e) for e in batch.events if e.task_id == task_id)
        legacy = f"events/tasks/{task_id}"
        for name in blobs.list(legacy):
            event = self.files.load(f"{legacy}/{name}", TaskEvent)
            if event is not None:
                by_id[event.id] = event
        return list(by_id.values())

    def _batches(self, folder: str, names: list[str] | None) -> list[EventBatch]:
        """The readable batches in ``folder``: those named, or all of them."""
        if names is None:
            names = [n for n in self.files.blobs.list(folder) if n.endswith(".batch")]
        found = []
        for name in names:
            batch = self.files.load(f"{folder}/{name}", EventBatch)
            if batch is not None:
                found.append(batch)
        return found

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
        legacy = bool(blobs.list("events/tasks"))
        settled = _hour(datetime.now(UTC) - timedelta(hours=2))
        for hour in self._hours(None, before):
            folder = f"events/hours/{hour}"
            names = blobs.list(folder)
            left = 0
            for name in names:
                if not name.endswith(".batch"):
                    continue
                batch = self.files.load(f"{folder}/{name}", EventBatch)
                if batch is None:
                    continue
                kept = [e for e in batch.events if e.timestamp >= before]
                old = len(batch.events) - len(kept)
                left += bool(kept)
                if not old:
                    continue
                if kept:
                    blobs.write(f"{folder}/{name}", self.files.dump(EventBatch(events=kept)))
                else:
                    blobs.delete(f"{folder}/{name}")
                if legacy:
                    for event in batch.events:
                        if event.timestamp < before:
                            blobs.delete(f"events/tasks/{event.task_id}/{event.id}.event")
                count += old
            if not left and hour < settled:
                # no batch left, and no writer still adds to an hour this old: drop its index
                for name in names:
                    if name.endswith(".idx"):
                        blobs.delete(f"{folder}/{name}")
        return count
