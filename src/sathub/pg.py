"""Connections to PostgreSQL, for every store of the scale-out configuration (the pgstac
catalog's reader and writer pools, and the one pool of the state stores: access, audit,
sessions, jobs, orbits, budget).

One behaviour for all of them when the server goes away and comes back:

- a connection is checked when it is taken from the pool (one empty round trip), so a dead
  one is replaced instead of failing the request;
- a pool that gives no connection within :data:`FIRST_WAIT_S` asks the server directly:
  unreachable, the request fails at once with :class:`~sathub.errors.BackendUnavailable`
  (503 naming PostgreSQL) instead of waiting for the pool, and the next requests ask the
  server first;
- once the server answers again the pool is made anew. psycopg_pool's own reconnection backs
  off exponentially while the server is down (up to minutes): left to it, a server back after
  a few seconds of absence stayed unusable for the pool's whole wait, then answered 503
  ("couldn't get a connection after 10.00 sec") to requests made after the restart.

A connection's block behaves as psycopg_pool's ``connection()``: its transaction is committed
when the block ends and rolled back when it raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from sathub.errors import BackendUnavailable

FIRST_WAIT_S = 1.0  # a pool that gives no connection within this asks the server directly
POOL_WAIT_S = 30.0  # then (the server answers: the pool is busy) waits this long at most


def describe(dsn: str) -> str:
    """The DSN without its password (for messages)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable DSN)"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in sorted(info.items()))


def probe(dsn: str) -> None:
    """Connect once: :class:`BackendUnavailable` when the server cannot be reached."""
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        raise BackendUnavailable(f"PostgreSQL is unreachable ({describe(dsn)}): "
                                 f"{str(exc).strip()}", backend="postgresql") from exc  # fmt: skip


@contextmanager
def unavailable_as_503(what: str | None = None) -> Iterator[None]:
    """A server that cannot be reached, a connection lost mid-statement or a pool that gives
    no connection is :class:`BackendUnavailable` (503 naming PostgreSQL and ``what`` it kept);
    the server rolls back whatever the transaction had written. A statement cancelled by a
    timeout (``QueryCanceled``) is left to the caller."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as exc:
        if isinstance(exc, pgerrors.QueryCanceled):
            raise
        label = f" ({what})" if what else ""
        raise BackendUnavailable(f"PostgreSQL{label} is unavailable: {str(exc).strip()}",
                                 backend="postgresql") from exc  # fmt: skip


class Pool:
    """A psycopg_pool :class:`ConnectionPool` on one DSN that recovers at once from a restart
    of the server (see the module's docstring). ``configure`` and ``kwargs`` are the pool's own
    (a per-connection set-up; connection arguments such as ``autocommit``)."""

    def __init__(self, dsn: str, *, name: str, max_size: int = 10,
                 configure: Callable[[psycopg.Connection[Any]], None] | None = None,
                 kwargs: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.dsn = dsn
        self.name = name
        self._max_size = max_size
        self._configure = configure
        self._kwargs = kwargs
        self._lock = threading.Lock()
        self._down = False  # the server did not answer: the next request asks it first
        self._closed = False
        self._pool = self._make()

    def _make(self) -> ConnectionPool:
        return ConnectionPool(self.dsn, name=self.name, min_size=1, max_size=self._max_size,
                              open=True, configure=self._configure, kwargs=self._kwargs,
                              timeout=POOL_WAIT_S, check=ConnectionPool.check_connection)  # fmt: skip

    @property
    def conninfo(self) -> str:
        return self.dsn

    def _renew(self) -> None:
        """A new pool (the server is back); the old one closed."""
        with self._lock:
            if not self._down or self._closed:
                return
            old, self._pool = self._pool, self._make()
            self._down = False
        old.close(timeout=1)

    def getconn(self) -> psycopg.Connection[Any]:
        """A connection of the pool (give it back with :meth:`putconn`)."""
        if self._down:
            probe(self.dsn)  # still away: 503 at once
            self._renew()
        pool = self._pool
        try:
            return pool.getconn(timeout=FIRST_WAIT_S)
        except PoolTimeout:
            try:
                probe(self.dsn)
            except BackendUnavailable:
                self._down = True
                raise
            return pool.getconn()  # the server answers: the pool is busy, wait for it

    def putconn(self, conn: psycopg.Connection[Any]) -> None:
        pool = self._pool
        try:
            pool.putconn(conn)
        except ValueError:  # the pool was renewed while the connection was out
            conn.close()

    @contextmanager
    def _lent(self, conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
        """``conn`` for one block, as psycopg_pool's ``connection()`` lends it: the block's
        transaction committed when it ends, rolled back when it raises, the connection given
        back either way; a connection the server cut marks the server as away."""
        try:
            yield conn
            if conn.info.transaction_status == TransactionStatus.INTRANS:
                conn.commit()
        except BaseException as exc:
            if isinstance(exc, psycopg.OperationalError) and conn.broken:
                self._down = True  # the next request asks the server first
            if not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
                try:
                    conn.rollback()
                except psycopg.Error:
                    pass
            raise
        finally:
            self.putconn(conn)

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self._lent(self.getconn())

    @contextmanager
    def spare(self) -> Iterator[psycopg.Connection[Any] | None]:
        """A connection the pool can give without waiting, or None: every connection taken
        and the pool at its size (always so at size 1). For a caller that already holds one
        and wants a second: waiting would wait on its own connection (a deadlock at size 1;
        at any size, once as many callers as connections each want a second)."""
        pool = self._pool
        stats = pool.get_stats()
        conn = None
        if not self._down and (stats.get("pool_available", 0) > 0 or stats.get("pool_size", 0) < pool.max_size):
            try:
                conn = pool.getconn(timeout=FIRST_WAIT_S)
            except PoolTimeout:  # taken by another caller meanwhile (or the server is away)
                conn = None
        if conn is None:
            yield None
            return
        with self._lent(conn) as lent:
            yield lent

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
        self._pool.close(timeout=timeout)


__all__ = ["FIRST_WAIT_S", "POOL_WAIT_S", "Pool", "describe", "probe", "unavailable_as_503"]
