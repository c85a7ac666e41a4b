"""File events: each ``append_many`` writes one batch file per hour its events fall in, named by
the batch's time span and size (``events/hours/<YYYYmmddHH>/<first µs>-<last µs>-<count>-<batch
id>.events``), so queries by time read only the hours and batches they cover, and a purge drops
whole batches by their names without reading them, by age and then past ``max_events``
(:mod:`omniq_file.event_trim`). On local disks a per-hour task index
(:mod:`omniq_file.event_index`) names the batches that hold each task's events; on object
stores, which cannot append, a query for one task reads every batch (documented cost).

Older layouts named batches ``<first event id>-<batch id>.batch`` (read in full where a name
cannot say enough), and the first layout also kept one file per event in
``events/tasks/<task id>/``: those are still read and purged.

An event that cannot be decoded is skipped with a warning (once per process), and the rest of
its batch is read; a batch file that cannot be read at all is moved to ``quarantine/``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from omniq.logging import get_logger
from omniq.models.event import EventQuery, TaskEvent
from omniq.storage import Capability, EventStorage

from omniq_file.base import FileStorageMixin
from omniq_file.blobs import LocalBlobs
from omniq_file.codec import CorruptFileError
from omniq_file.event_index import batch_names, index_lines, index_path, shard_of
from omniq_file.event_trim import Span, plan_trim
from omniq_file.paths import component
from omniq_file.store import EventBatch

__all__ = ["FileEventStorage"]

log = get_logger(__name__, backend="file")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SUFFIXES = (".events", ".batch")


def _hour(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H")


def _us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp can be off by one)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _batch_name(events: Sequence[TaskEvent], batch_id: str) -> str:
    stamps = [_us(e.timestamp) for e in events]
    return f"{min(stamps):017d}-{max(stamps):017d}-{len(events)}-{batch_id}.events"


def _span(name: str) -> tuple[int, int, int] | None:
    """``(first µs, last µs, count)`` of a batch named by this layout; ``None`` for others."""
    if not name.endswith(".events"):
        return None
    parts = name.removesuffix(".events").split("-")
    try:
        return int(parts[0]), int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return None


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
        batch_id = uuid.uuid4().hex[:12]
        by_hour: dict[str, list[TaskEvent]] = defaultdict(list)
        for event in events:
            component(event.task_id, "task id")
            component(event.id, "event id")
            by_hour[_hour(event.timestamp)].append(event)
        for hour, members in by_hour.items():
            self._write_batch(f"events/hours/{hour}", members, batch_id)

    def _write_batch(self, folder: str, events: list[TaskEvent], batch_id: str) -> None:
        blobs = self.files.blobs
        name = _batch_name(events, batch_id)
        if isinstance(blobs, LocalBlobs):  # indexed before the batch becomes visible
            for shard, lines in index_lines(events, name).items():
                blobs.append(index_path(folder, shard), lines)
        blobs.write(f"{folder}/{name}", self.files.dump(EventBatch(events=events)))

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        found: list[TaskEvent] = await self._run(self._query, query)
        return found

    def _query(self, query: EventQuery) -> list[TaskEvent]:
        if query.task_id is not None:
            found = self._of_task(component(query.task_id, "task id"))
            events = [e for e in found if query.matches(e)]
        else:
            low = None if query.since is None else _us(query.since)
            high = None if query.until is None else _us(query.until)
            events = []
            for hour in self._hours(query.since, query.until):
                folder = f"events/hours/{hour}"
                names = [
                    name
                    for name in self.files.blobs.list(folder)
                    if name.endswith(_SUFFIXES) and _may_hold(name, low, high)
                ]
                for batch in self._batches(folder, names):
                    events += [e for e in batch if query.matches(e)]
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
                names = batch_names(index, task_id)
            else:
                names = [n for n in blobs.list(folder) if n.endswith(_SUFFIXES)]
            for batch in self._batches(folder, names):
                by_id.update((e.id, e) for e in batch if e.task_id == task_id)
        legacy = f"events/tasks/{task_id}"
        for name in blobs.list(legacy):
            event = self.files.load(f"{legacy}/{name}", TaskEvent)
            if event is not None:
                by_id[event.id] = event
        return list(by_id.values())

    def _batches(self, folder: str, names: list[str]) -> list[list[TaskEvent]]:
        """The events of each readable batch of ``names`` in ``folder``."""
        found = []
        for name in names:
            events = self._read(f"{folder}/{name}")
            if events is not None:
                found.append(events)
        return found

    def _read(self, path: str) -> list[TaskEvent] | None:
        """A batch's events, skipping (with a warning) those that cannot be decoded; ``None``
        if the file is gone, or unreadable as a whole (then quarantined)."""
        data = self.files.blobs.read(path)
        if data is None:
            return None
        where = f"{self.files.blobs.label}/{path}"
        try:
            events, problems = self.files.codec.loads_items(data, "events", TaskEvent, where=where)
        except CorruptFileError as exc:
            self.files.quarantine(path, exc)
            return None
        for position, problem in problems:
            if self.files.first_time(f"{path}#{position}"):
                log.warning(
                    "undecodable event skipped",
                    path=where,
                    position=position,
                    problem=problem,
                )
        return events

    def _hours(self, since: datetime | None, until: datetime | None) -> list[str]:
        hours = sorted(self.files.blobs.list("events/hours"))
        low = _hour(since) if since is not None else None
        high = _hour(until + timedelta(hours=1)) if until is not None else None
        return [h for h in hours if (low is None or h >= low) and (high is None or h <= high)]

    async def purge(self, before: datetime) -> int:
        """Delete the events older than ``before``, then the oldest past ``max_events``."""
        count: int = await self._run(self._purge, before)
        count += await self._run(self._trim, self.files.options.max_events)
        return count

    def _purge(self, before: datetime) -> int:
        """Drop every batch whose last event is older than ``before`` by its name alone, and
        leave those whose first is not older unread: only a batch that spans ``before`` (or
        one of an older layout) is read, and rewritten with the events it keeps. Run every
        minute, this lists the hour folders back to ``before``'s and reads almost nothing."""
        blobs, count = self.files.blobs, 0
        legacy = bool(blobs.list("events/tasks"))
        before_us, last_hour = _us(before), _hour(before)
        settled = _hour(datetime.now(UTC) - timedelta(hours=2))
        for hour in self._hours(None, None):
            if hour > last_hour:
                break
            folder = f"events/hours/{hour}"
            names = blobs.list(folder)
            left = 0
            for name in names:
                if not name.endswith(_SUFFIXES):
                    continue
                span = _span(name)
                if span is not None and span[0] >= before_us:
                    left += 1
                    continue
                if span is not None and span[1] < before_us:
                    count += span[2] if blobs.delete(f"{folder}/{name}") else 0
                    continue
                events = self._read(f"{folder}/{name}")
                if events is None:
                    continue
                kept = [e for e in events if e.timestamp >= before]
                left += bool(kept) or not events  # an all-undecodable batch is left as it is
                count += self._replace(f"{folder}/{name}", events, kept, legacy=legacy)
            if not left and hour < settled:
                # no batch left, and no writer still adds to an hour this old: drop the folder
                for name in names:
                    if name.endswith(".idx"):
                        blobs.delete(f"{folder}/{name}")
                blobs.remove_empty_dir(folder)
        return count

    def _trim(self, cap: int) -> int:
        """Drop the oldest events past ``cap``, planned from the batches' names
        (:func:`~omniq_file.event_trim.plan_trim`): only the batches that may hold the cut
        (and those of an older layout, whose names say nothing) are read. This lists every
        hour folder."""
        blobs = self.files.blobs
        legacy = bool(blobs.list("events/tasks"))
        spans: list[Span] = []
        loaded: dict[str, list[TaskEvent]] = {}
        for hour in self._hours(None, None):
            folder = f"events/hours/{hour}"
            for name in blobs.list(folder):
                if not name.endswith(_SUFFIXES):
                    continue
                path, named = f"{folder}/{name}", _span(name)
                if named is None:
                    events = self._read(path)
                    if not events:
                        continue
                    loaded[path] = events
                    stamps = [_us(e.timestamp) for e in events]
                    named = (min(stamps), max(stamps), len(events))
                spans.append(Span(path, *named))
        plan = plan_trim(spans, cap)
        if plan is None:
            return 0
        count = 0
        for span in plan.drop:
            if span.path in loaded:
                count += self._replace(span.path, loaded[span.path], [], legacy=legacy)
            elif blobs.delete(span.path):
                count += span.count
        read: dict[str, list[TaskEvent]] = {}
        for span in plan.read:
            events = loaded.get(span.path) or self._read(span.path)
            if events is not None:
                read[span.path] = events
        candidates = [e for events in read.values() for e in events]
        candidates.sort(key=lambda e: (e.timestamp, e.id), reverse=True)
        keep = {e.id for e in candidates[: max(plan.keep, 0)]}
        for path, events in read.items():
            kept = [e for e in events if e.id in keep]
            count += self._replace(path, events, kept, legacy=legacy)
        return count

    def _replace(
        self, path: str, events: list[TaskEvent], kept: list[TaskEvent], *, legacy: bool
    ) -> int:
        """Replace the batch at ``path`` (holding ``events``) by one of ``kept``, or by nothing;
        returns how many events went."""
        if len(kept) == len(events):
            return 0
        blobs, folder = self.files.blobs, path.rpartition("/")[0]
        if kept:  # under a new name (indexed first); old index lines then name nothing
            self._write_batch(folder, kept, uuid.uuid4().hex[:12])
        blobs.delete(path)
        if legacy:
            staying = {e.id for e in kept}
            for event in events:
                if event.id not in staying:
                    blobs.delete(f"events/tasks/{event.task_id}/{event.id}.event")
        return len(events) - len(kept)


def _may_hold(name: str, low: int | None, high: int | None) -> bool:
    """Whether batch ``name`` may hold events between ``low`` and ``high`` (µs, inclusive)."""
    span = _span(name)
    if span is None:
        return True
    return (low is None or span[1] >= low) and (high is None or span[0] <= high)
