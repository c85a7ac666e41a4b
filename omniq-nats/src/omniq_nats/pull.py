"""Batched, never-waiting fetches from durable pull consumers.

Each consumer gets one inbox subscription for the life of the storage (JetStream delivers a
pulled message under its own subject, so the inbox, not the subject, tells whose it is): a
fetch sends ``CONSUMER.MSG.NEXT`` with ``no_wait`` and a reply subject of its own under that
inbox, and collects messages until ``batch`` arrived or the server says there are no more (a
404/408 status, which comes on that reply subject, so an earlier request's late one is told
apart). Fetches of one
consumer take turns; a message that arrives after its fetch gave up is handed to the next one,
never dropped. nats-py's ``PullSubscription.fetch`` waits for new messages when none are ready,
which ``claim`` must not do."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from attrs import define, field
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["Puller"]


@define
class _Inbox:
    subject: str
    sub: Subscription | None = None
    queue: asyncio.Queue[Msg] = field(factory=asyncio.Queue)
    lock: asyncio.Lock = field(factory=asyncio.Lock)
    requests: int = 0


class Puller:
    def __init__(self, nc: Client, stream: str, timeout: float) -> None:
        self.nc = nc
        self.stream = stream
        self.timeout = timeout
        self._inboxes: dict[str, _Inbox] = {}

    async def start(self) -> None:
        """Nothing to open until the first fetch (kept for symmetry with :meth:`stop`)."""

    async def stop(self) -> None:
        inboxes, self._inboxes = self._inboxes, {}
        for inbox in inboxes.values():
            if inbox.sub is not None:
                with contextlib.suppress(Exception):
                    await inbox.sub.unsubscribe()

    async def forget(self, consumer: str) -> None:
        inbox = self._inboxes.pop(consumer, None)
        if inbox is not None and inbox.sub is not None:
            with contextlib.suppress(Exception):
                await inbox.sub.unsubscribe()

    async def _inbox(self, consumer: str) -> _Inbox:
        inbox = self._inboxes.get(consumer)
        if inbox is None:
            inbox = _Inbox(self.nc.new_inbox())
            self._inboxes[consumer] = inbox
            queue = inbox.queue

            async def deliver(msg: Msg) -> None:
                queue.put_nowait(msg)

            inbox.sub = await self.nc.subscribe(f"{inbox.subject}.*", cb=deliver)
        return inbox

    async def fetch(self, consumer: str, batch: int) -> list[Msg]:
        """Up to ``batch`` messages ready now (an empty list if none)."""
        inbox = await self._inbox(consumer)
        msgs: list[Msg] = []
        async with inbox.lock:
            queue = inbox.queue
            while not queue.empty() and len(msgs) < batch:  # late arrivals of an earlier fetch
                msg = queue.get_nowait()
                if not _is_status(msg):
                    msgs.append(msg)
            if len(msgs) >= batch:
                return msgs
            request = orjson.dumps({"batch": batch - len(msgs), "no_wait": True})
            inbox.requests += 1
            reply = f"{inbox.subject}.{inbox.requests}"
            await self.nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{consumer}", request, reply=reply
            )
            try:
                async with asyncio.timeout(self.timeout):
                    while len(msgs) < batch:
                        msg = await queue.get()
                        if _is_status(msg):
                            if msg.subject != reply or (msg.headers or {}).get("Status") == "100":
                                continue  # an earlier request's end, or a heartbeat
                            break  # 404 no messages, 408 request expired, 409 ...
                        msgs.append(msg)
            except TimeoutError:
                if not msgs:
                    raise
        return msgs


def _is_status(msg: Msg) -> bool:
    return bool(msg.headers) and "Status" in msg.headers and not msg.data  # type: ignore[operator]
