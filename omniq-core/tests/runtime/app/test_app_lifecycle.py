"""Starting and closing the apps: lazy start, idempotent close, use after close, ownership."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from omniq.errors import ConfigurationError
from omniq.runtime.async_app import AsyncOmniQ
from omniq.runtime.sync_app import OmniQ


def add(a: int, b: int) -> int:
    return a + b


def test_sync_app_starts_on_first_use_and_closes_once(plain_stores: dict[str, Any]) -> None:
    oq = OmniQ(workers=0, **plain_stores)
    assert oq.loop is None
    oq.enqueue(add, 1, 2)
    assert oq.running
    loop_threads = [t for t in threading.enumerate() if t.name == "omniq-loop"]
    assert loop_threads
    oq.close()
    oq.close()
    assert oq.loop is None
    assert not any(t.is_alive() for t in loop_threads)
    with pytest.raises(RuntimeError, match="closed"):
        oq.enqueue(add, 1, 2)


async def test_async_app_start_is_idempotent(plain_stores: dict[str, Any]) -> None:
    oq = AsyncOmniQ(workers=0, **plain_stores)
    await oq.start()
    stores = oq.stores
    await oq.start()
    assert oq.stores is stores
    await oq.close()
    with pytest.raises(RuntimeError, match="closed"):
        await oq.enqueue(add, 1, 2)


async def test_close_closes_given_storages_unless_told_not_to(
    plain_stores: dict[str, Any],
) -> None:
    closed: list[str] = []
    for key, storage in plain_stores.items():
        original = storage.close

        async def close(key: str = key, original: Any = original) -> None:
            closed.append(key)
            await original()

        storage.close = close
    async with AsyncOmniQ(workers=0, **plain_stores) as oq:
        await oq.enqueue(add, 1, 2)
    assert sorted(closed) == sorted(plain_stores)


def test_invalid_settings_fail_at_construction(plain_stores: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="worker_type"):
        OmniQ(worker_type="fork_bomb", **plain_stores)
    with pytest.raises(ConfigurationError, match="workers"):
        OmniQ(workers=-1, **plain_stores)
    with pytest.raises(ValueError, match="serializer"):
        OmniQ(serializer="yaml", **plain_stores)
    with pytest.raises(ConfigurationError, match="OmniQConfig"):
        OmniQ(config={"workers": 1})  # type: ignore[arg-type]


def test_sync_api_called_from_its_own_loop_is_refused(plain_stores: dict[str, Any]) -> None:
    import asyncio

    with OmniQ(workers=0, **plain_stores) as oq:

        async def inside() -> None:
            oq.get_events("01ARZ3NDEKTSV4RRFFQ69G5FAV")

        future = asyncio.run_coroutine_threadsafe(inside(), oq.loop)
        with pytest.raises(RuntimeError, match="AsyncOmniQ"):
            future.result(10)


async def test_a_failed_start_closes_what_it_opened(plain_stores: dict[str, Any]) -> None:
    closed: list[str] = []
    for key, storage in plain_stores.items():

        async def close(key: str = key) -> None:
            closed.append(key)

        storage.close = close

    async def refuse() -> None:
        raise ConnectionError("event store unreachable")

    plain_stores["event_storage"].connect = refuse
    oq = AsyncOmniQ(workers=0, **plain_stores)
    with pytest.raises(ConnectionError):
        await oq.start()
    assert "task_queue" in closed
    assert "result_storage" in closed
