"""One way to open an embedded SQLite database file (the catalog, access, budget and session
stores): base layer, so every store opens its file the same way and says only what is its own
(its pragmas, its busy timeout). :class:`ThreadConnections` keeps one such connection per
thread (the access, budget and session stores; the catalog keeps its own, closing those of
ended threads)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path


def sqlite_connect(path: Path | str, *, timeout: float = 30.0,
                   pragmas: Iterable[str] = ()) -> sqlite3.Connection:  # fmt: skip
    """A connection to the database file ``path`` as the embedded stores use it.

    - autocommit (``isolation_level=None``): a store opens its own ``BEGIN IMMEDIATE``
      transactions, which take the write lock at their first statement;
    - ``check_same_thread=False``: a store keeps one connection per thread, and may close it
      from another thread (its ``close``);
    - ``timeout``: seconds a statement waits for another process's lock (SQLite's busy timeout);
    - ``journal_mode=WAL`` and ``synchronous=NORMAL``: readers do not block the writer; a
      crash of the process loses no commit, a power cut may lose the last ones (never the
      database's consistency);
    - then the store's own ``pragmas``, in order (``"foreign_keys=ON"``, ...).
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")
    return conn


class ThreadConnections:
    """One connection per thread to the database file ``path``, opened by
    :func:`sqlite_connect` (with ``timeout`` and ``pragmas``) on the thread's first :meth:`get`."""

    def __init__(self, path: Path | str, *, timeout: float = 30.0,
                 pragmas: Iterable[str] = ()) -> None:  # fmt: skip
        self.path = Path(path)
        self.timeout = timeout
        self.pragmas = tuple(pragmas)
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite_connect(self.path, timeout=self.timeout, pragmas=self.pragmas)
            self._local.conn = c
        return c

    def close(self) -> None:
        """Close this thread's connection and forget every thread's (the next :meth:`get` of
        any thread opens a new one)."""
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local = threading.local()
