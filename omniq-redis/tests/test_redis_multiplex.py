"""The storages' async lean path (omniq_redis.multiplex): many coroutines share one connection
without mixing replies, a cancelled caller's reply is dropped in step, error replies are
raised (or given in place in a pipeline), and a connection lost or a server restarted is
replaced through redis-py's retried path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from omniq_redis.multiplex import MultiplexedCalls
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(60)


async def test_concurrent_calls_get_their_own_replies(
    redis_server: RedisServer, key_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    calls = MultiplexedCalls(client, 5.0)
    try:
        await asyncio.gather(*(calls.call("SET", f"{key_prefix}:{i}", i) for i in range(200)))
        replies = await asyncio.gather(
            *(calls.call("GET", f"{key_prefix}:{i}") for i in range(200))
        )
        assert replies == [str(i).encode() for i in range(200)]
        pipelined = await calls.pipeline(
            [
                ("INCR", f"{key_prefix}:n"),
                ("HGET", f"{key_prefix}:1", "x"),
                ("INCR", f"{key_prefix}:n"),
            ]
        )
        assert pipelined[0] == 1 and pipelined[2] == 2
        assert isinstance(pipelined[1], redis.ResponseError)  # WRONGTYPE, in its place
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            await calls.call("HGET", f"{key_prefix}:1", "x")
        with pytest.raises(redis.exceptions.NoScriptError):
            await calls.call("EVALSHA", "0" * 40, 0)
    finally:
        calls.close()
        await client.aclose()


async def test_a_cancelled_caller_leaves_the_replies_in_step(
    redis_server: RedisServer, key_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    calls = MultiplexedCalls(client, 5.0)
    try:
        await calls.call("SET", f"{key_prefix}:a", "a")
        # a slow script, then a caller given up on while its reply is still owed
        slow = asyncio.ensure_future(
            calls.call("EVAL", "local t = redis.call('TIME') while true do "
                       "local n = redis.call('TIME') if (n[1] - t[1]) * 1e6 + n[2] - t[2] "
                       "> 200000 then return 'slow' end end", 0)
        )  # fmt: skip
        await asyncio.sleep(0.05)
        given_up = asyncio.ensure_future(calls.call("GET", f"{key_prefix}:a"))
        await asyncio.sleep(0.01)
        given_up.cancel()
        assert await slow == b"slow"
        assert await calls.call("SET", f"{key_prefix}:b", "b") == b"OK"
        assert await calls.call("GET", f"{key_prefix}:b") == b"b"
    finally:
        calls.close()
        await client.aclose()


async def test_a_restarted_server_is_reached_again(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    client = aioredis.Redis.from_url(server.url)
    calls = MultiplexedCalls(client, 5.0)
    try:
        assert await calls.call("SET", "k", "1") == b"OK"
        server.stop()
        server.start()  # same port; the multiplexed connection's socket is dead
        assert await calls.call("SET", "k", "2") in (b"OK", True)  # through the client, or anew
        assert await calls.call("GET", "k") == b"2"
        assert await calls.pipeline([("INCR", "n"), ("INCR", "n")]) == [1, 2]
    finally:
        calls.close()
        await client.aclose()
        server.stop()


def test_calls_from_another_event_loop_go_through_the_client(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    calls = MultiplexedCalls(client, 5.0)

    async def first() -> bytes:
        await calls.call("SET", "loop-key", "one")
        return bytes(await calls.call("GET", "loop-key"))

    async def second() -> bytes:
        # the connection belongs to the first loop, which no longer runs: no reply would come
        await calls.call("SET", "loop-key", "two")
        value = bytes(await calls.call("GET", "loop-key"))
        await client.aclose()
        return value

    try:
        assert asyncio.run(first()) == b"one"
        client = aioredis.Redis.from_url(redis_server.url)
        calls._client = client  # redis-py's own connections are bound to their loop too
        assert asyncio.run(second()) == b"two"
    finally:
        calls.close()
