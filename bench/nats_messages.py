"""What OmniQ's NATS backend sends and receives per task: a deterministic guide where wall-clock
figures on a shared machine vary 2-3x run to run.

``python bench/nats_messages.py`` starts a nats-server -js of its own, wraps nats-py's client
(``Client._send_publish`` for messages out, ``Client._process_msg`` for messages in) and counts,
per operation and per task, the messages and payload bytes each way, by kind (ticket, state
record, result, event, ack, pull request, ...), and the round trips the caller awaited (a
pipelined batch of publishes, a pull request, a request). For one task with an idle worker it
prints the chain of awaited round trips from the enqueue to the result.

Operations: one-at-a-time enqueue (with the ``enqueued`` events the app writes in the
background), a bulk enqueue of 1,000, claim and complete in batches of 100 (the worker's
sequence: claim, ``started`` events, results, terminal events, acks, through the app's
:class:`~omniq.runtime.completion.Finisher`), and one task with an idle worker (the latency
benchmark's loop: enqueue, then wait for the result)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from nats.aio.client import Client  # noqa: E402
from omniq import AsyncOmniQ  # noqa: E402
from omniq_nats import publisher, pull  # noqa: E402
from omniq_nats.testing import NATSServer  # noqa: E402
from tasks import noop  # noqa: E402

PREFIX = "m"


def kind(subject: str) -> str:
    """What a message is, by its subject (``PREFIX`` is this script's backend prefix)."""
    if subject.startswith(f"{PREFIX}.tasks."):
        return "ticket"
    if subject.startswith(f"{PREFIX}.events."):
        return "event"
    if subject.startswith(f"$KV.{PREFIX}_tasks."):
        key = subject.split(".", 2)[2]
        return {"t": "record", "q": "levels"}.get(key[:1], "lease index")
    if subject.startswith(f"$KV.{PREFIX}_results."):
        return "result"
    if subject.startswith("$JS.ACK."):
        return "ack"
    if subject.startswith("$JS.API.CONSUMER.MSG.NEXT."):
        return "pull request"
    if subject.startswith("$JS.API.DIRECT.GET."):
        return "direct get"
    if subject.startswith("$JS.API."):
        return "api " + ".".join(subject.split(".")[2:4]).lower()
    if subject.startswith("_INBOX."):
        return "reply"
    return "other"


class Recorder:
    """Counts what every nats-py client of this process sends and receives while on."""

    def __init__(self) -> None:
        self.on = False
        self.out: Counter[str] = Counter()
        self.out_bytes = 0
        self.inn: Counter[str] = Counter()
        self.in_bytes = 0
        self.trips: Counter[str] = Counter()
        self.trace: list[tuple[float, float, str]] = []
        self._patch()

    def reset(self) -> None:
        self.out.clear()
        self.inn.clear()
        self.trips.clear()
        self.trace.clear()
        self.out_bytes = self.in_bytes = 0

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        self.reset()
        self.on = True
        try:
            yield
        finally:
            self.on = False

    def _patch(self) -> None:
        recorder = self
        send, process = Client._send_publish, Client._process_msg

        async def _send_publish(client: Client, subject: str, reply: str, payload: bytes,
                                size: int, headers: Any) -> None:  # fmt: skip
            if recorder.on:
                recorder.out[kind(subject)] += 1
                recorder.out_bytes += size + sum(len(k) + len(v) + 4 for k, v in
                                                 (headers or {}).items())  # fmt: skip
            await send(client, subject, reply, payload, size, headers)

        async def _process_msg(client: Client, sid: int, subject: bytes, reply: bytes,
                               data: bytes, headers: bytes) -> None:  # fmt: skip
            if recorder.on:
                name = subject.decode()
                what = kind(name)
                if what == "reply":
                    what = "status" if headers and not data else "reply"
                    if reply:
                        what = "pulled ticket"
                elif reply.startswith(b"$JS.ACK."):
                    what = "pulled " + what
                recorder.inn[what] += 1
                recorder.in_bytes += len(data) + len(headers or b"")
            await process(client, sid, subject, reply, data, headers)

        Client._send_publish = _send_publish  # type: ignore[method-assign]
        Client._process_msg = _process_msg  # type: ignore[method-assign]

        many, fetch, request = (
            publisher.Publisher.publish_many,
            pull.Puller.fetch,
            Client.request,
        )

        async def publish_many(self: publisher.Publisher, messages: Any) -> Any:
            return await recorder._trip(f"publish {_kinds(messages)}", many(self, messages))

        async def fetch_(self: pull.Puller, consumer: str, batch: int) -> Any:
            return await recorder._trip(f"fetch {batch}", fetch(self, consumer, batch))

        async def request_(self: Client, subject: str, *args: Any, **kwargs: Any) -> Any:
            return await recorder._trip(kind(subject), request(self, subject, *args, **kwargs))

        publisher.Publisher.publish_many = publish_many  # type: ignore[method-assign]
        pull.Puller.fetch = fetch_  # type: ignore[method-assign]
        Client.request = request_  # type: ignore[method-assign]

    async def _trip(self, what: str, call: Any) -> Any:
        if not self.on:
            return await call
        start = time.perf_counter()
        try:
            return await call
        finally:
            self.trips[what.split(" ")[0]] += 1
            self.trace.append((start, time.perf_counter(), what))


def _kinds(messages: Any) -> str:
    counted = Counter(kind(m[0]) for m in messages)
    return "+".join(f"{n} {k}" for k, n in sorted(counted.items()))


def row(label: str, rec: Recorder, tasks: int, trips: str | None = None) -> str:
    out, inn = sum(rec.out.values()), sum(rec.inn.values())
    detail_out = ", ".join(f"{k} {n / tasks:g}" for k, n in sorted(rec.out.items()))
    detail_in = ", ".join(f"{k} {n / tasks:g}" for k, n in sorted(rec.inn.items()))
    awaited = trips or f"{sum(rec.trips.values()) / tasks:g}"
    return (
        f"| {label} | {out / tasks:.2f} | {inn / tasks:.2f} | {rec.out_bytes / tasks:,.0f} "
        f"| {rec.in_bytes / tasks:,.0f} | {awaited} | {detail_out} | {detail_in} |"
    )


async def measure(url: str) -> list[str]:
    rec = Recorder()
    lines = [
        "| operation | msgs out /task | msgs in /task | bytes out /task | bytes in /task "
        "| awaited round trips | out by kind /task | in by kind /task |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    from omniq import load_backend

    def backend() -> dict[str, Any]:
        return {"backend": load_backend("nats", url=url, prefix=PREFIX)}

    # one at a time, the enqueued events written by the app's background sink
    n = 200
    async with AsyncOmniQ(workers=0, scheduler=False, **backend()) as oq:
        await oq.enqueue(noop, 0)  # the consumer and levels made, the sink started
        await oq.event_sink.flush()
        with rec.counting():
            for i in range(n):
                await oq.enqueue(noop, i)
            await oq.event_sink.flush()
        sink_trips = rec.trips["publish"] - n
        lines.append(row("enqueue one", rec, n, f"1 (+{sink_trips} event batches in all)"))
        await oq.purge("default")

        n = 1000
        with rec.counting():
            await oq.enqueue_many([(noop, (i,)) for i in range(n)])
            await oq.event_sink.flush()
        lines.append(row("enqueue bulk of 1,000", rec, n))
        await oq.purge("default")

    # claim and complete in batches of 100: what a worker of concurrency 100 does per batch
    from omniq.models.completion import Completion, CompletionAction
    from omniq.models.event import EventType
    from omniq.models.result import ResultStatus, TaskResult
    from omniq.models.unchecked import unchecked_event
    from omniq.runtime.completion import Finisher, PendingCompletion

    n, batches = 100, 5
    async with AsyncOmniQ(workers=0, scheduler=False, **backend()) as oq:
        await oq.enqueue_many([(noop, (i,)) for i in range(n * batches)])
        stores = oq.stores
        sink = oq.event_sink
        finisher = Finisher(stores.task_queue, stores.results, sink, lease_seconds=30)
        await sink.flush()

        def event(kind_: EventType, claimed: Any) -> Any:
            task = claimed.task
            return unchecked_event(
                kind_,
                task.id,
                queue=task.queue,
                worker_id="w",
                attempt=claimed.lease.attempt,
                details={"func": task.func},
            )

        with rec.counting():
            for _ in range(batches):
                claimed = await stores.task_queue.claim(
                    ["default"], limit=n, lease_seconds=30, worker_id="w"
                )
                assert len(claimed) == n, len(claimed)
                sink.emit_many([event(EventType.STARTED, c) for c in claimed])
                pending = [
                    PendingCompletion(
                        Completion(
                            lease=c.lease,
                            action=CompletionAction.ACK,
                            result=TaskResult(
                                task_id=c.task.id,
                                status=ResultStatus.SUCCESS,
                                payload=b"null",
                                serializer=c.task.serializer,
                                attempt=c.lease.attempt,
                                worker_id="w",
                                delivery=c.lease.delivery,
                            ),
                            events=(event(EventType.COMPLETED, c),),
                        )
                    )
                    for c in claimed
                ]
                await finisher.finish(pending)
                assert all(p.applied for p in pending)
            await sink.flush()
        lines.append(row("claim + complete, batches of 100", rec, n * batches,
                         f"{sum(rec.trips.values()) / batches:g} per batch"))  # fmt: skip

    # one task, idle worker: the latency benchmark's loop
    async with AsyncOmniQ(workers=4, scheduler=False, **backend()) as oq:
        for _ in range(5):
            await oq.get_result(await oq.enqueue(noop, 0), timeout=30)
        await asyncio.sleep(0.3)  # the worker back to waiting, the sink's writes done
        samples, chains = 20, []
        for _ in range(samples):
            with rec.counting():
                began = time.perf_counter()
                await oq.get_result(await oq.enqueue(noop, 0), timeout=30)
                done = time.perf_counter()
                await asyncio.sleep(0.1)  # the task's remaining writes (event, ack) land
            chains.append(critical_chain(rec.trace, began, done))
            if _ == 0:
                first = row("idle worker, one task", rec, 1, "")
                shown = [(round((a - began) * 1e3, 2), round((b - began) * 1e3, 2), w)
                         for a, b, w in sorted(rec.trace)]  # fmt: skip
        chain = Counter(len(c) for c in chains).most_common(1)[0][0]
        lines.append(first.replace("|  |", f"| {chain} on the path to the result |", 1))
        example = chains[0]
        lines += [
            "",
            "Idle worker, one task: the awaited round trips that end before the result is "
            "read, in order (ms from the enqueue): " + "; ".join(example),
            "",
            "Every awaited call of that task (start, end ms, what): "
            + "; ".join(f"{a}-{b} {w}" for a, b, w in shown),
        ]
    return lines


def critical_chain(trace: list[tuple[float, float, str]], began: float, done: float) -> list[str]:
    """The awaited calls one after the other from the enqueue to the result: the ticket's
    publish, the first fetch after it, the first record write after that, the first write of
    the result after that, and the waiter's read of the result if one ended after the result's
    write (a result handed over in the process needs none)."""
    steps = [
        lambda w: w.startswith("publish") and "ticket" in w,
        lambda w: w.startswith("fetch"),
        lambda w: w.startswith("publish") and "record" in w,
        lambda w: w.startswith("publish") and "result" in w,
    ]
    chain: list[str] = []
    last_end = began
    calls = sorted(trace)
    for step in steps:
        found = next((c for c in calls if c[0] >= last_end - 1e-5 and step(c[2])), None)
        if found is None:
            return chain
        chain.append(f"{found[2]} ({(found[0] - began) * 1e3:.2f}-{(found[1] - began) * 1e3:.2f})")
        last_end = found[1]
    read = [c for c in calls if c[2] == "direct get" and last_end < c[1] <= done + 1e-4]
    if read:
        start, end, what = read[0]
        chain.append(f"{what} ({(start - began) * 1e3:.2f}-{(end - began) * 1e3:.2f})")
    return chain


def main() -> None:
    server = NATSServer(Path(tempfile.mkdtemp(prefix="omniq-nats-messages-")))
    server.start()
    try:
        lines = asyncio.run(measure(server.url))
    finally:
        server.stop()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
