"""``sathub.sqlitedb.sqlite_connect``: every embedded store opens its file the same way (WAL,
``synchronous=NORMAL``, autocommit, a busy timeout) and keeps its own pragmas. Read back from
SQLite itself on each store's connection."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from sathub.access.sessions_sqlite import SQLiteSessionStore
from sathub.access.store import AccessStore
from sathub.budget.sqlite import SQLiteBudgetStore
from sathub.catalog.sqlite.store import SQLiteStore
from sathub.sqlitedb import ThreadConnections, sqlite_connect


def _pragma(c: sqlite3.Connection, name: str) -> object:
    return c.execute(f"PRAGMA {name}").fetchone()[0]


def _common(c: sqlite3.Connection, timeout_s: float) -> None:
    assert _pragma(c, "journal_mode") == "wal"
    assert _pragma(c, "synchronous") == 1  # NORMAL
    assert _pragma(c, "busy_timeout") == int(timeout_s * 1000)
    assert c.isolation_level is None  # autocommit: the stores say BEGIN IMMEDIATE themselves
    assert not c.in_transaction


@pytest.mark.parametrize("timeout", [0.5, 30.0])
def test_sqlite_connect_sets_the_common_pragmas_then_the_callers(tmp_path: Path,
                                                                 timeout: float) -> None:  # fmt: skip
    c = sqlite_connect(tmp_path / "x.db", timeout=timeout, pragmas=("foreign_keys=ON", "user_version=7"))
    _common(c, timeout)
    assert _pragma(c, "foreign_keys") == 1
    assert _pragma(c, "user_version") == 7
    # usable from another thread (the stores close every thread's connection)
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(c.execute("SELECT 1").fetchone()[0]))
    t.start()
    t.join()
    assert out == [1]
    c.close()


def test_each_store_keeps_its_own_pragmas(tmp_path: Path) -> None:
    access = AccessStore(tmp_path / "access.db")
    _common(access.conn(), 30.0)
    assert _pragma(access.conn(), "foreign_keys") == 1

    budget = SQLiteBudgetStore(tmp_path / "budget.db")
    _common(budget.conn(), 60.0)
    assert _pragma(budget.conn(), "foreign_keys") == 1

    sessions = SQLiteSessionStore(tmp_path / "sessions.db")
    _common(sessions.conn(), 30.0)
    assert _pragma(sessions.conn(), "foreign_keys") == 0

    catalog = SQLiteStore(tmp_path / "catalog.db", cache_mb=3, mmap_mb=2)
    c = catalog._conn()
    _common(c, 30.0)
    assert _pragma(c, "cache_size") == -3 * 1024
    assert _pragma(c, "mmap_size") == 2 * 1024 * 1024
    assert _pragma(c, "temp_store") == 2  # MEMORY
    assert c.execute("SELECT 'a' LIKE 'A'").fetchone()[0] == 0  # case_sensitive_like=ON
    for store in (access, budget, sessions, catalog):
        store.close()


def test_thread_connections_one_per_thread_until_closed(tmp_path: Path) -> None:
    conns = ThreadConnections(tmp_path / "t.db", timeout=2.0, pragmas=("foreign_keys=ON",))
    mine = conns.get()
    assert conns.get() is mine
    _common(mine, 2.0)
    assert _pragma(mine, "foreign_keys") == 1
    theirs: list[sqlite3.Connection] = []
    t = threading.Thread(target=lambda: theirs.append(conns.get()))
    t.start()
    t.join()
    assert theirs[0] is not mine
    conns.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        mine.execute("SELECT 1")
    again = conns.get()
    assert again is not mine and again.execute("SELECT 1").fetchone() == (1,)
    conns.close()
