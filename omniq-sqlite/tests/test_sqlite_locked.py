"""A database locked by another process: a write waits up to the ``timeout`` option, then raises
OmniQ's :class:`StorageUnavailableError` naming the file and that option (never a raw
``sqlite3.OperationalError: database is locked``), on the sync and the async API alike. Bad
option values name the option and the range."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from operator import add
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq import AsyncOmniQ, OmniQ
from omniq.errors import BackendOptionError, StorageUnavailableError

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 1.0

_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # hold the write lock until the test closes our stdin
conn.execute("ROLLBACK")
"""


class Locker:
    """Another process holding the database's write lock (``BEGIN IMMEDIATE``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.process: subprocess.Popen[str] | None = None

    def lock(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def unlock(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=10)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "omniq.db"


@pytest.fixture
def locker(db_path: Path) -> Iterator[Locker]:
    holder = Locker(db_path)
    yield holder
    holder.unlock()


def _backend(path: Path, **options: Any) -> Any:
    return omniq.load_backend("sqlite", database_path=str(path), **options)


def _assert_locked(err: pytest.ExceptionInfo[StorageUnavailableError], path: Path) -> None:
    message = str(err.value)
    assert str(path) in message
    assert "stayed locked" in message
    assert "for 1 s, the backend's timeout option" in message


def _timed(call: Any) -> tuple[pytest.ExceptionInfo[StorageUnavailableError], float]:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as err:
        call()
    return err, time.monotonic() - started


def test_sync_writes_wait_for_the_timeout_then_raise_omniqs_error(
    db_path: Path, locker: Locker
) -> None:
    with OmniQ(backend=_backend(db_path, timeout=TIMEOUT), workers=0) as oq:
        task_id = oq.enqueue(add, 1, 2)
        locker.lock()
        calls = {
            "enqueue": lambda: oq.enqueue(add, 1, 2),
            "enqueue_many": lambda: oq.enqueue_many([(add, (1, 2), {})] * 3),
            "cancel": lambda: oq.cancel(task_id),
            "schedule": lambda: oq.schedule(add, 1, 2, interval=60),
        }
        for name, call in calls.items():
            err, took = _timed(call)
            _assert_locked(err, db_path)
            # it waited the timeout out, and not much longer (it used to take three times it)
            assert TIMEOUT * 0.9 <= took < TIMEOUT + 10, (name, took)
        locker.unlock()
        assert oq.enqueue(add, 3, 4)
        assert oq.get_task(task_id) is not None


async def test_async_writes_wait_for_the_timeout_then_raise_omniqs_error(
    db_path: Path, locker: Locker
) -> None:
    async with AsyncOmniQ(backend=_backend(db_path, timeout=TIMEOUT), workers=0) as oq:
        task_id = await oq.enqueue(add, 1, 2)
        locker.lock()
        for call in (
            lambda: oq.enqueue(add, 1, 2),
            lambda: oq.cancel(task_id),
            lambda: oq.schedule(add, 1, 2, interval=60),
        ):
            started = time.monotonic()
            with pytest.raises(StorageUnavailableError) as err:
                await call()
            assert time.monotonic() - started >= TIMEOUT * 0.9
            _assert_locked(err, db_path)
        locker.unlock()
        assert await oq.enqueue(add, 3, 4)


def test_a_lock_released_within_the_timeout_is_waited_for(db_path: Path, locker: Locker) -> None:
    with OmniQ(backend=_backend(db_path, timeout=30), workers=0) as oq:
        oq.enqueue(add, 1, 2)
        locker.lock()
        release = threading.Timer(0.5, locker.unlock)
        release.start()
        try:
            assert oq.enqueue(add, 3, 4)  # waited for the other process instead of failing
        finally:
            release.join()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"timeout": math.nan},
            "Invalid timeout nan: use a number of seconds > 0 and at most 86,400",
        ),
        ({"timeout": math.inf}, "Invalid timeout inf: use a number of seconds > 0"),
        ({"timeout": 0}, "Invalid timeout 0.0: use a number of seconds > 0"),
        ({"timeout": 10**7}, "Invalid timeout 10000000.0: use a number of seconds > 0"),
        ({"poll_interval": math.nan}, "Invalid poll_interval nan: use a number of seconds from"),
        ({"poll_interval": 0}, "Invalid poll_interval 0.0: use a number of seconds from 0.0001"),
        ({"cache_size": 2**40}, "Invalid cache_size 1099511627776: use an integer from"),
    ],
)
def test_bad_option_values_name_the_option_and_the_range(
    options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(BackendOptionError) as err:
        omniq.load_backend("sqlite", **options)
    assert expected in str(err.value)
