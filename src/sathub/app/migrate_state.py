"""The installation's state beside the catalog and the assets, as ``sathub migrate`` copies it.

Each kind of state is one :class:`StateKind`: it counts what a side holds (per kind of record),
says which store holds it on a side, and copies it from one installation to another so that a
re-run after a crash ends in the same state (idempotent, compare by key or by digest).

- Jobs go through the :class:`~sathub.jobs.store.JobStore` contract (record by record): the
  target's configured job store is filled, whatever it is.
- Access (organisations, keys, agreements, activations, usage, collection levels and the audit
  chain), the budget and console sessions have no export contract yet (their PostgreSQL stores
  are in progress, issue 14.2): they are embedded SQLite files, copied as one consistent
  snapshot (SQLite's online backup into a temporary file, renamed over the target's file:
  nothing half-written). The audit chain digests the access rows it chains, so the rows are
  copied as they are (same ids, same bytes) and the chain verifies on the target with the same
  key.
- The orbit registry (satellites and element sets), the order book and the registered mosaic
  searches are JSON files, copied atomically.

A target file is only replaced when it is blank (what ``sathub init`` makes), identical to the
source, or what an earlier run of the migration wrote (its digest is in the target's journal,
``DATA/migrate.json``); anything else is a Conflict (exit 2): the target holds state of
another installation.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sathub.errors import Conflict

if TYPE_CHECKING:
    from sathub.app.installation import Installation

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
    store: Callable[[Installation], str]
    copy: Callable[[Installation, Installation, Callable[[str], None]], int]


# ------------------------------------------------------------------ SQLite files
ACCESS_TABLES = {"orgs": "orgs", "keys": "keys", "agreements": "agreements",
                 "activations": "activations", "collection levels": "collection_access",
                 "usage rows": "usage", "audit records": "audit"}  # fmt: skip


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60.0)


def _tables(c: sqlite3.Connection) -> list[str]:
    return [r[0] for r in c.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]  # fmt: skip


def sqlite_counts(path: Path, tables: dict[str, str] | None = None) -> dict[str, int]:
    """Rows per table (``tables``: label → table; default every table) of a SQLite file."""
    if not path.is_file():
        return {label: 0 for label in tables or {}}
    with _ro(path) as c:
        names = set(_tables(c))
        pick = tables or {t: t for t in sorted(names)}
        return {label: (c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] if t in names else 0)
                for label, t in pick.items()}  # fmt: skip


def sqlite_digest(path: Path) -> str | None:
    """A digest of every row of every table, in primary-key order (None: no file)."""
    if not path.is_file():
        return None
    h = hashlib.sha256()
    c = _ro(path)
    try:
        for t in _tables(c):
            h.update(f"\0table {t}\0".encode())
            ncols = len(c.execute(f'PRAGMA table_info("{t}")').fetchall())
            order = ", ".join(str(i + 1) for i in range(ncols))
            for row in c.execute(f'SELECT * FROM "{t}" ORDER BY {order}'):
                h.update(repr(row).encode())
    finally:
        c.close()
    return h.hexdigest()


def _copy_sqlite(src: Path, dst: Path, *, blank: Callable[[Path], bool], journal_key: str,
                 root: Path, crash: Callable[[str], None]) -> int:  # fmt: skip
    """Replace ``dst`` with a consistent snapshot of ``src`` (see the module's rules)."""
    if not src.is_file():
        return 0
    want = sqlite_digest(src)
    have = sqlite_digest(dst)
    if have == want:
        return 0
    journal = read_journal(root)
    if have is not None and not blank(dst) and journal.get("written", {}).get(journal_key) != have:
        raise Conflict(f"{dst} holds other data than the source's {src.name} (not blank, not "
                       "written by an earlier migration): migrate into a new data directory",
                       field="target")  # fmt: skip
    fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        source = _ro(src)
        out = sqlite3.connect(tmp)
        try:
            source.backup(out)
            out.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
        finally:
            out.close()
            source.close()
        crash(f"state:{journal_key}:staged")
        journal.setdefault("written", {})[journal_key] = sqlite_digest(tmp)
        write_journal(root, journal)  # before the rename: a crash after it finds its own file
        for suffix in ("-wal", "-shm", "-journal"):  # a stale log must never meet the new file
            Path(f"{dst}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return sum(sqlite_counts(dst).values())


def _access_blank(path: Path) -> bool:
    """What ``sathub init`` leaves: no organisation, agreement or activation, only admin keys."""
    with _ro(path) as c:
        names = set(_tables(c))
        for t in ("orgs", "agreements", "activations", "usage"):
            if t in names and c.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone():
                return False
        return "keys" not in names or not c.execute(
            "SELECT 1 FROM keys WHERE role != 'admin' OR org_id IS NOT NULL LIMIT 1").fetchone()


def _empty(path: Path) -> bool:
    return not any(sqlite_counts(path).values())


def _sqlite_kind(name: str, file: Callable[[Installation], Path], tables: dict[str, str] | None,
                 blank: Callable[[Path], bool]) -> StateKind:  # fmt: skip
    def counts(inst: Installation) -> dict[str, int]:
        got = sqlite_counts(file(inst), tables)
        return got if tables else {f"{name} rows": sum(got.values())}

    def copy(src: Installation, dst: Installation, crash: Callable[[str], None]) -> int:
        return _copy_sqlite(file(src), file(dst), blank=blank, journal_key=name,
                            root=dst.settings.layout.root, crash=crash)  # fmt: skip

    def store(inst: Installation) -> str:
        return f"embedded SQLite (DATA/{file(inst).relative_to(inst.settings.layout.root)})"

    return StateKind(name, counts, store, copy)


# ------------------------------------------------------------------ JSON files
def _files(root: Path, rel: str) -> list[Path]:
    base = root / rel
    if base.is_file():
        return [base]
    if base.is_dir():
        return sorted(p for p in base.iterdir() if p.is_file() and not p.name.endswith(".tmp")
                      and not p.name.startswith("."))  # fmt: skip
    return []


def _file_kind(name: str, rel: str, counts: Callable[[Path], dict[str, int]]) -> StateKind:
    def copy(src: Installation, dst: Installation, crash: Callable[[str], None]) -> int:
        sroot, droot = src.settings.layout.root, dst.settings.layout.root
        n = 0
        for path in _files(sroot, rel):
            target = droot / path.relative_to(sroot)
            data = path.read_bytes()
            if target.is_file() and target.read_bytes() == data:
                continue
            _atomic_write(target, data)
            n += 1
            crash(f"state:{name}:{path.name}")
        return n

    return StateKind(name, lambda inst: counts(inst.settings.layout.root),
                     lambda inst: f"embedded files (DATA/{rel})", copy)  # fmt: skip


def _json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _orbit_counts(root: Path) -> dict[str, int]:
    reg = _json(root / "orbits" / "registry.json", {})
    orders = _json(root / "orbits" / "orders.json", {})
    return {"satellites": len(reg.get("satellites", {})),
            "element sets": sum(len(v) for v in reg.get("elements", {}).values()),
            "orders": len(orders)}  # fmt: skip


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


def _job_store(inst: Installation) -> str:
    store = inst.jobs.store
    where = getattr(store, "root", None)
    if isinstance(where, Path) and where.is_relative_to(inst.settings.layout.root):
        return f"{type(store).__name__} (DATA/{where.relative_to(inst.settings.layout.root)})"
    return type(store).__name__


def kinds() -> list[StateKind]:
    """Every kind of state, in the order the migration copies them."""
    return [
        _sqlite_kind("access", lambda i: i.settings.layout.root / "access.db", ACCESS_TABLES,
                     _access_blank),
        _sqlite_kind("budget", lambda i: i.settings.layout.budget_db, None, _empty),
        _sqlite_kind("sessions", lambda i: i.settings.layout.sessions_db,
                     {"console sessions": "sessions"}, lambda p: True),
        StateKind("jobs", _job_counts, _job_store, _copy_jobs),
        _file_kind("orbits", "orbits", _orbit_counts),
        _file_kind("searches", "searches",
                   lambda root: {"mosaic searches": len(_files(root, "searches"))}),
    ]
