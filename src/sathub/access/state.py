"""The access state-store contract: what the access service, the audit log, quotas and policy
use of the store that keeps organisations, keys, agreements, collection levels, derived-from
links, activations, quota usage, the audit chain (its head and pending tile uses).

Two implementations: :class:`sathub.access.store.AccessStore` (embedded, ``DATA/access.db``,
SQLite) and :class:`sathub.access.pg_store.PgAccessStore` (the ``sathub`` schema of
``SATHUB_PG_DSN``). The domain methods are shared (:class:`sathub.access.store.SQLAccessStore`);
the audit chain, quotas and verification write SQL in the common subset of both dialects
(``?`` placeholders, ``INSERT … ON CONFLICT``, the embedded table names) through
:class:`StateConn`, which each implementation maps to its database.

The contract's guarantees (tests/contracts/access_store.py runs them on both):

- :meth:`AccessState.tx` is one write transaction, and only one runs at a time across every
  process sharing the store (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-scoped
  advisory lock): the chain's next record, the head and quota charges are read and written
  by one writer. Nested in another of the same thread, it joins it.
- :meth:`AccessState.version` changes with every committed change of a row an actor is built
  from, made by any process (not with a key's last use).
- :meth:`AccessState.snapshot` is one consistent read (what verify reads).
- an unreachable database is :class:`~sathub.errors.BackendUnavailable` (503, naming it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sathub.access.models import Activation, Actor, Agreement, ApiKey, Organisation


class StateCursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class StateConn(Protocol):
    """A connection speaking the common SQL (``?`` placeholders, embedded table names)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> StateCursor: ...


class AccessState(Protocol):
    """The access state store (see the module's docstring for its guarantees)."""

    #: called as ``on_change(conn, kind, key)`` inside every transaction that changes a
    #: chained row (set by the audit log)
    on_change: Callable[[Any, str, object], None] | None
    #: a short name of the backend, for messages (``sqlite``, ``postgresql``)
    backend: str

    def conn(self) -> Any: ...

    def tx(self) -> AbstractContextManager[Any]: ...

    def snapshot(self) -> AbstractContextManager[Any]: ...

    def has_legacy_pending(self) -> bool: ...

    def add_org(self, name: str, kind: str) -> Organisation: ...

    def orgs(self) -> list[Organisation]: ...

    def org(self, ref: str | int) -> Organisation: ...

    def add_key(self, key_hash: str, prefix: str, role: str, org_id: int | None, *,
                label: str = "", expires: float | None = None) -> ApiKey: ...  # fmt: skip

    def key_by_hash(self, key_hash: str) -> tuple[ApiKey, str] | None: ...

    def key(self, key_id: int) -> ApiKey: ...

    def keys(self, org_id: int | None = None) -> list[ApiKey]: ...

    def any_key(self) -> bool: ...

    def revoke_key(self, key_id: int, now: float | None = None) -> None: ...

    def touch_key(self, key_id: int, now: float) -> None: ...

    def add_agreement(self, org_id: int, **fields: Any) -> Agreement: ...

    def agreement(self, agreement_id: int) -> Agreement: ...

    def agreements(self, org_id: int | None = None) -> list[Agreement]: ...

    def update_agreement(self, agreement_id: int, **changes: Any) -> Agreement: ...

    def set_collection_level(self, collection_id: str, level: str) -> list[str]: ...

    def add_derived(self, collection: str, source: str) -> None: ...

    def derived_of(self, source: str) -> set[str]: ...

    def restricted_collections(self) -> frozenset[str]: ...

    def add_activation(self, activation: Activation) -> Activation: ...

    def activation(self, activation_id: int) -> Activation: ...

    def activations(self, *, in_force_at: float | None = None) -> list[Activation]: ...

    def close_activation(self, activation_id: int, now: float | None = None) -> Activation: ...

    def actor_for_key(self, key: ApiKey) -> Actor: ...

    def anonymous(self) -> Actor: ...

    def version(self) -> int: ...

    def close(self) -> None: ...
