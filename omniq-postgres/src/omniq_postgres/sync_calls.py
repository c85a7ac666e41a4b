"""Synchronous statements for the sync API's producers (capability ``SYNC_PRODUCER``): an
enqueue or a result read from the caller's thread, on a held synchronous psycopg connection,
without a hop through the runtime's event loop thread (a hop cost more than the statement:
the sync enqueue ran at 0.24 of a raw one-INSERT loop, measured).

Connections are kept in a free list: a thread takes one (``list.pop`` and ``append`` are
atomic), runs its statement and gives it back, so concurrent threads each use their own and
as many stay open as threads ever ran at once (at most ``max_connections`` are kept). A
connection found broken is dropped and the statement sent again on a new one, a few times
with a backoff, as :meth:`~omniq_postgres.database.Database.run` does; every statement sent
this way is idempotent (an enqueue skips a task whose id is queued). What still fails is
raised as OmniQ's error. After a fork, the child opens its own connections and never touches
(nor closes) the parent's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from omniq_postgres.errors import is_reconnectable, translate

__all__ = ["SyncCalls"]

T = TypeVar("T")
SyncConnection = psycopg.Connection[Any]

_ATTEMPTS = 4
_INHERITED: list[SyncConnection] = []
"""A forked child's references to its parent's connections: kept, so that garbage collection
never closes them (closing would end the parent's sessions on the server)."""


class SyncCalls:
    """Held synchronous connections to one schema, for calls from any thread."""

    def __init__(
        self,
        conninfo: str,
        kwargs: dict[str, Any],
        where: str,
        keep: int,
        *,
        opened: Callable[[SyncConnection], None] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._opened = opened
        self._kwargs = kwargs
        self._where = where
        self._keep = keep
        self._free: list[SyncConnection] = []
        self._pid = os.getpid()
        self._closed = False

    def run(self, work: Callable[[SyncConnection], T]) -> T:
        """``work`` on a held connection (a new one if none is free); retried on a new
        connection when the one it got is found broken; psycopg's errors raised as OmniQ's."""
        if self._pid != os.getpid():
            self._forked()
        delay = 0.05
        for attempt in range(_ATTEMPTS):
            connecting = True
            try:
                conn = self._take()
                connecting = False
                try:
                    result = work(conn)
                except BaseException:
                    conn.close()  # broken, or interrupted mid-statement: out of step
                    raise
            except psycopg.Error as exc:
                if attempt + 1 < _ATTEMPTS and is_reconnectable(exc):
                    time.sleep(delay)
                    delay *= 4
                    continue
                raise translate(self._where, exc, connecting=connecting) from None
            self._give_back(conn)
            return result
        raise AssertionError("unreachable")

    def _take(self) -> SyncConnection:
        try:
            return self._free.pop()
        except IndexError:
            conn = psycopg.Connection.connect(self._conninfo, **self._kwargs)
            if self._opened is not None:
                self._opened(conn)
            return conn

    def _give_back(self, conn: SyncConnection) -> None:
        if self._closed or len(self._free) >= self._keep or conn.closed:
            conn.close()
        else:
            self._free.append(conn)

    def _forked(self) -> None:
        _INHERITED.extend(self._free)
        self._free = []
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the free connections; one in use is closed when its call returns."""
        self._closed = True
        free, self._free = self._free, []
        if self._pid != os.getpid():
            _INHERITED.extend(free)
            return
        for conn in free:
            conn.close()
