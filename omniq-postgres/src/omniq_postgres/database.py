"""One PostgreSQL schema as the backend's storages share it: the checks made at connect, the
connection pool, the tables, and the listener that turns NOTIFY into wake-ups.

Every connection is in autocommit mode with ``search_path`` set to the backend's schema, the
``statement_timeout`` option and UTC, so a statement is its own transaction unless a storage
opens one. A transaction left idle for as long (its client paused or hung between two
statements) is ended by the server, so its row locks cannot hide tasks from other workers'
``SKIP LOCKED`` recoveries for ever. :meth:`Database.run` gives a storage a pooled
connection: a connection found broken (the server restarted, an administrator terminated it) is
dropped and the call retried on a new one, a few times with a backoff; what still fails is raised
as OmniQ's error (:func:`~omniq_postgres.errors.translate`), never psycopg's.

The listener is one more connection, made on first need (a worker waiting for work, a result
wait, an event follower, a cancel check): it ``LISTEN``s on the schema's channel and wakes this
process's waiters. Each reconnect wakes every waiter, since a notification sent while it was
down is lost; waiters also poll every ``poll_interval`` as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from omniq.errors import StorageError
from omniq.logging import get_logger
from omniq.plugins.specs import BackendContext
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from omniq_postgres.errors import SchemaVersionError, is_reconnectable, translate
from omniq_postgres.options import PostgresOptions
from omniq_postgres.schema_version import SCHEMA_VERSION
from omniq_postgres.sync_calls import SyncCalls, SyncConnection
from omniq_postgres.waiters import NotifiedWaiters

__all__ = ["UNFLUSHED", "Database", "database_for"]

log = get_logger(__name__)
T = TypeVar("T")

Connection = psycopg.AsyncConnection[Any]

_ATTEMPTS = 4
"""Tries of one call when its connection is found broken (then the error is raised)."""
_LOCK_KEY = 0x6F6D6E69  # "omni": the advisory lock that serializes schema creation

UNFLUSHED = "(SELECT set_config('synchronous_commit', 'off', true)) = 'off'"
"""A condition that is true and makes the commit of the statement it is in not wait for the WAL
to reach the disk (``synchronous_commit`` off for that statement's own transaction only), for
writes a server crash may lose without breaking a promise: a claim, a lease extension, a
recovery. A lost claim only makes its task claimable again (at-least-once allows the second
run), and any later durable commit (the task's ack) flushes the WAL before it, so the two are
never seen out of order. Being part of one statement, it costs no round trip of its own and
leaves no transaction open between round trips (``BEGIN; SET LOCAL ...; ...; COMMIT`` took
four, and a client paused between them held the rows' locks)."""


class Database:
    """A schema shared by the storages of one backend."""

    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        self.where = options.describe()
        self.schema = options.schema
        self.channel = f"omniq_{options.schema}"
        self.waiters = NotifiedWaiters()
        self.warnings: list[str] = []
        """Server settings that can lose acknowledged work, found at connect."""
        self.listen_epoch = 0
        """Non-zero while the listener is listening; a new value after every reconnect."""
        self.notified_cancels: set[str] = set()
        """Task ids whose cancellation was notified since the listener (re)connected."""
        self._epochs = 0
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._ready_roles: set[str] = set()
        self._lock: asyncio.Lock | None = None
        self._listener: asyncio.Task[None] | None = None
        self._conninfo = options.conninfo()
        self._own: dict[int, weakref.ref[Any]] = {}
        self._owner = os.getpid()
        self._sync = self._sync_calls()

    # -- connecting ----------------------------------------------------------------------------

    def connect_kwargs(self) -> dict[str, Any]:
        timeout_ms = int(self.options.statement_timeout * 1000)
        return {
            "autocommit": True,
            "connect_timeout": max(1, round(self.options.connect_timeout)),
            "options": f"-c search_path={self.schema} -c statement_timeout={timeout_ms} "
            f"-c idle_in_transaction_session_timeout={timeout_ms} -c TimeZone=UTC",
            "application_name": "omniq",
        }

    async def _connect_one(self) -> Connection:
        try:
            async with asyncio.timeout(self.options.connect_timeout + 1):
                return await psycopg.AsyncConnection.connect(
                    self._conninfo, **self.connect_kwargs()
                )
        except TimeoutError as exc:
            raise translate(self.where, exc, connecting=True) from None
        except psycopg.Error as exc:
            raise translate(self.where, exc, connecting=True) from None

    async def open(self, role: str) -> None:
        """Check the server, open the pool, and create or check ``role``'s tables."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is None:
                await self._check_server()
                self._pool = await self._open_pool()
            if role not in self._ready_roles:
                await self.run(lambda conn: self._prepare(conn, role))
                self._ready_roles.add(role)

    async def _check_server(self) -> None:
        conn = await self._connect_one()
        try:
            async with conn:
                row = await (await conn.execute("SHOW server_version_num")).fetchone()
                if row is None or int(row[0]) < 120000:
                    raise StorageError(
                        f"PostgreSQL at {self.where} is version {row and row[0]}: OmniQ needs "
                        "PostgreSQL 12 or newer"
                    )
                for setting, bad in (("fsync", "off"), ("synchronous_commit", "off")):
                    value = await (await conn.execute(f"SHOW {setting}")).fetchone()
                    if value is not None and value[0] == bad:
                        self.warnings.append(
                            f"PostgreSQL at {self.where} runs with {setting}={bad}: a server "
                            "crash can lose tasks, results and events that were acknowledged"
                        )
                exists = await (
                    await conn.execute(
                        "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
                    )
                ).fetchone()
                if exists is None:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        except psycopg.Error as exc:
            raise translate(self.where, exc) from None
        for warning in self.warnings:
            log.warning("postgres setting can lose data", warning=warning)

    async def _open_pool(self) -> AsyncConnectionPool[Connection]:
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._conninfo,
            kwargs=self.connect_kwargs(),
            min_size=self.options.min_connections,
            max_size=self.options.max_connections,
            timeout=self.options.connect_timeout,
            reconnect_timeout=max(60.0, self.options.connect_timeout),
            name="omniq",
            configure=self._configure,
            open=False,
        )
        try:
            await pool.open(wait=self.options.min_connections > 0,
                            timeout=self.options.connect_timeout)  # fmt: skip
        except PoolTimeout as exc:
            await pool.close()
            raise translate(self.where, exc) from None
        return pool

    async def _configure(self, conn: Connection) -> None:
        self.own(conn)

    async def _prepare(self, conn: Connection, role: str) -> None:
        """Check that ``role``'s tables are of this version (one look, the usual case), else
        create or upgrade them under an advisory lock (several processes may connect at
        once); SQLAlchemy, which defines them, is imported only then."""
        if await self._version(conn, role) == SCHEMA_VERSION:
            return
        from omniq_postgres.schema import UPGRADES, create_statements, create_version_table

        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            await conn.execute(create_version_table().encode())
            version = await self._version(conn, role)
            if version is not None and version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"The {role} tables in schema {self.schema!r} of PostgreSQL at {self.where} "
                    f"are of schema version {version}, newer than this OmniQ knows "
                    f"({SCHEMA_VERSION}): upgrade omniq-postgres, or use another schema option."
                )
            statements: list[str] = []
            if version is not None:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    statements.extend(UPGRADES.get(step, {}).get(role, ()))
            statements.extend(create_statements(role))
            # one round trip: statements without parameters go as one simple query
            await conn.execute(";\n".join(statements).encode(), prepare=False)
            await conn.execute(
                "INSERT INTO omniq_schema (role, version) VALUES (%s, %s) "
                "ON CONFLICT (role) DO UPDATE SET version = excluded.version",
                (role, SCHEMA_VERSION),
            )

    @staticmethod
    async def _version(conn: Connection, role: str) -> int | None:
        """The version of ``role``'s tables in the schema, or None if it has none yet."""
        found = await (
            await conn.execute(b"SELECT to_regclass('omniq_schema') IS NOT NULL")
        ).fetchone()
        if found is None or not found[0]:
            return None
        row = await (
            await conn.execute(b"SELECT version FROM omniq_schema WHERE role = %s", (role,))
        ).fetchone()
        return None if row is None else int(row[0])

    @property
    def pool(self) -> AsyncConnectionPool[Connection]:
        if self._pool is None:
            raise StorageError(f"PostgreSQL backend {self.where} is not connected (call connect())")
        return self._pool

    # -- running -------------------------------------------------------------------------------

    def _sync_calls(self) -> SyncCalls:
        return SyncCalls(
            self._conninfo,
            self.connect_kwargs(),
            self.where,
            self.options.max_connections,
            opened=self.own,
        )

    def run_sync(self, work: Callable[[SyncConnection], T]) -> T:
        """``work`` on a synchronous connection, from any thread (see
        :mod:`omniq_postgres.sync_calls`)."""
        if self._pool is None:
            raise StorageError(f"PostgreSQL backend {self.where} is not connected (call connect())")
        return self._sync.run(work)

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """``work`` on a pooled connection; retried on a new connection when the one it got
        is found broken; psycopg's errors raised as OmniQ's."""
        pool = self.pool
        delay = 0.05
        for attempt in range(_ATTEMPTS):
            try:
                async with pool.connection() as conn:
                    return await work(conn)
            except PoolTimeout as exc:
                raise translate(self.where, exc) from None
            except psycopg.Error as exc:
                if attempt + 1 < _ATTEMPTS and is_reconnectable(exc):
                    log.info("postgres connection lost; retrying", error=str(exc).strip()[:200])
                    with contextlib.suppress(Exception):
                        await pool.check()  # drop the other broken connections too
                    await asyncio.sleep(delay)
                    delay *= 4
                    continue
                raise translate(self.where, exc) from None
        raise AssertionError("unreachable")

    async def fetchall(self, sql: str, params: Any = None) -> list[Any]:
        async def work(conn: Connection) -> list[Any]:
            cursor = await conn.execute(sql.encode(), params)
            return await cursor.fetchall() if cursor.description else []

        return await self.run(work)

    async def fetchone(self, sql: str, params: Any = None) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def rowcount(self, sql: str, params: Any = None) -> int:
        async def work(conn: Connection) -> int:
            return (await conn.execute(sql.encode(), params)).rowcount

        return await self.run(work)

    def fetchall_sync(self, sql: str, params: Any = None) -> list[Any]:
        """:meth:`fetchall` from any thread, on a synchronous connection."""

        def work(conn: SyncConnection) -> list[Any]:
            cursor = conn.execute(sql.encode(), params)
            return cursor.fetchall() if cursor.description else []

        return self.run_sync(work)

    def fetchone_sync(self, sql: str, params: Any = None) -> Any:
        rows = self.fetchall_sync(sql, params)
        return rows[0] if rows else None

    # -- listening -----------------------------------------------------------------------------

    def ensure_listening(self) -> None:
        """Start the listener if it is not running (on the caller's event loop)."""
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name="omniq-postgres-listener"
            )

    async def _listen(self) -> None:
        delay = 0.05
        while True:
            try:
                conn = await self._connect_one()
                async with conn:
                    await conn.execute(f'LISTEN "{self.channel}"'.encode())
                    self._epochs += 1
                    self.listen_epoch = self._epochs
                    self.notified_cancels.clear()
                    self.waiters.wake_all()  # whatever was sent while nobody listened
                    delay = 0.05
                    async for note in conn.notifies():
                        self._dispatch(note.payload, note.pid)
            except asyncio.CancelledError:
                self.listen_epoch = 0
                raise
            except Exception as exc:
                log.info("postgres listener lost its connection", error=str(exc).strip()[:200])
            self.listen_epoch = 0
            self.waiters.wake_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def own(self, conn: Any) -> None:
        """Count ``conn`` (new) as this backend's: what its statements announce, this process
        was told when they returned, so the listener does not wake anyone for it again (a
        worker woken twice by one enqueue claimed twice)."""
        if os.getpid() != self._owner:  # forked: the parent's connections are not ours
            self._own.clear()
            self._owner = os.getpid()
        self._own[conn.info.backend_pid] = weakref.ref(conn)

    def _from_own(self, pid: int) -> bool:
        """Whether the server session ``pid`` is an open connection of this backend here."""
        ref = self._own.get(pid)
        if ref is None or os.getpid() != self._owner:
            return False
        conn = ref()
        if conn is None or conn.closed:  # gone: the pid may be another client's now
            self._own.pop(pid, None)
            return False
        return True

    def _dispatch(self, payload: str, pid: int = 0) -> None:
        kind, _, rest = payload.partition(" ")
        if kind == "c":  # cancel requests are only ever learnt here
            self.notified_cancels.update(rest.split(" "))
        elif self._from_own(pid):
            return
        elif kind == "q":  # work, and its enqueued events
            for key in rest.split(" "):
                self.waiters.wake(f"q:{key}")
            self.waiters.wake("e")
        elif kind == "r":
            for key in rest.split(" "):
                self.waiters.wake(f"r:{key}")
        elif kind == "e":
            self.waiters.wake("e")

    # -- closing -------------------------------------------------------------------------------

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        pool, self._pool = self._pool, None
        self._ready_roles.clear()
        sync, self._sync = self._sync, self._sync_calls()
        sync.close()
        if pool is not None:
            await pool.close()


def database_for(ctx: BackendContext) -> Database:
    """The :class:`Database` the storages of one backend share (closed with the backend)."""
    options: PostgresOptions = ctx.options

    async def close(db: Database) -> None:
        await db.close()

    shared: Database = ctx.shared("postgres", lambda: Database(options), close)
    return shared


class PostgresStorageMixin:
    """What the four storages share: the database, opened for their role at connect."""

    role: str

    def __init__(self, ctx: BackendContext) -> None:
        self.db = database_for(ctx)

    async def connect(self) -> None:
        await self.db.open(self.role)

    async def close(self) -> None:
        """The pool belongs to the backend, which closes it."""

    def server_warnings(self) -> list[str]:
        return list(self.db.warnings)
