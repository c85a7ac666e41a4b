"""Raw nats-py JetStream loops on the server OmniQ's NATS backend uses, without OmniQ: the
figures ``bench/run.py --backend nats`` holds OmniQ's against (issue 14's targets)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
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
    raw = results.get("client_nats_raw")
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
    return lines
