"""Commands packed by hiredis are byte for byte what redis-py packs, and what hiredis cannot
pack the same way is left to redis-py."""

from __future__ import annotations

from typing import Any

import pytest
from omniq_redis.packing import HiredisConnection
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

COMMANDS: list[tuple[Any, ...]] = [
    ("SET", "omniq:r:01J", b'{"x":1}', "PX", 86_400_000),
    ("EVALSHA", "ab" * 20, 2, "{q}:ready", "{q}:delayed", "{q}:t:", 1_795_958_636_016, "ch", b"[]"),
    (b"ZADD", "k", 1.5, "m", -3, 2**63 - 1, 0.1, 1e20, "ünïcode ✓", b"\x00\xff"),
    ("CONFIG GET", "maxmemory-policy"),  # split by redis-py
    ("SET", "k", memoryview(b"view")),  # not a plain type: redis-py's packing
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: str(a[0]))
def test_packing_matches_redis_py(args: tuple[Any, ...]) -> None:
    ours, theirs = HiredisConnection(), Connection()
    assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args))


def test_values_redis_py_refuses_are_still_refused() -> None:
    for bad in (True, None, object()):
        with pytest.raises(DataError):
            HiredisConnection().pack_command("SET", "k", bad)
