"""EventSink: batching, flush, write_now ordering, retries when the store fails, close."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import datetime

from omniq.models import EventQuery, EventType, TaskEvent
from omniq.runtime.events_sink import EventSink
from omniq.storage import EventStorage


class Recorder(EventStorage):
    def __init__(self) -> None:
        self.batches: list[list[TaskEvent]] = []
        self.fail = 0
        self.leak = 0
        self.cancel_self = 0
        self.write_time = 0.0
        self.writing = asyncio.Event()
        self.cancelled_writes = 0

    async def append(self, event: TaskEvent) -> None:
        await self.append_many([event])

    async def append_many(self, events: Sequence[TaskEvent]) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("store down")
        if self.leak:  # a library's timeout bug: cancelled, though nobody cancelled the writer
            self.leak -= 1
            raise asyncio.CancelledError
        if self.cancel_self:  # the usual form: a timeout cancels the task and never takes it back
            self.cancel_self -= 1
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(1)
        if self.write_time:
            self.writing.set()
            try:
                await asyncio.sleep(self.write_time)  # a slow store, like a network round trip
            except asyncio.CancelledError:
                self.cancelled_writes += 1
                raise
        self.batches.append(list(events))

    async def query(self, query: EventQuery) -> list[TaskEvent]:
        return [e for batch in self.batches for e in batch if query.matches(e)]

    async def purge(self, before: datetime) -> int:
        return 0

    @property
    def stored(self) -> list[str]:
        return [e.task_id for batch in self.batches for e in batch]


def event(n: int, kind: EventType = EventType.ENQUEUED) -> TaskEvent:
    return TaskEvent(event_type=kind, task_id=f"t{n}")


async def test_emits_are_written_in_batches() -> None:
    store = Recorder()
    sink = EventSink(store, max_batch=100)
    await sink.start()
    for n in range(250):
        sink.emit(event(n))
    await sink.flush()
    assert store.stored == [f"t{n}" for n in range(250)]
    assert [len(b) for b in store.batches] == [100, 100, 50]
    await sink.close()


async def test_background_writer_flushes_without_being_asked() -> None:
    store = Recorder()
    sink = EventSink(store, flush_interval=0.001)
    await sink.start()
    sink.emit(event(1))
    for _ in range(500):
        if store.stored:
            break
        await asyncio.sleep(0.002)
    assert store.stored == ["t1"]
    await sink.close()


async def test_write_now_stores_the_backlog_first() -> None:
    store = Recorder()
    sink = EventSink(store, flush_interval=10)  # the writer would wait long
    await sink.start()
    sink.emit(event(1, EventType.STARTED))
    await sink.write_now([event(1, EventType.COMPLETED)])
    assert [e.event_type for b in store.batches for e in b] == ["started", "completed"]
    await sink.close()


async def test_failures_keep_events_and_retry() -> None:
    store = Recorder()
    store.fail = 2
    sink = EventSink(store, flush_interval=0.001)
    await sink.start()
    sink.emit(event(1))
    sink.emit(event(2))
    for _ in range(1000):
        if store.stored:
            break
        await asyncio.sleep(0.005)
    assert store.stored == ["t1", "t2"]
    await sink.close()


async def test_a_leaked_cancellation_is_retried_and_the_writer_keeps_going() -> None:
    store = Recorder()
    store.leak = 1
    sink = EventSink(store, flush_interval=0.001)
    await sink.start()

    async def written(count: int) -> list[str]:
        for _ in range(400):  # no flush(): the background writer must do it
            if len(store.stored) >= count:
                break
            await asyncio.sleep(0.005)
        return store.stored

    sink.emit(event(1))
    assert await written(1) == ["t1"] and store.leak == 0
    sink.emit(event(2))
    assert await written(2) == ["t1", "t2"]
    await sink.close()


async def test_a_writer_ended_by_a_leaked_cancel_is_restarted() -> None:
    store = Recorder()
    store.cancel_self = 1
    sink = EventSink(store, flush_interval=0.001)
    await sink.start()
    sink.emit(event(1))
    for _ in range(400):  # no flush(): a restarted background writer must store it
        if store.stored:
            break
        await asyncio.sleep(0.01)
    assert store.stored == ["t1"] and sink.writer_restarts == 1
    await sink.close()
    assert sink.writer_restarts == 1  # closing ends the writer on purpose: no restart


async def test_close_stores_everything_emitted_from_threads() -> None:
    store = Recorder()
    sink = EventSink(store, flush_interval=10)
    await sink.start()

    def produce(k: int) -> None:
        for n in range(200):
            sink.emit(event(k * 1000 + n))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    await sink.close()
    assert len(store.stored) == len(set(store.stored)) == 800
    assert len(sink) == 0


async def test_full_buffer_drops_the_oldest_and_counts() -> None:
    store = Recorder()
    store.fail = 1
    sink = EventSink(store, flush_interval=0.001, max_buffer=3)
    await sink.start()
    sink.emit_many([event(n) for n in range(5)])
    for _ in range(1000):
        if store.stored:
            break
        await asyncio.sleep(0.005)
    await sink.close()
    assert sink.dropped == 2
    assert store.stored == ["t2", "t3", "t4"]


async def test_close_never_cancels_a_write_in_flight() -> None:
    store = Recorder()
    store.write_time = 0.2
    sink = EventSink(store, flush_interval=0.001)
    await sink.start()
    for n in range(5):
        sink.emit(event(n))
    await asyncio.wait_for(store.writing.wait(), 5)  # the background writer is mid-write
    sink.emit(event(5))
    await sink.close()
    assert store.cancelled_writes == 0
    assert store.stored == [f"t{n}" for n in range(6)]
