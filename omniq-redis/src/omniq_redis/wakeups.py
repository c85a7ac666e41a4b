"""The pub/sub connection that wakes this process's waiters, read without redis-py's per-message
cost.

redis-py's asyncio ``PubSub.listen()`` reads each message through ``parse_response`` with a
timeout context and a health check: about 60 µs of the event loop per message on this
project's 2-core VM (measured). A worker's loop gets two per task it runs while idle (the
enqueue's wake-up, the result's announcement), on the path of every task's latency. Here the
connection is opened and subscribed by redis-py (its connect, ``AUTH``, ``SELECT``, TLS), then
its transport is handed to a protocol that parses the pushes with hiredis and hands each
``(channel, data)`` to a callback at once.

A lost connection is opened and subscribed again after a pause; messages published meanwhile are
lost, so the callback ``on_resubscribed`` is told, and the waiters are woken to check again (a
spurious wake-up is allowed; a missed one is not). A connection class that does not use asyncio
streams keeps redis-py's ``PubSub`` loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import hiredis
import redis
import redis.asyncio as aioredis
from omniq.logging import get_logger

__all__ = ["WakeListener"]

log = get_logger(__name__)

RECONNECT_PAUSE = 0.5
"""Seconds between a lost subscription and the next attempt."""

OnMessage = Callable[[str, str], None]


class _PushProtocol(asyncio.Protocol):
    """Pub/sub pushes parsed by hiredis; each message's channel and data go to ``on_message``.
    ``subscribed`` resolves once the server confirmed ``confirmations`` subscriptions (or fails
    with its error reply)."""

    def __init__(self, streams: tuple[Any, Any], on_message: OnMessage, confirmations: int):
        self._streams = streams
        """redis-py's stream reader and writer, kept: a collected writer closes the transport."""
        self._on_message = on_message
        self._reader = hiredis.Reader(
            encoding="utf-8", errors="replace", replyError=redis.ResponseError
        )
        self._unconfirmed = confirmations
        loop = asyncio.get_running_loop()
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        while (push := reader.gets()) is not False:
            if isinstance(push, list) and push:
                kind = push[0]
                if kind == "message" and len(push) == 3:
                    self._on_message(push[1], push[2])
                elif kind == "pmessage" and len(push) == 4:
                    self._on_message(push[2], push[3])
                elif kind in ("subscribe", "psubscribe"):
                    self._unconfirmed -= 1
                    if self._unconfirmed == 0 and not self.subscribed.done():
                        self.subscribed.set_result(None)
            elif isinstance(push, redis.ResponseError) and not self.subscribed.done():
                self.subscribed.set_exception(push)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(
                redis.ConnectionError(f"connection lost while subscribing: {exc!r}")
            )
        if not self.lost.done():
            self.lost.set_result(None)


class _NoStreams(Exception):
    """The client's connection class does not use asyncio streams: no transport to take."""


class WakeListener:
    """Subscribed to a pattern and a channel for as long as it runs."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        pattern: str,
        channel: str,
        on_message: OnMessage,
        on_resubscribed: Callable[[], None],
        timeout: float | None = 10.0,
    ) -> None:
        self._client: Any = client
        self._timeout = timeout
        self._pattern = pattern
        self._channel = channel
        self._on_message = on_message
        self._on_resubscribed = on_resubscribed
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        """Subscribe (raising if that fails now), then keep listening in the background."""
        try:
            protocol: _PushProtocol | None = await self._subscribe()
        except _NoStreams:
            self._task = asyncio.create_task(self._listen_with_pubsub(), name="omniq-redis-wake")
            return
        self._task = asyncio.create_task(self._run(protocol), name="omniq-redis-wake")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    async def _run(self, protocol: _PushProtocol | None) -> None:
        while True:
            try:
                if protocol is None:
                    await asyncio.sleep(RECONNECT_PAUSE)
                    protocol = await self._subscribe()
                    self._on_resubscribed()
                await protocol.lost
                log.warning("redis wake-up listener lost its connection; subscribing again")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server is away: try again after the pause
                log.warning("redis wake-up listener reconnecting", error=repr(exc))
            protocol = None

    async def _subscribe(self) -> _PushProtocol:
        """A connection read by :class:`_PushProtocol`, subscribed once the server confirmed
        (the subscribe commands are sent, and their confirmations read, by the protocol: with
        RESP3 redis-py would hand them to its own push handler)."""
        conn = self._client.connection_pool.make_connection()
        await conn.connect()
        writer = getattr(conn, "_writer", None)
        if writer is None:
            await conn.disconnect()
            raise _NoStreams
        transport = writer.transport
        protocol = _PushProtocol((conn._reader, writer), self._on_message, confirmations=2)
        transport.set_protocol(protocol)
        conn._writer = conn._reader = None  # the transport is the protocol's now
        subscribe = [("PSUBSCRIBE", self._pattern), ("SUBSCRIBE", self._channel)]
        transport.write(b"".join(hiredis.pack_command(c) for c in subscribe))  # type: ignore[arg-type]
        try:
            async with asyncio.timeout(self._timeout):
                await protocol.subscribed
        except BaseException:
            protocol.subscribed.cancel()  # a later connection_lost leaves it alone
            transport.close()
            raise
        self._transport = transport
        return protocol

    async def _listen_with_pubsub(self) -> None:
        """redis-py's own loop, for a connection class whose transport cannot be taken over."""
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            while True:
                try:
                    await pubsub.psubscribe(self._pattern)
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        self._on_message(_text(message.get("channel")), _text(message.get("data")))
                except (redis.RedisError, OSError) as exc:
                    log.warning("redis wake-up listener reconnecting", error=repr(exc))
                    await asyncio.sleep(RECONNECT_PAUSE)
                    self._on_resubscribed()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
