"""With a rollback journal (journal_mode DELETE and the like) a COMMIT fails while another
connection reads the file; the write is then rolled back and retried, never left holding the
lock."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import omniq
from omniq import OmniQ


def noop(n: int) -> int:
    return n


def test_a_commit_blocked_by_a_reader_is_retried_and_leaves_no_lock(tmp_path: Path) -> None:
    path = tmp_path / "omniq.db"
    backend = omniq.load_backend("sqlite", database_path=str(path), journal_mode="DELETE")
    with OmniQ(backend=backend, workers=0) as oq:
        oq.enqueue_many([(noop, (0,))])  # tables made
        reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM omniq_tasks").fetchone()  # holds a read lock
        timer = threading.Timer(0.3, lambda: reader.execute("COMMIT"))
        timer.start()
        try:
            ids = oq.enqueue_many([(noop, (1,)), (noop, (2,))])  # its COMMIT waits for the reader
            single = oq.enqueue(noop, 3)
        finally:
            timer.join()
            reader.close()
        other = sqlite3.connect(path, timeout=1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the file is not left locked
        other.execute("ROLLBACK")
        other.close()
        assert len(ids) == 2
        assert oq.queue_sizes()["default"].pending == 4
        assert oq.status(single).value == "pending"
