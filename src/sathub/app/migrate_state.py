"""The installation's state beside the catalog and the assets, as ``sathub migrate`` copies it.

Each kind of state is one :class:`StateKind`: it counts what a side holds (per kind of record),
says which store holds it on a side, and copies it from one installation to another through
the TARGET INSTALLATION'S STORES (embedded SQLite or PostgreSQL, whichever its settings name),
so that a re-run after a crash ends in the same state (idempotent, compare by key or digest).

- Access (organisations, keys, agreements, activations, usage, collection levels, derived-from
  links, the audit chain with its signed head and pending tile uses) and the budget: row copies,
  table by table, in ONE write transaction of the target's store (``tx()`` of the access store,
  ``write()`` of the budget store; both speak the embedded table names, which the PostgreSQL
  stores map to the schema ``sathub``). Rows keep their ids and bytes, so the audit chain's
  digests of the access rows still verify with the same key; on PostgreSQL the identity
  sequences are moved past the copied ids. A kill leaves the target's rows as they were.
- Jobs through the :class:`~sathub.jobs.store.JobStore` contract, the orbit registry (satellites,
  element sets) and the order book through the :class:`~sathub.orbits.store.OrbitStore`
  contract, record by record (what the target has, same document, is skipped).
- Console sessions are not copied: they are ephemeral (users sign in again on the target).
- The key of signed links through the :class:`~sathub.storage.signing.SigningKeyStore` contract
  (a link signed before the migration verifies after it; a target that signs with another key is
  a Conflict), and the registered mosaic searches through the
  :class:`~sathub.tiles.searches.SearchStore` contract (files of the data directory, or
  PostgreSQL), search by search.

The target's access or budget rows are only replaced when they are blank (what ``sathub init``
makes), identical to the source's, or what an earlier run of the migration wrote (their digest
is in the target's journal, ``DATA/migrate.json``); anything else is a Conflict (exit 2): the
target holds state of another installation.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sathub.errors import Conflict

if TYPE_CHECKING:
    from sathub.app.installation import Installation
    from sathub.config import Settings

JOURNAL = "migrate.json"


# ------------------------------------------------------------------------ journal
def read_journal(root: Path) -> dict[str, Any]:
    try:
        doc = json.loads((Path(root) / JOURNAL).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def write_journal(root: Path, doc: dict[str, Any]) -> None:
    _atomic_write(Path(root) / JOURNAL, json.dumps(doc, indent=1, sort_keys=True).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------ kinds
@dataclass
class StateKind:
    """One kind of state: ``counts`` (record kind → number on a side), ``store`` (where a side
    keeps it), ``copy`` (source → target; returns how many records it wrote)."""

    name: str
    counts: Callable[[Installation], dict[str, int]]
    store: Callable[[Settings], str]  # from the target's settings: a dry run's stand-in names the real one
    copy: Callable[[Installation, Installation, Callable[[str], None]], int]
    copied: bool = True  # False: counted and named, not copied (sessions)


# ------------------------------------------------------------------ row copies
#: access tables (embedded names) in the order of their foreign keys → label in the report
ACCESS_TABLES = {"orgs": "orgs", "keys": "keys", "agreements": "agreements",
                 "activations": "activations", "collection_access": "collection levels",
                 "derived_from": "derived-from links", "usage": "usage rows",
                 "audit": "audit records", "audit_head": "audit heads",
                 "tile_pending": "pending tile uses"}  # fmt: skip
BUDGET_TABLES = ("years", "projects", "categories", "fundings", "lines", "versions", "amounts",
                 "transactions", "approvals", "rates", "links", "stations", "prices", "bookings")  # fmt: skip

Rows = dict[str, list[tuple[Any, ...]]]  # table → rows, each (column, value) pairs sorted


def _norm(v: Any) -> Any:
    """SQLite keeps 3.0 in a REAL column as 3.0, PostgreSQL's bigint gives 3: one spelling."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _read_rows(conn: Any, tables: tuple[str, ...] | list[str]) -> Rows:
    out: Rows = {}
    for t in tables:
        cur = conn.execute(f"SELECT * FROM {t}")
        cols = [d[0] for d in cur.description]
        rows = [tuple(sorted((c, _norm(v)) for c, v in zip(cols, row, strict=True)))
                for row in cur.fetchall()]  # fmt: skip
        # ids ascending (a row may reference an earlier one: an expenditure its commitment)
        out[t] = sorted(rows, key=lambda r: (dict(r).get("id") or 0, repr(r)))
    return out


def rows_digest(rows: Rows) -> str:
    h = hashlib.sha256()
    for t in sorted(rows):
        h.update(f"\0table {t}\0".encode())
        for text in sorted(map(repr, rows[t])):
            h.update(text.encode())
    return h.hexdigest()


def _executemany(conn: Any, sql: str, params: list[tuple[Any, ...]]) -> None:
    if not params:
        return
    pg = getattr(conn, "pg", None)  # the access store's PostgreSQL transaction
    if pg is not None:
        from sathub.access.pg_store import translate

        with pg.cursor() as cur:
            cur.executemany(translate(sql), params)
    else:
        conn.executemany(sql, params)


def _replace_rows(conn: Any, want: Rows, order: tuple[str, ...] | list[str]) -> None:
    """Make the target's tables hold exactly ``want`` (children emptied first, parents filled first)."""
    for t in reversed(order):
        conn.execute(f"DELETE FROM {t}")
    for t in order:
        if not want.get(t):
            continue
        cols = [c for c, _v in want[t][0]]
        names = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join("?" for _ in cols)
        _executemany(conn, f"INSERT INTO {t} ({names}) VALUES ({marks})",
                     [tuple(v for _c, v in row) for row in want[t]])  # fmt: skip


def _setval(pg: Any, tables: list[str]) -> None:
    """PostgreSQL identity columns: the next id follows the copied ones."""
    for t in tables:
        pg.execute(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), m) FROM "
                   f"(SELECT max(id) AS m FROM {t}) x WHERE m IS NOT NULL "
                   f"AND pg_get_serial_sequence('{t}', 'id') IS NOT NULL")  # fmt: skip


def _guarded_replace(name: str, want: Rows, have: Rows, blank: Callable[[Rows], bool], root: Path,
                     write: Callable[[], None], crash: Callable[[str], None]) -> int:  # fmt: skip
    """The journal's rule (see the module), then ``write()`` (one transaction of the target)."""
    want_d, have_d = rows_digest(want), rows_digest(have)
    if want_d == have_d:
        return 0
    journal = read_journal(root)
    written = journal.setdefault("written", {}).get(name)
    ours = have_d == written or (isinstance(written, list) and have_d in written)
    if not blank(have) and not ours:
        raise Conflict(f"the target's {name} state holds other data than the source's (not "
                       "blank, not written by an earlier migration): migrate into a new "
                       "installation", field="target")  # fmt: skip
    prior = written if isinstance(written, list) else ([written] if written else [])
    journal["written"][name] = [*prior[-4:], want_d]  # before the commit: a re-run finds its own rows
    write_journal(root, journal)
    crash(f"state:{name}:staged")
    write()
    return sum(len(v) for v in want.values())


# ------------------------------------------------------------------ access
def _access_rows(inst: Installation) -> Rows:
    with inst.access.store.snapshot() as c:
        return _read_rows(c, list(ACCESS_TABLES))


def _access_blank(rows: Rows) -> bool:
    """What ``sathub init`` leaves: no organisation, agreement or activation, only admin keys."""
    if any(rows.get(t) for t in ("orgs", "agreements", "activations", "usage")):
        return False
    return all(dict(k).get("role") == "admin" and dict(k).get("org_id") is None
               for k in rows.get("keys", []))  # fmt: skip


def _access_counts(inst: Installation) -> dict[str, int]:
    rows = _access_rows(inst)
    return {label: len(rows[t]) for t, label in ACCESS_TABLES.items()}


def _copy_access(src: Installation, dst: Installation, crash: Callable[[str], None]) -> int:
    want, have = _access_rows(src), _access_rows(dst)
    store = dst.access.store

    def write() -> None:
        with store.tx() as c:
            _replace_rows(c, want, list(ACCESS_TABLES))
            pg = getattr(c, "pg", None)
            if pg is not None:
                from sathub.access.pg_store import TABLES

                _setval(pg, [TABLES[t] for t in ("orgs", "keys", "agreements", "activations")])
            crash("state:access:written")  # a kill here rolls the whole copy back

    return _guarded_replace("access", want, have, _access_blank, dst.settings.layout.root, write, crash)


def _backend(s: Settings, embedded: str) -> str:
    if s.pg_dsn:
        return "PostgreSQL (schema sathub)"
    return f"embedded SQLite (DATA/{embedded})"


# ------------------------------------------------------------------ budget
def _budget_rows(inst: Installation) -> Rows:
    if not inst.settings.pg_dsn and not inst.settings.layout.budget_db.is_file():
        return {t: [] for t in BUDGET_TABLES}  # never used: nothing to open (nor to create)
    with inst.budget.store.write() as ops:  # one transaction: one consistent state
        return _read_rows(ops._conn(), BUDGET_TABLES)  # type: ignore[attr-defined]  # the stores' shared SQL


def _copy_budget(src: Installation, dst: Installation, crash: Callable[[str], None]) -> int:
    want = _budget_rows(src)
    if not any(want.values()):
        return 0
    have = _budget_rows(dst)
    store = dst.budget.store

    def write() -> None:
        with store.write() as ops:
            c = ops._conn()  # type: ignore[attr-defined]  # the stores' shared SQL
            _replace_rows(c, want, BUDGET_TABLES)
            pg = getattr(ops, "_pg", None)
            if pg is not None:
                _setval(pg, [f"sathub.budget_{t}" for t in ("lines", "versions", "transactions")])
            crash("state:budget:written")

    return _guarded_replace("budget", want, have, _budget_blank, dst.settings.layout.root, write, crash)


def _budget_blank(rows: Rows) -> bool:
    """What a new installation's budget holds: at most its reference tables (categories,
    funding kinds, stations, rates), no year, project, line or transaction."""
    return not any(rows.get(t) for t in ("years", "projects", "lines", "versions", "amounts",
                                         "transactions", "approvals", "links", "prices", "bookings"))


def _budget_counts(inst: Installation) -> dict[str, int]:
    """Every row of a budget in use; none for a blank one, whatever reference rows it holds (an
    embedded budget never opened has no file and no row, a new one on PostgreSQL the seven rows
    of its reference tables: the same state, which counting rows would call a loss)."""
    rows = _budget_rows(inst)
    return {"budget rows": 0 if _budget_blank(rows) else sum(len(v) for v in rows.values())}


# ------------------------------------------------------------------ sessions (not copied)
def _session_counts(inst: Installation) -> dict[str, int]:
    if inst.settings.pg_dsn:
        with inst.state_pool.connection() as c:
            row = c.execute("SELECT count(*) FROM sathub.access_sessions").fetchone()
        return {"console sessions": int(row[0]) if row else 0}
    if not inst.settings.layout.sessions_db.is_file():
        return {"console sessions": 0}
    row = inst.sessions.store.conn().execute("SELECT count(*) FROM sessions").fetchone()  # type: ignore[attr-defined]
    return {"console sessions": int(row[0])}


# ------------------------------------------------------------------ orbits (contract)
def _orbit_counts(inst: Installation) -> dict[str, int]:
    o = inst.orbits
    return {"satellites": len(o.satellites()),
            "element sets": sum(len(v) for v in o.elements().values()),
            "orders": len(o.orders())}  # fmt: skip


def _copy_orbits(src: Installation, dst: Installation, crash: Callable[[str], None]) -> int:
    s, d = src.orbits, dst.orbits
    n = 0
    have = d.satellites()
    todo = [doc for norad, doc in sorted(s.satellites().items()) if have.get(norad) != doc]
    if todo:
        d.put_satellites(todo)
        n += len(todo)
        crash("state:orbits:satellites")
    for norad, records in sorted(s.elements().items()):
        n += d.add_elements([(norad, r) for r in records])  # a known epoch is kept, not doubled
        crash(f"state:orbits:elements:{norad}")
    for order in s.orders():
        current = d.order(order["id"])
        if current == order:
            continue
        if current is None:
            d.add_order(order)
        else:
            d.update_order(order["id"], _replace_with(order))
        n += 1
        crash(f"state:orbits:order:{order['id']}")
    return n


def _replace_with(doc: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda _old: doc


def _orbit_store(s: Settings) -> str:
    return _backend(s, "") if s.pg_dsn else "embedded files (DATA/orbits)"


# ------------------------------------------------------------------ jobs (contract)
def _job_counts(inst: Installation) -> dict[str, int]:
    return {"jobs": len(inst.jobs.store.list())}


def _copy_jobs(src: Installation, dst: Installation, crash: Callable[[str], None]) -> int:
    s, d = src.jobs.store, dst.jobs.store
    n = 0
    for record in s.list():
        lane, job_id = record["lane"], record["id"]
        result = s.get_result(lane, job_id)
        if result is not None and d.get_result(lane, job_id) != result:
            d.put_result(lane, job_id, result)  # the result first: a record never names a missing one
        if d.get(lane, job_id) != record:
            d.put(record)
            n += 1
            crash(f"state:jobs:{job_id}")
    return n


def _job_store(s: Settings) -> str:
    return "PgJobStore (PostgreSQL, schema sathub)" if s.pg_dsn else "FileJobStore (DATA/jobs)"


def kinds() -> list[StateKind]:
    """Every kind of state, in the order the migration copies them."""
    return [
        StateKind("access", _access_counts, lambda s: _backend(s, "access.db"), _copy_access),
        StateKind("budget", _budget_counts, lambda s: _backend(s, "budget.db"), _copy_budget),
        StateKind("sessions", _session_counts,
                  lambda _s: "not copied: sessions are ephemeral (users sign in again)",
                  lambda _s, _d, _c: 0, copied=False),
        StateKind("jobs", _job_counts, _job_store, _copy_jobs),
        StateKind("orbits", _orbit_counts, _orbit_store, _copy_orbits),
        StateKind("signing key", _key_counts, _key_store, _copy_key),
        StateKind("searches", _search_counts, _search_store, _copy_searches),
    ]


# ------------------------------------------- signing key, mosaic searches (contracts)
def _key_of(inst: Installation) -> bytes | None:
    """The installation's signing key, without making one (on PostgreSQL, the data
    directory's earlier key file counts until it is adopted)."""
    from sathub.storage.signing import FileSigningKeys

    key = inst.signing_keys.get()
    if key is None and inst.settings.pg_dsn:
        key = FileSigningKeys(inst.settings.layout.secrets).get()
    return key


def _key_counts(inst: Installation) -> dict[str, int]:
    return {"signing key": int(_key_of(inst) is not None)}


def _key_store(s: Settings) -> str:
    return "PgSigningKeys (PostgreSQL, schema sathub)" if s.pg_dsn else "embedded file (DATA/secrets/signing.key)"


def _copy_key(src: Installation, dst: Installation, crash: Callable[[str], None]) -> int:
    key = _key_of(src)
    if key is None or dst.signing_keys.get() == key:
        return 0
    if dst.signing_keys.adopt(key) != key:
        raise Conflict("the target signs links with another key than the source's: links signed "
                       "by the source would be refused; migrate into a new target")  # fmt: skip
    crash("state:signing key")
    return 1


def _search_counts(inst: Installation) -> dict[str, int]:
    return {"mosaic searches": len(inst.mosaic_searches.ids())}


def _search_store(s: Settings) -> str:
    return "PgSearchStore (PostgreSQL, schema sathub)" if s.pg_dsn else "embedded files (DATA/searches)"


def _copy_searches(src: Installation, dst: Installation, crash: Callable[[str], None]) -> int:
    s, d = src.mosaic_searches, dst.mosaic_searches
    n = 0
    for search_id in sorted(s.ids()):
        body = s.get(search_id)
        if body is None or d.get(search_id) == body:
            continue
        d.put(search_id, body)
        n += 1
        crash(f"state:searches:{search_id}")
    return n
