"""Events in the ``<prefix>_EVENTS`` stream, one subject per task
(``<prefix>.events.<queue>.<task id>``), kept by the stream's ``max_age`` and ``max_msgs``.

``query`` reads through an ephemeral consumer filtered to the task's (or queue's) subjects and
starting at ``since``; ``subscribe`` follows new events as NATS delivers them (a core
subscription on the same subjects), after replaying those past ``after_id``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import ClassVar

import attrs
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from omniq.errors import StorageError
from omniq.logging import get_logger
from omniq.models.event import EventQuery, TaskEvent
from omniq.plugins.specs import BackendContext
from omniq.serialization.records import dumps_record, loads_record
from omniq.storage import Capability, EventStorage

from omniq_nats.connection import connection_for, unavailable_as_storage_error
from omniq_nats.publisher import Message, Outcome, Refused
from omniq_nats.pull import Puller

__all__ = ["NATSEventStorage"]

log = get_logger(__name__)


class NATSEventStorage(EventStorage):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS, Capability.EVENT_SUBSCRIBE}
    )

    def __init__(self, ctx: BackendContext) -> None:
        self.conn = connection_for(ctx)
        self.names = self.conn.names
        self._puller: Puller | None = None

    async def connect(self) -> None:
        if self._puller is not None:
            return
        await self.conn.connect()
        options = self.conn.options
        await self.conn.stream(
            StreamConfig(
                name=self.names.event_stream,
                subjects=[f"{self.names.prefix}.events.>"],
                max_age=options.event_max_age,
                max_msgs=options.event_max_count,
                duplicate_window=min(options.duplicate_window, options.event_max_age),
                allow_direct=True,
            )
        )
        self._puller = Puller(self.conn.nc, self.names.event_stream, options.request_timeout)
        await self._puller.start()

    async def close(self) -> None:
        if self._puller is not None:
            await self._puller.stop()
            self._puller = None

    async def append(self, event: TaskEvent) -> None:
        await self.append_many([event])

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        async with unavailable_as_storage_error(self.conn.where):
            outcomes = await self.conn.publish_many(self.messages(events))
        self.settle(outcomes)

    def messages(self, events: Sequence[TaskEvent]) -> list[Message]:
        """The publishes of ``events`` (``Nats-Msg-Id``: the event's id, so a retried write is
        stored once within the stream's duplicate window)."""
        return [
            (self.names.event_subject(e.queue, e.task_id), dumps_record(e), {"Nats-Msg-Id": e.id})
            for e in events
        ]

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Raise if JetStream refused one of the publishes of :meth:`messages`."""
        for outcome in outcomes:
            if isinstance(outcome, Refused):
                raise StorageError(
                    f"NATS refused an event ({outcome.description}, code {outcome.code}) on "
                    f"{self.conn.where}"
                )

    async def _read(self, query: EventQuery) -> list[TaskEvent]:
        """Every stored event matching ``query`` (read through its subject filter), unsorted."""
        out: list[TaskEvent] = []
        for msg in await self._messages(self.names.event_filter(query.queue, query.task_id)):
            event = _decode(msg)
            if event is not None and query.matches(event):
                out.append(event)
        return out

    async def _messages(self, filter_subject: str) -> list[Msg]:
        """Every stored message under ``filter_subject``, through an ephemeral consumer."""
        assert self._puller is not None, "connect() first"
        config = ConsumerConfig(
            filter_subject=filter_subject,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        js = self.conn.js
        info = await js.add_consumer(self.names.event_stream, config)
        name = info.name
        assert name is not None
        out: list[Msg] = []
        try:
            pending = info.num_pending or 0
            while pending > 0:
                msgs = await self._puller.fetch(name, min(pending, 1000))
                if not msgs:
                    break
                out += msgs
                pending = msgs[-1].metadata.num_pending
        finally:
            await self._puller.forget(name)
            with contextlib.suppress(Exception):
                await js.delete_consumer(self.names.event_stream, name)
        return out

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        async with unavailable_as_storage_error(self.conn.where):
            found = await self._read(query)
        found.sort(key=lambda e: (e.timestamp, e.id))
        return found[: query.limit]

    async def subscribe(self, query: EventQuery) -> AsyncIterator[TaskEvent]:
        queue: asyncio.Queue[TaskEvent] = asyncio.Queue()

        async def deliver(msg: Msg) -> None:
            event = _decode(msg)
            if event is not None:
                queue.put_nowait(event)

        filter_subject = self.names.event_filter(query.queue, query.task_id)
        sub = await self.conn.nc.subscribe(filter_subject, cb=deliver)
        seen: set[str] = set()
        live = attrs.evolve(query, after_id=None, since=None, until=None)
        try:
            if query.after_id is not None:
                for event in await self.query(attrs.evolve(query, limit=1_000_000)):
                    seen.add(event.id)
                    yield event
            while True:
                event = await queue.get()
                if event.id in seen or not live.matches(event) or not query.matches(event):
                    continue
                seen.add(event.id)
                if len(seen) > 100_000:
                    seen.clear()
                yield event
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def purge(self, before: datetime) -> int:
        """Drops events whose timestamp is before ``before``: a task's whole subject when all its
        events are older (one purge request), single messages otherwise. It reads every event
        (the stream's ``max_age`` and ``max_msgs`` trim without reading)."""
        js = self.conn.js
        stream = self.names.event_stream
        async with unavailable_as_storage_error(self.conn.where):
            by_subject: dict[str, list[tuple[int, bool]]] = {}
            for msg in await self._messages(f"{self.names.prefix}.events.>"):
                event = _decode(msg)
                old = event is None or event.timestamp < before
                by_subject.setdefault(msg.subject, []).append((msg.metadata.sequence.stream, old))
            count = 0
            for subject, items in by_subject.items():
                olds = [seq for seq, old in items if old]
                if not olds:
                    continue
                if len(olds) == len(items):
                    await js.purge_stream(stream, subject=subject)
                else:
                    for seq in olds:
                        with contextlib.suppress(nats.js.errors.NotFoundError):
                            await js.delete_msg(stream, seq)
                count += len(olds)
        return count


def _decode(msg: Msg) -> TaskEvent | None:
    try:
        return loads_record(msg.data, TaskEvent)
    except Exception:
        log.warning("undecodable NATS event skipped", subject=msg.subject)
        return None
