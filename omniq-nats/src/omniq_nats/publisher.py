"""Pipelined JetStream publishes with their replies read here, not by nats-py.

A batch of publishes (tickets, events, KV compare-and-sets: a KV write is a publish to
``$KV.<bucket>.<key>``) is sent back to back, each with a reply subject of its own under one
inbox subscription, and the replies are awaited together: a batch costs about one round trip
instead of one per message. Each reply is parsed into a :class:`Stored` (the stream sequence,
whether JetStream de-duplicated it) or a :class:`Refused` (JetStream's error code), so a refused
expected-sequence header is an answer, not an exception (nats-py 2.16's ``publish_async`` raises
it inside its reply handler, and its future never resolves)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence

import orjson
from attrs import frozen
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["WRONG_LAST", "Publisher", "Refused", "Stored"]

WRONG_LAST = 10071
"""JetStream's error code for a failed ``Nats-Expected-Last-Subject-Sequence``."""


@frozen
class Stored:
    seq: int
    duplicate: bool = False


@frozen
class Refused:
    code: int
    description: str

    @property
    def wrong_last(self) -> bool:
        return self.code == WRONG_LAST


Outcome = Stored | Refused
Message = tuple[str, bytes, dict[str, str] | None]


class Publisher:
    """Publishes whose replies come to one inbox subscription of this connection."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self.nc = nc
        self.timeout = timeout
        self._prefix = nc.new_inbox()
        self._sub: Subscription | None = None
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._ids = itertools.count()

    async def _ensure(self) -> None:
        if self._sub is None:
            self._sub = await self.nc.subscribe(f"{self._prefix}.*", cb=self._on_reply)

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject, None)
        if future is None or future.done():
            return
        try:
            reply = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            status = (msg.headers or {}).get("Status", "")
            future.set_result(Refused(503 if status == "503" else 0, f"status {status}"))
            return
        error = reply.get("error")
        if error is not None:
            code = int(error.get("err_code") or error.get("code") or 0)
            future.set_result(Refused(code, str(error.get("description", ""))))
        else:
            future.set_result(Stored(int(reply.get("seq", 0)), bool(reply.get("duplicate"))))

    async def publish(self, subject: str, data: bytes, headers: dict[str, str] | None) -> Outcome:
        return (await self.publish_many([(subject, data, headers)]))[0]

    async def publish_many(self, messages: Sequence[Message]) -> list[Outcome]:
        """Send every message, then await every reply (within ``timeout``: a reply missing
        then raises ``TimeoutError``, which the storages report as the server not answering)."""
        if not messages:
            return []
        await self._ensure()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Outcome]] = []
        subjects: list[str] = []
        try:
            for subject, data, headers in messages:
                reply = f"{self._prefix}.{next(self._ids)}"
                future: asyncio.Future[Outcome] = loop.create_future()
                self._waiting[reply] = future
                futures.append(future)
                subjects.append(reply)
                await self.nc.publish(subject, data, reply=reply, headers=headers)
            async with asyncio.timeout(self.timeout):
                return list(await asyncio.gather(*futures))
        finally:
            for reply in subjects:
                self._waiting.pop(reply, None)
