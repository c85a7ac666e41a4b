"""Raw nats-py JetStream loops on the server OmniQ's NATS backend uses, without OmniQ: the
figures ``bench/run.py --backend nats`` holds OmniQ's against (issue 14's targets)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any


async def raw_nats(url: str, n: int) -> dict[str, Any]:
    """One-at-a-time publishes, pull fetch 1 and fetch 100 with acks, async publish batches of
    1000 and a core request round trip, each on a stream of its own."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    name = f"RAW{uuid.uuid4().hex[:8]}"
    subject = f"raw.{name}"
    payload = b'{"func":"tasks:noop","payload":"eyJhcmdzIjpbMF19"}' * 4  # about a task record
    await js.add_stream(
        StreamConfig(name=name, subjects=[f"{subject}.>"], retention=RetentionPolicy.WORK_QUEUE)
    )
    from importlib.metadata import version

    out: dict[str, Any] = {"client": f"nats-py {version('nats-py')}, JetStream"}
    try:
        start = time.perf_counter()
        for i in range(n):
            await js.publish(f"{subject}.one", payload, headers={"Nats-Msg-Id": f"one{i}"})
        out["publish_one_per_second"] = round(n / (time.perf_counter() - start), 1)

        for batch in (1, 100):
            consumer = f"fetch{batch}"
            await js.add_consumer(
                name,
                ConsumerConfig(
                    durable_name=consumer,
                    filter_subject=f"{subject}.f{batch}",
                    ack_policy=AckPolicy.EXPLICIT,
                ),
            )
            futures = [await js.publish_async(f"{subject}.f{batch}", payload) for _ in range(n)]
            await asyncio.gather(*futures)
            sub = await js.pull_subscribe_bind(consumer, stream=name)
            start = time.perf_counter()
            done = 0
            while done < n:
                msgs = await sub.fetch(min(batch, n - done), timeout=5)
                for msg in msgs:
                    await msg.ack()
                done += len(msgs)
            out[f"fetch{batch}_ack_per_second"] = round(n / (time.perf_counter() - start), 1)

        start = time.perf_counter()
        for offset in range(0, n, 1000):
            futures = [
                await js.publish_async(f"{subject}.bulk", payload)
                for _ in range(min(1000, n - offset))
            ]
            await asyncio.gather(*futures)
        out["publish_async_batches_per_second"] = round(n / (time.perf_counter() - start), 1)

        async def respond(msg: Any) -> None:
            await msg.respond(b"ok")

        await nc.subscribe(f"rr.{name}", cb=respond)
        timings = []
        for _ in range(min(n, 2000)):
            start = time.perf_counter()
            await nc.request(f"rr.{name}", b"x", timeout=5)
            timings.append(time.perf_counter() - start)
        out["request_p50_ms"] = round(statistics.median(timings) * 1000, 3)
        timings = []
        for _ in range(min(n, 2000)):
            start = time.perf_counter()
            await js.publish(f"{subject}.rt", payload)
            timings.append(time.perf_counter() - start)
        out["publish_p50_ms"] = round(statistics.median(timings) * 1000, 3)
        out["per_second"] = out["publish_one_per_second"]
    finally:
        await js.delete_stream(name)
        await nc.close()
    return out


def nats_ratios(results: dict[str, Any]) -> list[str]:
    """OmniQ's NATS figures against the raw loops of the same run, with issue 14's targets."""
    raw = results.get("client_enqueue_raw")  # the step bench/run.py stores the raw loops under
    if not isinstance(raw, dict) or "error" in raw:
        return []

    def figure(label: str, key: str = "per_second") -> float | None:
        entry = results.get(label)
        return entry.get(key) if isinstance(entry, dict) else None

    rows = [
        ("enqueue_async", "publish_one_per_second", 0.6, False),
        ("enqueue_sync", "publish_one_per_second", 0.6, False),
        ("process_noop_async", "fetch1_ack_per_second", 0.5, False),
        ("enqueue_bulk", "publish_async_batches_per_second", 0.4, False),
        ("latency", "request_p50_ms", 3.0, True),
    ]
    lines = [
        "NATS against raw nats-py JetStream loops in the same run:",
        "",
        "| nats figure | raw loop | ratio | target |",
        "| --- | --- | --- | --- |",
    ]
    for label, raw_key, target, lower_is_better in rows:
        ours = figure(label, "p50_ms" if lower_is_better else "per_second")
        theirs = raw.get(raw_key)
        if not ours or not theirs:
            continue
        ratio = ours / theirs
        want = f"≤ {target:g}x" if lower_is_better else f"≥ {target:.0%}"
        shown = f"{ratio:.2f}x" if lower_is_better else f"{ratio:.0%}"
        lines.append(f"| {label} {ours:,.1f} | {raw_key} {theirs:,.1f} | {shown} | {want} |")
    mixed = results.get("nats_interleaved")
    if isinstance(mixed, dict) and "error" not in mixed:
        lines += [
            "",
            "The enqueues again, in alternating chunks with the raw loop (median ratio of the "
            "chunks; the machine's drift cancels out):",
            "",
            "| nats figure | raw loop | ratio (min-max) | target |",
            "| --- | --- | --- | --- |",
        ]
        for label, target in (("enqueue_sync", 0.6), ("enqueue_async", 0.6), ("enqueue_bulk", 0.4)):
            entry = mixed.get(label)
            if isinstance(entry, dict):
                lines.append(
                    f"| {label} {entry['per_second']:,.1f} | {entry['raw_per_second']:,.1f} "
                    f"| {entry['ratio_median']:.0%} ({entry['ratio_min']:.0%}-"
                    f"{entry['ratio_max']:.0%}) | ≥ {target:.0%} |"
                )
    return lines


def _ratios(raw_times: list[float], omniq_times: list[float], n: int) -> dict[str, Any]:
    ratios = sorted(r / o for r, o in zip(raw_times, omniq_times, strict=True))
    return {
        "n": n,
        "per_second": round(n / sum(omniq_times), 1),
        "raw_per_second": round(n / sum(raw_times), 1),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(ratios[0], 3),
        "ratio_max": round(ratios[-1], 3),
    }


def nats_interleaved(
    app_kwargs: Callable[[], dict[str, Any]], url: str, n: int, rounds: int = 10
) -> dict[str, Any]:
    """OmniQ's enqueues and the raw nats-py loops they are held against, in alternating
    chunks on the same server, so that both see the same machine (on a shared VM the speed
    drifts by more than the gaps measured): sync and async one-at-a-time enqueue against
    one-at-a-time publishes, bulk ``enqueue_many`` of 1,000 against ``publish_async`` batches
    of 1,000. The event writes of the enqueues run meanwhile; the final drain is not timed."""
    import nats
    from nats.js.api import RetentionPolicy, StreamConfig
    from omniq import AsyncOmniQ, OmniQ
    from tasks import noop

    payload = b'{"func":"tasks:noop","payload":"eyJhcmdzIjpbMF19"}' * 4
    name = f"RAWI{uuid.uuid4().hex[:8]}"
    chunk = max(n // rounds, 1)
    out: dict[str, Any] = {}

    async def raw_setup() -> Any:
        nc = await nats.connect(url)
        js = nc.jetstream()
        config = StreamConfig(
            name=name, subjects=[f"{name}.>"], retention=RetentionPolicy.WORK_QUEUE
        )
        await js.add_stream(config)
        return nc, js

    async def publish_one(js: Any, tag: str) -> float:
        start = time.perf_counter()
        for i in range(chunk):
            await js.publish(f"{name}.one", payload, headers={"Nats-Msg-Id": f"{tag}{i}"})
        return time.perf_counter() - start

    async def publish_batches(js: Any) -> float:
        start = time.perf_counter()
        for offset in range(0, chunk, 1000):
            batch = min(1000, chunk - offset)
            futures = [await js.publish_async(f"{name}.bulk", payload) for _ in range(batch)]
            await asyncio.gather(*futures)
        return time.perf_counter() - start

    # sync app (its event loop thread) against raw publishes on a loop of this thread
    loop = asyncio.new_event_loop()
    try:
        nc, js = loop.run_until_complete(raw_setup())
        raw_times, omniq_times = [], []
        with OmniQ(workers=0, **app_kwargs()) as oq:
            for i in range(min(chunk, 500)):  # warm up
                oq.enqueue(noop, i)
            for r in range(rounds):
                raw_times.append(loop.run_until_complete(publish_one(js, f"s{r}.")))
                start = time.perf_counter()
                for i in range(chunk):
                    oq.enqueue(noop, i)
                omniq_times.append(time.perf_counter() - start)
            oq.query_events(limit=1)
        out["enqueue_sync"] = _ratios(raw_times, omniq_times, chunk * rounds)
        loop.run_until_complete(nc.close())
    finally:
        loop.close()

    async def in_one_loop() -> None:
        nc, js = await raw_setup()
        try:
            async with AsyncOmniQ(workers=0, **app_kwargs()) as oq:
                for i in range(min(chunk, 500)):
                    await oq.enqueue(noop, i)
                raw_times, omniq_times = [], []
                for r in range(rounds):
                    raw_times.append(await publish_one(js, f"a{r}."))
                    start = time.perf_counter()
                    for i in range(chunk):
                        await oq.enqueue(noop, i)
                    omniq_times.append(time.perf_counter() - start)
                out["enqueue_async"] = _ratios(raw_times, omniq_times, chunk * rounds)
                raw_times, omniq_times = [], []
                for _ in range(rounds):
                    raw_times.append(await publish_batches(js))
                    start = time.perf_counter()
                    for offset in range(0, chunk, 1000):
                        size = min(1000, chunk - offset)
                        await oq.enqueue_many([(noop, (i,)) for i in range(size)])
                    omniq_times.append(time.perf_counter() - start)
                out["enqueue_bulk"] = _ratios(raw_times, omniq_times, chunk * rounds)
                await oq.query_events(limit=1)
        finally:
            with contextlib.suppress(Exception):
                await js.delete_stream(name)
            await nc.close()

    asyncio.run(in_one_loop())
    out["per_second"] = out["enqueue_async"]["per_second"]  # what the bench's table shows
    return out
