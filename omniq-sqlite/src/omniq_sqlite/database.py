"""One SQLite database file: its checks, engine, schema, transactions and change watching.

SQLAlchemy Core makes the engine (one pooled connection per thread, pragmas set on connect) and
the schema. Statements run on the pooled DB-API connection with plain SQL text: it is the hot
path, and SQLAlchemy's per-statement layer cost more than SQLite itself (about 85 µs against
30 µs per enqueue, measured). Writes run in ``BEGIN IMMEDIATE`` transactions, retried with a
bounded backoff when another process holds the lock, so "database is locked" is not surfaced
under normal load. A write still locked out after the ``timeout`` option, on any path, raises
:class:`~omniq.errors.StorageUnavailableError` naming the file and that option, never
``sqlite3.OperationalError``.

Async callers: :meth:`Database.run` runs a statement on the database's own thread, so the
event loop never waits on a lock or a disk. :meth:`Database.run_short` is for the short,
bounded statements of the hot path (an enqueue, a claim, an ack, a batch of results or events):
when commits do not wait for the disk (WAL with ``synchronous`` OFF or NORMAL) it first tries
them on the calling thread, on a connection that never waits for a lock, and hands them to the
database's thread only if another connection holds the lock. The thread hop and the contention
for the GIL it brings cost more than the statements (12.6k against 10k no-op tasks/s for one
worker, measured); the loop is held for the statement's own time only (tens of µs, a few ms for
a batch of 1,000 rows). Those connections leave WAL checkpoints to the database's thread.
Synchronous callers use :meth:`Database.run_short_sync`: a writer of this process is waited for
on a lock that wakes them as it ends; another process's, in shorter sleeps than SQLite's own
busy handler.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from omniq.errors import ConfigurationError, StorageError, StorageUnavailableError
from omniq.logging import get_logger
from omniq.storage.wakeup import Waiters
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.pool import SingletonThreadPool
from sqlalchemy.schema import CreateIndex

from omniq_sqlite.options import SQLiteOptions
from omniq_sqlite.schema import (
    METADATA,
    SCHEMA_VERSION,
    TABLES_BY_ROLE,
    UPGRADES,
    schema_versions,
)

__all__ = ["Database", "SchemaVersionError", "open_database"]

log = get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

_SQLITE_HEADER = b"SQLite format 3\x00"


class SchemaVersionError(StorageError):
    """The database was written by a newer OmniQ whose schema this one does not know."""


_SCHEMA_CHANGED = ("no such table", "no such column", "has no column named")
"""What SQLite says when a statement meets tables of another shape than it was written for."""


class _Busy(Exception):
    """Another connection holds the lock: an attempt that must not wait gives up."""


CHECKPOINT_EVERY = 200
"""Write transactions on event loops between two WAL checkpoints on the database's thread."""

INLINE_MAX_ROWS = 1000
"""Batches larger than this always go to the database's thread (see :meth:`Database.run_rows`)."""


class Database:
    """A database file shared by the storages of one backend."""

    def __init__(self, options: SQLiteOptions) -> None:
        self.options = options
        self.path = options.resolved_path()
        self.label = ":memory:" if options.in_memory else str(self.path)
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._ready_roles: set[str] = set()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._writing = threading.RLock()
        """Held by the thread of this process that is writing: a synchronous caller queues
        here and is woken the moment the write ends, instead of polling SQLite's lock in
        sleeps that last 0.5 ms on a loaded machine (measured); the event loop never waits
        for it (it hands its statement to the database's thread instead)."""
        self._target = ""
        """What ``sqlite3.connect`` opens: the file, or the shared in-memory database's URI."""
        self._inline = options.in_memory or (
            options.journal_mode == "WAL" and options.synchronous in ("OFF", "NORMAL")
        )
        """Whether commits return without waiting for the disk, so short statements may run
        on an event loop."""
        self._no_wait_connections: list[sqlite3.Connection] = []
        self._loop_writes = 0
        self._checkpointing = False
        self._generation = 0
        self.waiters: Waiters[str] = Waiters()
        """This process's waiters, woken by this process's writes (keys: ``q:<queue>``,
        ``r:<task id>``)."""

    # -- opening ---------------------------------------------------------------------------------

    def open(self, role: str) -> None:
        """Check the file, make the engine, and create or upgrade ``role``'s tables."""
        with self._lock:
            if self._engine is None:
                self._check_file()
                self._engine = self._make_engine()
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="omniq-sqlite")
            if role not in self._ready_roles:
                self._prepare(role)
                self._ready_roles.add(role)

    def _check_file(self) -> None:
        if self.options.in_memory:
            return
        path = self.path
        directory = path.parent if str(path.parent) else Path(".")
        if not directory.is_dir():
            raise ConfigurationError(
                f"Cannot open SQLite database {str(path)!r}: directory {str(directory)!r} does "
                "not exist. Create it, or set database_path to a file in an existing directory."
            )
        if path.is_dir():
            raise ConfigurationError(
                f"Cannot open SQLite database {str(path)!r}: it is a directory. Set "
                "database_path to a file name, e.g. 'omniq.db'."
            )
        if path.exists():
            if not os.access(path, os.R_OK | os.W_OK):
                raise StorageError(
                    f"Cannot open SQLite database {str(path)!r}: the file is not readable and "
                    "writable by this process. Fix its permissions or choose another file."
                )
            with path.open("rb") as file:
                header = file.read(len(_SQLITE_HEADER))
            if header and header != _SQLITE_HEADER:
                raise StorageError(
                    f"{str(path)!r} is not an SQLite database (it was left untouched). Point "
                    "database_path at an SQLite file or at a new file name."
                )
        elif not os.access(directory, os.W_OK):
            raise StorageError(
                f"Cannot create SQLite database {str(path)!r}: directory {str(directory)!r} is "
                "not writable. Fix its permissions or choose another directory."
            )

    def _make_engine(self) -> Engine:
        options = self.options
        if options.in_memory:
            self._target = f"file:omniq-{uuid.uuid4().hex}?mode=memory&cache=shared"
            url = f"sqlite:///{self._target}&uri=true"
        else:
            self._target = str(self.path)
            url = f"sqlite:///{self.path}"
        engine = create_engine(
            url,
            poolclass=SingletonThreadPool,
            pool_size=256,
            pool_reset_on_return=None,
            connect_args={
                "check_same_thread": False,
                "isolation_level": None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                "timeout": options.timeout,
            },
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: sqlite3.Connection, _: Any) -> None:
            self._configure(dbapi_connection, busy_timeout=options.timeout)

        return engine

    def _configure(self, connection: sqlite3.Connection, *, busy_timeout: float) -> None:
        options = self.options
        if not options.in_memory:
            connection.execute(f"PRAGMA journal_mode={options.journal_mode}")
        connection.execute(f"PRAGMA synchronous={options.synchronous}")
        connection.execute(f"PRAGMA cache_size={int(options.cache_size)}")
        connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")

    def _prepare(self, role: str) -> None:
        engine = self._engine
        assert engine is not None
        try:
            with self.write() as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS omniq_schema "
                    "(role VARCHAR PRIMARY KEY, version INTEGER NOT NULL)"
                )
                row = conn.execute(
                    "SELECT version FROM omniq_schema WHERE role = ?", (role,)
                ).fetchone()
            found = None if row is None else int(row[0])
            if found is not None and found > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"SQLite database {self.label!r} holds {role} tables of schema version "
                    f"{found}, written by a newer OmniQ; this omniq-sqlite understands up to "
                    f"{SCHEMA_VERSION}. Upgrade omniq-sqlite (pip install -U omniq-sqlite); "
                    "the database was not changed."
                )
            if found == SCHEMA_VERSION:
                return
            existing = set(inspect(engine).get_table_names())
            tables = TABLES_BY_ROLE[role]
            with engine.begin() as connection:
                METADATA.create_all(connection, tables=[schema_versions, *tables])
            self._upgrade(role, found, existing)
            with self.write() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO omniq_schema (role, version) VALUES (?, ?)",
                    (role, SCHEMA_VERSION),
                )
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"Cannot use SQLite database {self.label!r}: {exc}. If it is not an OmniQ "
                "database, choose another file; nothing was changed."
            ) from exc

    def _upgrade(self, role: str, found: int | None, existing: set[str]) -> None:
        """Bring ``role``'s tables from version ``found`` to :data:`SCHEMA_VERSION`: create the
        indexes they lack, then run the :data:`~omniq_sqlite.schema.UPGRADES` of each later
        version in one transaction. Rows are kept."""
        tables = TABLES_BY_ROLE[role]
        if found is None and existing & {t.name for t in tables}:
            log.info("adopting unversioned omniq tables", database=self.label, role=role)
        engine = self._engine
        assert engine is not None
        with engine.begin() as connection:
            for table in tables:
                for index in table.indexes:  # IF NOT EXISTS: another process may upgrade too
                    connection.execute(CreateIndex(index, if_not_exists=True))
        steps = [
            statement
            for version in range((found or 1) + 1, SCHEMA_VERSION + 1)
            for statement in UPGRADES.get(version, {}).get(role, ())
        ]
        if steps:
            with self.write() as conn:
                for step in steps:
                    if isinstance(step, str):
                        conn.execute(step)
                    else:
                        step(conn)
            log.info(
                "upgraded omniq tables",
                database=self.label,
                role=role,
                from_version=found,
                to_version=SCHEMA_VERSION,
            )

    # -- running statements ----------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (made on first use, then reused); during an attempt of
        :meth:`run_short` or :meth:`run_short_sync`, the thread's no-wait connection."""
        engine = self._engine
        if engine is None:
            raise StorageError(f"SQLite database {self.label!r} is not open (call connect())")
        local = self._local
        attempting: sqlite3.Connection | None = getattr(local, "attempting", None)
        if attempting is not None:
            return attempting
        held = getattr(local, "held", None)
        if held is None or held[0] is not engine:
            fairy = engine.raw_connection()  # kept checked out by this thread
            driver = fairy.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            held = local.held = (engine, fairy, driver)
        connection: sqlite3.Connection = held[2]
        return connection

    def _no_wait_connection(self, *, on_loop: bool) -> sqlite3.Connection:
        """This thread's connection for attempts that never wait for a lock. One used on an
        event loop (``on_loop``) leaves WAL checkpoints to the database's thread; one used by
        a synchronous caller checkpoints itself, as SQLite does by default."""
        local = self._local
        name = "no_wait_loop" if on_loop else "no_wait"
        held = getattr(local, name, None)
        if held is not None and held[0] == self._generation:
            connection: sqlite3.Connection = held[1]
            return connection
        connection = sqlite3.connect(
            self._target,
            uri=self.options.in_memory,
            check_same_thread=False,
            isolation_level=None,
            timeout=0,
        )
        self._configure(connection, busy_timeout=0)
        if on_loop:
            connection.execute("PRAGMA wal_autocheckpoint=0")
        with self._lock:
            self._no_wait_connections.append(connection)
        setattr(local, name, (self._generation, connection))
        return connection

    def delete_in_batches(self, sql: str, bound: tuple[Any, ...], batch: int) -> int:
        """Run ``sql``, a ``DELETE`` of up to ``batch`` rows older than ``bound`` (its parameters:
        the bound's values, then ``batch``), one write transaction at a time until fewer rows
        are left, so other writers get the lock between batches; returns how many rows were
        deleted in all."""
        deleted = 0
        while True:
            with self.write() as conn:
                count = int(conn.execute(sql, (*bound, batch)).rowcount)
            deleted += count
            if count < batch:
                return deleted

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction on this thread's connection, committed at the end
        (rolled back on error); waits out other writers within the configured timeout."""
        conn = self.connection()  # first: never wait for another lock holding _writing
        if not self._writing.acquire(timeout=self.options.timeout):
            raise self._locked_too_long("it stayed locked by another writer")
        try:
            self._begin(conn)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # A COMMIT can fail too (a rollback journal with a reader still on the file):
                # the transaction is then still open, holding the lock. Close it, so that a
                # retry, or the next write on this connection, starts clean.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            self._writing.release()

    def _locked_too_long(self, what: str) -> StorageUnavailableError:
        return StorageUnavailableError(
            f"SQLite database {self.label!r}: {what} for {self.options.timeout:g} s, the "
            "backend's timeout option. Another process (or a connection left in a transaction) "
            "is holding the write lock; raise timeout if this load is expected"
        )

    def _begin(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self.options.timeout
        delay = 0.001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if getattr(self._local, "attempting", None) is not None:
                    raise _Busy from exc
                if time.monotonic() >= deadline:
                    raise self._locked_too_long("it stayed locked by another writer") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the database's thread."""
        executor = self._executor
        if executor is None:
            raise StorageError(f"SQLite database {self.label!r} is not open (call connect())")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, lambda: self._waited(fn, args, kwargs))

    def _waited(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """:meth:`_guarded` on a connection that waits out other writers (SQLite's busy handler,
        up to ``timeout``): still locked after that is :class:`StorageUnavailableError`."""
        try:
            return self._guarded(fn, args, kwargs)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._locked_too_long("it stayed locked by another writer") from exc
            raise

    def _guarded(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """``fn(*args, **kwargs)``; a statement that fails because a table or column is not
        what this process expects raises :class:`SchemaVersionError` if a newer OmniQ has
        upgraded the file since this process opened it."""
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if any(sign in str(exc) for sign in _SCHEMA_CHANGED):
                newer = self._newer_schema()
                if newer is not None:
                    raise SchemaVersionError(
                        f"SQLite database {self.label!r} was upgraded to schema version {newer} "
                        f"by a newer OmniQ while this process had it open; this omniq-sqlite "
                        f"understands up to {SCHEMA_VERSION}. Restart this process with "
                        "omniq-sqlite upgraded (pip install -U omniq-sqlite)."
                    ) from exc
            raise

    def _newer_schema(self) -> int | None:
        """The file's schema version if it is newer than this process's, else ``None``."""
        try:
            row = self.connection().execute("SELECT max(version) FROM omniq_schema").fetchone()
        except sqlite3.Error:
            return None
        found = None if row is None or row[0] is None else int(row[0])
        return found if found is not None and found > SCHEMA_VERSION else None

    async def run_short(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn``, a short statement or transaction that may be retried from the start,
        on the calling thread if it can do so without waiting (see the module's docstring);
        otherwise on the database's thread."""
        if self._inline and not self._checkpointing and self._engine is not None:
            done, value = self._attempt(fn, args, kwargs, on_loop=True)
            if done:
                return cast(T, value)
        return await self.run(fn, *args, **kwargs)

    async def run_rows(self, rows: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`run_short` for a batch of ``rows`` rows, if it is at most
        :data:`INLINE_MAX_ROWS`; a larger one goes to the database's thread (:meth:`run`)."""
        if rows <= INLINE_MAX_ROWS:
            return await self.run_short(fn, *args, **kwargs)
        return await self.run(fn, *args, **kwargs)

    def run_short_sync(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` (as for :meth:`run_short`) on this thread for a synchronous caller,
        queuing behind this process's other writers on a lock, and waiting out another
        process's in sleeps of 50 µs to 2 ms: SQLite's own busy handler sleeps 1, 2, 5, 10
        ms..., several times a batch of events' 3 ms hold of the lock."""
        if self._engine is None:
            return fn(*args, **kwargs)  # raises that the database is not open
        deadline = time.monotonic() + self.options.timeout
        delay = 0.00005
        while True:
            done, value = self._attempt(fn, args, kwargs, on_loop=False)
            if done:
                return cast(T, value)
            if time.monotonic() >= deadline:
                raise self._locked_too_long("it stayed locked by another writer")
            time.sleep(delay)
            delay = min(delay * 2, 0.002)

    def _attempt(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        on_loop: bool,
    ) -> tuple[bool, T | None]:
        """``(True, fn(...))`` run on this thread's no-wait connection, or ``(False, None)``
        if another connection held the lock (what ``fn`` did is rolled back)."""
        connection = self._no_wait_connection(on_loop=on_loop)  # before _writing: it locks
        writing = self._writing
        # The loop never waits for the lock: without it a read still runs (WAL) and a write
        # meets SQLite's own lock and goes to the database's thread, as before the lock.
        if on_loop:
            held = writing.acquire(blocking=False)
        elif not writing.acquire(timeout=self.options.timeout):
            return False, None
        else:
            held = True
        try:
            local = self._local
            changes = connection.total_changes
            local.attempting = connection
            try:
                return True, self._guarded(fn, args, kwargs)
            except _Busy:
                return False, None
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                return False, None
            finally:
                local.attempting = None
                if on_loop and connection.total_changes != changes:
                    self._wrote_on_loop()
        finally:
            if held:
                writing.release()

    def _wrote_on_loop(self) -> None:
        """Count a write made on an event loop; every :data:`CHECKPOINT_EVERY`, checkpoint on
        the database's thread. Writes queue behind the checkpoint there, as they would behind
        SQLite's own auto-checkpoint, so that the next one finds the WAL copied and starts it
        over (a checkpoint racing new writes never lets the WAL start over: it grew to 53 MB
        in 2,000 enqueues, measured)."""
        self._loop_writes += 1
        if self._loop_writes < CHECKPOINT_EVERY or self._checkpointing:
            return
        executor = self._executor
        if executor is None:
            return
        self._loop_writes = 0
        self._checkpointing = True
        executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            self.connection().execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next one tries again; SQLite checkpoints on its own too
            log.warning("WAL checkpoint failed", database=self.label, error=str(exc))
        finally:
            self._checkpointing = False

    def data_version(self) -> int:
        """Changes whenever another connection commits (SQLite's ``PRAGMA data_version``)."""
        row = self.connection().execute("PRAGMA data_version").fetchone()
        return int(row[0])

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
            executor, self._executor = self._executor, None
            self._ready_roles.clear()
            no_wait, self._no_wait_connections = self._no_wait_connections, []
            self._generation += 1
        if executor is not None:
            executor.shutdown(wait=True)
        for connection in no_wait:
            connection.close()
        if engine is not None:
            engine.dispose()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def open_database(ctx: Any) -> Database:
    """The backend's database (shared by its storages through the backend context)."""
    options = ctx.options if isinstance(ctx.options, SQLiteOptions) else SQLiteOptions()
    database: Database = ctx.shared("sqlite-database", lambda: Database(options), _close)
    return database


def _close(database: Database) -> None:
    database.close()
