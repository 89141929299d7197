"""``DATA/access.db``: organisations, keys, agreements, collection levels, activations, usage
and the audit log, in one SQLite file (WAL). Every write is one transaction; a write that
changes a row the audit chains calls :attr:`AccessStore.on_change` inside that transaction."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import orjson

from sathub.access.models import (
    AGREEMENT_STATUSES,
    ORG_KINDS,
    ROLES,
    Activation,
    Actor,
    Agreement,
    ApiKey,
    Organisation,
)  # fmt: skip
from sathub.errors import Conflict, InvalidInput, NotFound
from sathub.sqlitedb import ThreadConnections

SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    id INTEGER PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,
    role TEXT NOT NULL, org_id INTEGER REFERENCES orgs(id), label TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, expires REAL, revoked REAL, last_used REAL);
CREATE TABLE IF NOT EXISTS agreements (
    id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id), content TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collection_access (
    collection TEXT PRIMARY KEY, level TEXT NOT NULL CHECK (level IN ('open', 'restricted')));
CREATE TABLE IF NOT EXISTS derived_from (
    collection TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (collection, source)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activations (id INTEGER PRIMARY KEY, content TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
    agreement_id INTEGER NOT NULL, month TEXT NOT NULL, bytes INTEGER NOT NULL,
    requests INTEGER NOT NULL, PRIMARY KEY (agreement_id, month)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, ts REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    resource TEXT NOT NULL, bytes INTEGER NOT NULL, outcome TEXT NOT NULL,
    agreement_id INTEGER, activation_id INTEGER, detail TEXT NOT NULL,
    prev TEXT NOT NULL, hash TEXT NOT NULL, charged INTEGER, fmt INTEGER);
CREATE INDEX IF NOT EXISTS audit_agreement_ts ON audit (agreement_id, ts);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL,
    ts REAL NOT NULL, mac TEXT NOT NULL);
"""

# The audit's pending tile uses (0 = no agreement / activation; charged 0 or 1); created after
# the migration of the first layout, see _migrate.
TILE_PENDING = """
CREATE TABLE IF NOT EXISTS tile_pending (
    hour INTEGER NOT NULL, actor TEXT NOT NULL, resource TEXT NOT NULL,
    agreement_id INTEGER NOT NULL, activation_id INTEGER NOT NULL, charged INTEGER NOT NULL,
    requests INTEGER NOT NULL, bytes INTEGER NOT NULL, mac TEXT NOT NULL,
    PRIMARY KEY (hour, actor, resource, agreement_id, activation_id, charged)) WITHOUT ROWID;
"""

# A counter bumped by triggers on every change of a row an actor is built from (organisations,
# keys except their last use, agreements, collection levels, activations), by any writer in any
# process: :class:`~sathub.access.service.AccessService` keeps resolved actors while it is
# unchanged (area perf, issue 17).
VERSION = """
CREATE TABLE IF NOT EXISTS access_version (
    id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO access_version VALUES (1, 0);
""" + "".join(
    f"CREATE TRIGGER IF NOT EXISTS access_version_{table}_{ev.split()[0].lower()} AFTER {ev} ON {table} "
    "BEGIN UPDATE access_version SET n = n + 1 WHERE id = 1; END;\n"
    for table in ("orgs", "keys", "agreements", "collection_access", "activations")
    for ev in ("INSERT", "DELETE",
               "UPDATE OF id, key_hash, role, org_id, expires, revoked" if table == "keys" else "UPDATE")
)  # fmt: skip

_AGREEMENT_TUPLES = ("collections", "asset_roles", "purposes")


def _agreement(row_id: int, org_id: int, content: str) -> Agreement:
    d = orjson.loads(content)
    for k in _AGREEMENT_TUPLES:
        if d.get(k) is not None:
            d[k] = tuple(d[k])
    d.pop("id", None)
    d.pop("org_id", None)
    return Agreement(id=row_id, org_id=org_id, **d)


def _activation(row_id: int, content: str) -> Activation:
    d = orjson.loads(content)
    for k in ("org_ids", "collections"):
        if d.get(k) is not None:
            d[k] = tuple(d[k])
    d.pop("id", None)
    return Activation(id=row_id, **d)


class SQLAccessStore:
    """The domain methods of the access state store, in SQL both backends speak; a subclass
    gives the connections (:meth:`conn`, :meth:`tx`, :meth:`snapshot`, :meth:`close`)."""

    backend = "sql"
    #: the database's unique-violation errors (a name taken)
    unique_violation: tuple[type[Exception], ...] = ()
    #: Called as ``on_change(conn, kind, key)`` inside every transaction that changes a row
    #: the audit chains (kinds of :data:`sathub.access.audit_state.TABLES`); set by the
    #: audit log.
    on_change: Callable[[Any, str, object], None] | None = None
    write_lock: Any  # a threading.RLock: one writer of this process at a time

    def conn(self) -> Any:
        raise NotImplementedError

    def tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def snapshot(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def has_legacy_pending(self) -> bool:
        """The first layout's pending tile rows are still to be written (SQLite only)."""
        return False

    def close(self) -> None:
        raise NotImplementedError

    def _changed(self, c: Any, kind: str, key: object) -> None:
        if self.on_change is not None:
            self.on_change(c, kind, key)

    # ----------------------------------------------------------- organisations
    def add_org(self, name: str, kind: str) -> Organisation:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("an organisation needs a name (1-200 characters)", field="name")
        if any(unicodedata.category(ch) == "Cc" for ch in name):  # U+0000: a 500 on PostgreSQL
            raise InvalidInput("an organisation's name cannot hold control characters", field="name")
        if kind not in ORG_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(ORG_KINDS)}", field="kind")
        now = time.time()
        try:
            with self.tx() as c:
                new_id = int(c.execute("INSERT INTO orgs (name, kind, created) VALUES (?, ?, ?) "
                                       "RETURNING id", (name, kind, now)).fetchone()[0])  # fmt: skip
                self._changed(c, "org", new_id)
        except self.unique_violation as exc:
            raise Conflict(f"organisation {name!r} already exists", field="name") from exc
        return Organisation(new_id, name, kind, now)

    def orgs(self) -> list[Organisation]:
        return [Organisation(*r) for r in self.conn().execute(
            "SELECT id, name, kind, created FROM orgs ORDER BY id")]  # fmt: skip

    def org(self, ref: str | int) -> Organisation:
        """An organisation by id or by name."""
        c = self.conn()
        row = None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdecimal()):
            n = int(ref)
            if -(2**63) <= n < 2**63:  # SQLite's integers (beyond: OverflowError, a 500)
                row = c.execute("SELECT id, name, kind, created FROM orgs WHERE id = ?", (n,)).fetchone()
        if row is None:
            row = c.execute("SELECT id, name, kind, created FROM orgs WHERE name = ?", (str(ref),)).fetchone()
        if row is None:
            raise NotFound(f"organisation {ref!r} not found", field="org")
        return Organisation(*row)

    # -------------------------------------------------------------------- keys
    def add_key(self, key_hash: str, prefix: str, role: str, org_id: int | None, *,
                label: str = "", expires: float | None = None) -> ApiKey:  # fmt: skip
        if role not in ROLES or role == "anonymous":
            raise InvalidInput(f"role must be one of {', '.join(ROLES[:-1])}", field="role")
        if role == "partner" and org_id is None:
            raise InvalidInput("a partner key belongs to an organisation (--org)", field="org")
        now = time.time()
        with self.tx() as c:
            new_id = int(c.execute(
                "INSERT INTO keys (key_hash, prefix, role, org_id, label, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (key_hash, prefix, role, org_id, label, now, expires)).fetchone()[0])
            self._changed(c, "key", new_id)
        return ApiKey(new_id, prefix, role, org_id, label, now, expires, None, None)

    def key_by_hash(self, key_hash: str) -> tuple[ApiKey, str] | None:
        row = self.conn().execute(
            "SELECT id, prefix, role, org_id, label, created, expires, revoked, last_used, key_hash "
            "FROM keys WHERE key_hash = ?", (key_hash,)).fetchone()  # fmt: skip
        return None if row is None else (ApiKey(*row[:9]), row[9])

    def key(self, key_id: int) -> ApiKey:
        row = self.conn().execute(
            "SELECT id, prefix, role, org_id, label, created, expires, revoked, last_used "
            "FROM keys WHERE id = ?", (key_id,)).fetchone()  # fmt: skip
        if row is None:
            raise NotFound(f"key {key_id} not found", field="key")
        return ApiKey(*row)

    def keys(self, org_id: int | None = None) -> list[ApiKey]:
        sql = "SELECT id, prefix, role, org_id, label, created, expires, revoked, last_used FROM keys"
        rows = self.conn().execute(sql + (" WHERE org_id = ?" if org_id else "") + " ORDER BY id",
                                   (org_id,) if org_id else ())  # fmt: skip
        return [ApiKey(*r) for r in rows]

    def any_key(self) -> bool:
        return self.conn().execute("SELECT 1 FROM keys LIMIT 1").fetchone() is not None

    def revoke_key(self, key_id: int, now: float | None = None) -> None:
        with self.tx() as c:
            cur = c.execute("UPDATE keys SET revoked = coalesce(revoked, ?) WHERE id = ?",
                            (now or time.time(), key_id))  # fmt: skip
            if cur.rowcount == 0:
                raise NotFound(f"key {key_id} not found", field="key")
            self._changed(c, "key", key_id)

    def touch_key(self, key_id: int, now: float) -> None:
        """Record the last use (at most once a minute per key, to spare the writer)."""
        c = self.conn()
        with self.write_lock:
            c.execute("UPDATE keys SET last_used = ? WHERE id = ? AND "
                      "(last_used IS NULL OR last_used < ?)", (now, key_id, now - 60))  # fmt: skip

    # -------------------------------------------------------------- agreements
    def add_agreement(self, org_id: int, **fields: Any) -> Agreement:
        probe = _check_agreement(Agreement(id=0, org_id=org_id, **fields))  # type errors surface here
        content = orjson.dumps({k: v for k, v in probe.as_dict().items() if k not in ("id", "org_id")})
        with self.tx() as c:
            if not c.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)).fetchone():
                raise NotFound(f"organisation {org_id} not found", field="org")
            new_id = int(c.execute("INSERT INTO agreements (org_id, content) VALUES (?, ?) RETURNING id",
                                   (org_id, content.decode())).fetchone()[0])  # fmt: skip
            self._changed(c, "agreement", new_id)
        return self.agreement(new_id)

    def agreement(self, agreement_id: int) -> Agreement:
        row = self.conn().execute("SELECT id, org_id, content FROM agreements WHERE id = ?",
                                  (agreement_id,)).fetchone()  # fmt: skip
        if row is None:
            raise NotFound(f"agreement {agreement_id} not found", field="agreement")
        return _agreement(*row)

    def agreements(self, org_id: int | None = None) -> list[Agreement]:
        sql = "SELECT id, org_id, content FROM agreements"
        rows = self.conn().execute(sql + (" WHERE org_id = ?" if org_id is not None else "") +
                                   " ORDER BY id", (org_id,) if org_id is not None else ())  # fmt: skip
        return [_agreement(*r) for r in rows]

    def update_agreement(self, agreement_id: int, **changes: Any) -> Agreement:
        with self.tx() as c:
            current = self.agreement(agreement_id)
            d = {**current.as_dict(), **changes}
            for k in _AGREEMENT_TUPLES:
                if d.get(k) is not None:
                    d[k] = tuple(d[k])
            new = _check_agreement(Agreement(**d))
            body = {k: v for k, v in new.as_dict().items() if k not in ("id", "org_id")}
            c.execute("UPDATE agreements SET content = ? WHERE id = ?",
                      (orjson.dumps(body).decode(), agreement_id))  # fmt: skip
            self._changed(c, "agreement", agreement_id)
        return new

    # ------------------------------------------------------------- collections
    def set_collection_level(self, collection_id: str, level: str) -> list[str]:
        """Set a collection's level. Restricting it also restricts every collection holding
        products derived from it (transitively: a derived item is never more open than its
        inputs). Returns the collections whose level was set."""
        if level not in ("open", "restricted"):
            raise InvalidInput("level must be open or restricted", field="level")
        with self.tx() as c:
            todo, done = [collection_id], []
            while todo:
                cid = todo.pop()
                if cid in done:
                    continue
                c.execute("INSERT INTO collection_access (collection, level) VALUES (?, ?) "
                          "ON CONFLICT (collection) DO UPDATE SET level = excluded.level",
                          (cid, level))  # fmt: skip
                self._changed(c, "collection", cid)
                done.append(cid)
                if level == "restricted":
                    todo += [r[0] for r in c.execute(
                        "SELECT collection FROM derived_from WHERE source = ?", (cid,))]  # fmt: skip
        return done

    def add_derived(self, collection: str, source: str) -> None:
        """Record that ``collection`` holds products derived from ``source``; a restricted
        source restricts the collection at once."""
        with self.tx() as c:
            c.execute("INSERT INTO derived_from VALUES (?, ?) ON CONFLICT DO NOTHING", (collection, source))
        if source in self.restricted_collections() and collection not in self.restricted_collections():
            self.set_collection_level(collection, "restricted")

    def derived_of(self, source: str) -> set[str]:
        return {r[0] for r in self.conn().execute(
            "SELECT collection FROM derived_from WHERE source = ?", (source,))}  # fmt: skip

    def restricted_collections(self) -> frozenset[str]:
        return frozenset(r[0] for r in self.conn().execute(
            "SELECT collection FROM collection_access WHERE level = 'restricted'"))  # fmt: skip

    # ------------------------------------------------------------- activations
    def add_activation(self, activation: Activation) -> Activation:
        body = {k: v for k, v in activation.as_dict().items() if k != "id"}
        with self.tx() as c:
            new_id = int(c.execute("INSERT INTO activations (content) VALUES (?) RETURNING id",
                                   (orjson.dumps(body).decode(),)).fetchone()[0])  # fmt: skip
            self._changed(c, "activation", new_id)
        return self.activation(new_id)

    def activation(self, activation_id: int) -> Activation:
        row = self.conn().execute("SELECT id, content FROM activations WHERE id = ?",
                                  (activation_id,)).fetchone()  # fmt: skip
        if row is None:
            raise NotFound(f"activation {activation_id} not found", field="activation")
        return _activation(*row)

    def activations(self, *, in_force_at: float | None = None) -> list[Activation]:
        out = [_activation(*r) for r in self.conn().execute(
            "SELECT id, content FROM activations ORDER BY id")]  # fmt: skip
        return out if in_force_at is None else [a for a in out if a.in_force(in_force_at)]

    def close_activation(self, activation_id: int, now: float | None = None) -> Activation:
        a = self.activation(activation_id)
        d = a.as_dict()
        d["expires"] = min(a.expires, now or time.time())
        with self.tx() as c:
            c.execute("UPDATE activations SET content = ? WHERE id = ?",
                      (orjson.dumps({k: v for k, v in d.items() if k != "id"}).decode(), a.id))
            self._changed(c, "activation", a.id)
        return self.activation(activation_id)

    # ------------------------------------------------------------------ actors
    def actor_for_key(self, key: ApiKey) -> Actor:
        org = self.org(key.org_id) if key.org_id is not None else None
        return Actor(
            role=key.role,
            name=f"key:{key.id}" + (f" ({org.name})" if org else ""),
            key_id=key.id,
            org_id=org.id if org else None,
            org_name=org.name if org else None,
            agreements=tuple(self.agreements(org.id)) if org else (),
            activations=tuple(self.activations()),
            restricted=self.restricted_collections(),
        )

    def anonymous(self) -> Actor:
        return Actor(activations=tuple(self.activations()), restricted=self.restricted_collections())

    def version(self) -> int:
        """Bumped by every committed change of what an actor is built from (see VERSION)."""
        return int(self.conn().execute("SELECT n FROM access_version WHERE id = 1").fetchone()[0])



class AccessStore(SQLAccessStore):
    """Organisations, keys, agreements, activations and usage on one SQLite file."""

    backend = "sqlite"
    unique_violation = (sqlite3.IntegrityError,)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conns = ThreadConnections(self.path, timeout=30.0, pragmas=("foreign_keys=ON",))
        self.write_lock = threading.RLock()
        self.on_change = None
        with self.tx() as c:
            _migrate(c)

    def conn(self) -> sqlite3.Connection:
        return self._conns.get()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``). Nested in another of this thread, it
        joins it: an admin action writes its change and its audit record together, and an error
        anywhere rolls back both."""
        c = self.conn()
        if c.in_transaction:
            with self.write_lock:
                yield c
            return
        with self.write_lock:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise


    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: everything read in it is one committed state."""
        c = self.conn()
        c.execute("BEGIN")
        try:
            yield c
        finally:
            c.execute("COMMIT")

    def has_legacy_pending(self) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE name = 'tile_pending_v1'"
        return self.conn().execute(sql).fetchone() is not None

    def close(self) -> None:
        self._conns.close()




def _migrate(c: sqlite3.Connection) -> None:
    """Create the schema; bring an older audit layout up to date (inside one transaction).
    The first layout's pending tile rows (no MAC) move to ``tile_pending_v1``, which the audit
    log writes to the chain and drops when it starts."""
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            c.execute(stmt)
    for stmt in VERSION.split(";\n"):
        if stmt.strip():
            c.execute(stmt)
    audit_cols = {r[1] for r in c.execute("PRAGMA table_info(audit)")}
    for col in ("charged", "fmt"):
        if col not in audit_cols:
            c.execute(f"ALTER TABLE audit ADD COLUMN {col} INTEGER")
    pending_cols = {r[1] for r in c.execute("PRAGMA table_info(tile_pending)")}
    if pending_cols and "mac" not in pending_cols:
        c.execute("ALTER TABLE tile_pending RENAME TO tile_pending_v1")
    c.execute(TILE_PENDING)


def _check_agreement(a: Agreement) -> Agreement:
    """The agreement, validated, with its AOI as a bare (Multi)Polygon (a Feature or a
    one-feature FeatureCollection is unwrapped); or InvalidInput naming the field."""
    if a.status not in AGREEMENT_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(AGREEMENT_STATUSES)}", field="status")
    if not a.title.strip():
        raise InvalidInput("an agreement needs a title", field="title")
    if not a.collections:
        raise InvalidInput("an agreement names at least one collection", field="collections")
    if a.embargo_days < 0:
        raise InvalidInput("embargo days cannot be negative", field="embargo_days")
    if a.quota_bytes is not None and a.quota_bytes < 0:
        raise InvalidInput("the quota cannot be negative", field="quota_bytes")
    for lo, hi, name in ((a.valid_from, a.valid_to, "valid"), (a.acquired_from, a.acquired_to, "acquired")):
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInput(f"{name} period ends before it starts", field=name)
    if a.aoi is not None:
        from sathub.access.geo import check_aoi

        return dataclasses.replace(a, aoi=check_aoi(a.aoi))
    return a
