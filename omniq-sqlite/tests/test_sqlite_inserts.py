"""insert_many: multi-row statements give the same rows as one statement per row."""

from __future__ import annotations

import sqlite3

import pytest
from omniq_sqlite.inserts import ROWS_PER_STATEMENT, insert_many

INSERT = "INSERT OR IGNORE INTO t (k, v) VALUES (?, ?)"
UPSERT = "INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)"


@pytest.fixture
def conn() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    return db


@pytest.mark.parametrize(
    "count", [0, 1, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, ROWS_PER_STATEMENT + 1, 1000]
)
def test_every_row_is_inserted_whatever_the_count(conn: sqlite3.Connection, count: int) -> None:
    rows = [(k, f"v{k}") for k in range(count)]
    assert insert_many(conn, INSERT, rows) == count
    assert conn.execute("SELECT k, v FROM t ORDER BY k").fetchall() == rows


def test_ignored_rows_are_not_counted(conn: sqlite3.Connection) -> None:
    insert_many(conn, INSERT, [(k, "old") for k in range(0, 100, 2)])
    added = insert_many(conn, INSERT, [(k, "new") for k in range(100)])
    assert added == 50
    assert conn.execute("SELECT count(*) FROM t WHERE v = 'old'").fetchone() == (50,)


def test_rows_apply_in_order_so_the_last_copy_wins(conn: sqlite3.Connection) -> None:
    rows = [(k % 10, f"pass{k // 10}") for k in range(75)]  # 7.5 passes over 10 keys
    insert_many(conn, UPSERT, rows)
    values = dict(conn.execute("SELECT k, v FROM t").fetchall())
    assert values == {k: ("pass7" if k < 5 else "pass6") for k in range(10)}


def test_a_statement_without_values_is_refused(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="INSERT"):
        insert_many(conn, "INSERT INTO t SELECT 1, 'x'", [()] * ROWS_PER_STATEMENT)
