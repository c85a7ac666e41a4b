"""The sync producer's lean path (omniq_redis.direct): a connection lost between two enqueues
is replaced through redis-py's retried path, a server that is away gives OmniQ's error, many
threads enqueue at once without mixing replies, and a forked child opens its own connection."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import omniq
import pytest
import redis
from omniq import OmniQ
from omniq.errors import StorageError
from omniq_redis.direct import DirectCalls
from omniq_redis.testing import RedisServer

pytestmark = pytest.mark.timeout(60)


def noop(n: int) -> int:
    return n


def test_an_enqueue_after_a_server_restart_reconnects(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        with OmniQ(backend=omniq.load_backend("redis", url=server.url), workers=0) as oq:
            oq.enqueue(noop, 1)
            server.stop()
            server.start()  # same port; the held connection's socket is dead
            task_id = oq.enqueue(noop, 2)
            assert oq.async_app._producer is not None
            client = redis.Redis.from_url(server.url)
            try:
                assert client.exists(f"{{omniq:q:default}}:t:{task_id}") == 1
            finally:
                client.close()
    finally:
        server.stop()


def test_a_server_that_is_away_gives_omniqs_error(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        backend = omniq.load_backend("redis", url=server.url, socket_connect_timeout=1)
        with OmniQ(backend=backend, workers=0) as oq:
            oq.enqueue(noop, 1)
            server.stop()
            with pytest.raises(StorageError, match=r"Cannot reach Redis at redis://127\.0\.0\.1"):
                oq.enqueue(noop, 2)
            server.start()
            oq.enqueue(noop, 3)  # and it comes back
    finally:
        server.stop()


def test_threads_enqueueing_at_once_each_get_their_own_reply(
    redis_server: RedisServer, key_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    direct = DirectCalls(client)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for i in range(300):
                value = f"{thread}-{i}"
                assert direct.call("ECHO", value) == value.encode()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    direct.close()
    client.close()
    assert errors == []


def test_an_error_reply_is_raised_and_the_connection_stays_usable(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    direct = DirectCalls(client)
    try:
        assert direct.call("SET", "direct:x", "1") in (True, b"OK")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            direct.call("LPUSH", "direct:x", "a")
        assert direct.call("GET", "direct:x") == b"1"
    finally:
        direct.close()
        client.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_its_own_connection(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    direct = DirectCalls(client)
    try:
        assert direct.call("ECHO", "parent") == b"parent"
        pid = os.fork()
        if pid == 0:  # the child: its replies must be its own, and the parent's socket kept
            code = 0
            try:
                for i in range(50):
                    if direct.call("ECHO", f"child-{i}") != f"child-{i}".encode():
                        code = 1
            except BaseException:
                code = 2
            os._exit(code)
        for i in range(50):
            assert direct.call("ECHO", f"parent-{i}") == f"parent-{i}".encode()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        direct.close()
        client.close()
