"""A real PostgreSQL server for tests: ``PostgresServer().start()`` runs ``initdb`` into a new
temporary directory and ``pg_ctl start`` on a free port on 127.0.0.1 (its unix socket in that
directory, fsync on), until ``stop()``.

The binaries are found on ``PATH``, in ``$OMNIQ_PG_BIN``, or under Debian's
``/usr/lib/postgresql/<version>/bin`` (package ``postgresql``). ``initdb`` refuses to run as
root: then the server runs as the system user ``postgres`` (made by the Debian package), and its
directory belongs to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["PostgresServer", "find_binaries", "free_port", "shared_server"]

USER = "omniq"
PASSWORD = "omniq-test-secret"  # noqa: S105 (a throwaway test cluster's password)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None if PostgreSQL is missing."""
    given = os.environ.get("OMNIQ_PG_BIN")
    if given and (Path(given) / "pg_ctl").exists():
        return Path(given)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


class PostgresServer:
    """One PostgreSQL cluster of its own (superuser ``omniq``, password auth over TCP)."""

    def __init__(self, *, port: int | None = None, settings: dict[str, str] | None = None):
        binaries = find_binaries()
        if binaries is None:
            raise RuntimeError(
                "PostgreSQL is not installed: install the Debian package postgresql "
                "(apt-get install postgresql) or set OMNIQ_PG_BIN to its bin directory"
            )
        self.bin = binaries
        self.port = port or free_port()
        self.settings = settings or {}
        self.directory = Path(tempfile.mkdtemp(prefix="omniq-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._as = {"user": account.pw_uid, "group": account.pw_gid}
        self.directory.chmod(0o755)
        self._initialized = False

    # -- where ---------------------------------------------------------------------------------

    def dsn(self, database: str = "postgres", *, password: str | None = PASSWORD) -> str:
        auth = f"{USER}:{password}" if password is not None else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.dsn()

    def socket_dsn(self, database: str = "postgres") -> str:
        """Over the unix socket in the server's directory (trusted, no password)."""
        return f"postgresql://{USER}@/{database}?host={self.directory}&port={self.port}"

    # -- running -------------------------------------------------------------------------------

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool; its output goes to a file, not a pipe (a server it starts
        would hold a pipe open)."""
        with tempfile.TemporaryFile("w+") as output:
            done = subprocess.run(  # noqa: S603 (fixed PostgreSQL tools, arguments we build)
                [str(self.bin / command[0]), *command[1:]],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.directory,
                timeout=120,
                check=False,
                **self._as,
            )
            output.seek(0)
            text = output.read()
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{command[0]} failed ({done.returncode}): {text}\n{self.log_text()}"
            )
        return subprocess.CompletedProcess(done.args, done.returncode, text, "")

    def _initdb(self) -> None:
        pwfile = self.directory / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        self._initialized = True

    def start(self) -> None:
        if not self._initialized:
            self._initdb()
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.directory),
            "fsync": "on",
            "max_connections": "300",
            "shared_buffers": "64MB",
            **self.settings,
        }
        flags = " ".join(f"-c {key}={value}" for key, value in options.items())
        started = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", flags, "-w", "-t", "60",
            "start", check=False,
        )  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {started.stdout}\n{self.log_text()}")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is dropped, committed work is kept."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "-t", "60",
            "restart",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text()[-4000:]
        return ""

    # -- helpers -------------------------------------------------------------------------------

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement (autocommit) as the superuser; its rows, if any."""
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            cursor = conn.execute(sql.encode())
            return list(cursor.fetchall()) if cursor.description else []

    def new_database(self) -> str:
        name = f"t{uuid.uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}"')
        return name


_shared: PostgresServer | None = None
_shared_users = 0
_shared_lock = threading.Lock()


@contextlib.contextmanager
def shared_server() -> Iterator[PostgresServer]:
    """One cluster for every test session fixture that asks (the package's tests and the
    cross-package chaos suite), started on first use and destroyed when the last user is done:
    a cluster's ``initdb``, start and stop cost seconds each."""
    global _shared, _shared_users
    with _shared_lock:
        if _shared is None:
            server = PostgresServer()
            server.start()
            _shared = server
        _shared_users += 1
        server = _shared
    try:
        yield server
    finally:
        with _shared_lock:
            _shared_users -= 1
            if _shared_users == 0:
                _shared = None
                server.destroy()
