"""The wake-up listener on a real redis-server: messages reach the callback, a killed
subscription is opened again and the waiters are told to check (messages meanwhile are lost),
and a server that is not there fails the start."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from omniq_redis.testing import RedisServer, free_port
from omniq_redis.wakeups import WakeListener


class _Heard:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.resubscribed = asyncio.Event()

    def listener(self, client: Any, prefix: str) -> WakeListener:
        return WakeListener(
            client,
            pattern=f"{prefix}wake:*",
            channel=f"{prefix}results",
            on_message=lambda channel, data: self.messages.put_nowait((channel, data)),
            on_resubscribed=self.resubscribed.set,
        )


async def test_messages_reach_the_callback_and_survive_a_killed_subscription(
    redis_server: RedisServer, key_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    heard = _Heard()
    listener = heard.listener(client, key_prefix)
    await listener.start()
    try:
        await client.publish(f"{key_prefix}wake:default", "task-1")
        await client.publish(f"{key_prefix}results", "a b")
        await client.publish(f"{key_prefix}other", "not subscribed")
        got = [await asyncio.wait_for(heard.messages.get(), 5) for _ in range(2)]
        assert got == [(f"{key_prefix}wake:default", "task-1"), (f"{key_prefix}results", "a b")]

        killed = await client.client_kill_filter(_type="pubsub")
        assert killed >= 1
        await asyncio.wait_for(heard.resubscribed.wait(), 10)
        await client.publish(f"{key_prefix}wake:later", "task-2")
        assert await asyncio.wait_for(heard.messages.get(), 5) == (
            f"{key_prefix}wake:later",
            "task-2",
        )
        assert heard.messages.empty(), "the unsubscribed channel's message came through"
    finally:
        await listener.close()
        await client.aclose()


async def test_the_start_fails_when_no_server_listens(key_prefix: str) -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    listener = _Heard().listener(client, key_prefix)
    try:
        with pytest.raises((redis.ConnectionError, OSError)):
            await listener.start()
    finally:
        await listener.close()
        await client.aclose()
