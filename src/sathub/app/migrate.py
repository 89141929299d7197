"""``sathub migrate``: move an installation to another one (embedded ↔ PostgreSQL/pgstac + S3).

The source and the target are two :class:`~sathub.app.Installation` objects built from their
own settings; everything is copied through the stores' contracts, so the target's configured
backends are filled whatever they are:

1. collections (:class:`~sathub.catalog.store.CatalogStore`), compared by document;
2. items, collection by collection in batches: each asset key is streamed from the source's
   :class:`~sathub.storage.base.ObjectStore` into the target's and read back, its checksum
   compared with the item's ``file:checksum`` (or the source object's); only then is the batch
   committed to the target catalog (no item is visible before its bytes);
3. the other state, kind by kind, into the target installation's stores
   (:mod:`sathub.app.migrate_state`);
4. a check: every count of the source equals the target's, every referenced object is in the
   target store, and the target's audit chain verifies.

Re-running after a crash at any point continues: what is in place (same document, same object
size and checksum, same rows or documents) is skipped. ``dry_run`` counts and compares only.

For tests, ``SATHUB_MIGRATE_CRASH_AT=N`` kills the process (SIGKILL) at its N-th checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from sathub.app.installation import Installation
from sathub.config import Settings
from sathub.app.migrate_state import StateKind, kinds
from sathub.errors import InvalidInput, NotFound, SathubError
from sathub.ingest.verify import object_checksum
from sathub.storage.base import ObjectStore
from sathub.storage.keys import is_key, normalize_key

CRASH_ENV = "SATHUB_MIGRATE_CRASH_AT"
THREADS = 8  # objects copied at the same time (object stores answer each request slowly)


class MigrationFailed(SathubError):
    """The copy was tried and something did not arrive intact (exit 1)."""


@dataclass
class KindRow:
    kind: str
    source: int = 0
    present: int = 0  # in the target before this run (dry run: already there)
    copied: int = 0
    target: int | None = None  # after the run (None: dry run)
    store: str = ""  # where the target keeps it


@dataclass
class MigrationReport:
    dry_run: bool
    rows: list[KindRow] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)  # the target's verification, or why not
    audit_ok: bool | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and self.audit_ok is not False

    def row(self, kind: str) -> KindRow:
        for r in self.rows:
            if r.kind == kind:
                return r
        self.rows.append(KindRow(kind))
        return self.rows[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "ok": self.ok, "seconds": round(self.seconds, 3),
                "kinds": [r.__dict__ for r in self.rows], "audit_ok": self.audit_ok,
                "audit": self.audit, "problems": self.problems}  # fmt: skip


class _Crash:
    """The test hook: SIGKILL at the N-th checkpoint (``SATHUB_MIGRATE_CRASH_AT``)."""

    def __init__(self) -> None:
        raw = os.environ.get(CRASH_ENV, "")
        self.at = int(raw) if raw.isdigit() else 0
        self.n = 0

    def __call__(self, where: str) -> None:
        self.n += 1
        if self.at and self.n >= self.at:
            os.kill(os.getpid(), signal.SIGKILL)


class _Chunks(io.RawIOBase):
    """A binary stream over an iterator of byte chunks (an object read from a store), hashing
    what it hands out."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        self.sha.update(b[:n])
        return n


def _doc_key(doc: dict[str, Any]) -> bytes:
    """What two backends must agree on for an item or a collection: the document without the
    links each backend derives, numbers compared as numbers (PostGIS writes ``90`` for
    ``90.0``)."""
    return hashlib.sha256(orjson.dumps(_numbers({k: v for k, v in doc.items() if k != "links"}),
                                       option=orjson.OPT_SORT_KEYS)).digest()  # fmt: skip


def _numbers(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: _numbers(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_numbers(x) for x in v]
    return v


def _asset_keys(item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(normalize_key(a["href"]), a) for a in item.get("assets", {}).values()
            if isinstance(a.get("href"), str) and is_key(a["href"])]  # fmt: skip


def check_pair(src: Installation, dst: Installation) -> None:
    """Refuse a target that is the source (InvalidInput, field ``target``)."""
    s, d = src.settings, dst.settings
    if s.layout.root.resolve() == d.layout.root.resolve():
        raise InvalidInput("the target data directory is the source's", field="target")
    if s.pg_dsn and s.pg_dsn == d.pg_dsn:
        raise InvalidInput("the target's SATHUB_PG_DSN is the source's", field="target")
    if s.s3_bucket and (s.s3_bucket, s.s3_prefix, s.s3_endpoint) == (d.s3_bucket, d.s3_prefix, d.s3_endpoint):
        raise InvalidInput("the target's S3 bucket and prefix are the source's", field="target")


def check_audit_keys(src: Installation, dst: Installation) -> None:
    """The target verifies the source's chain only with the same audit key."""
    from sathub.access.audit_config import AuditConfig

    a, b = AuditConfig.from_settings(src.settings).key, AuditConfig.from_settings(dst.settings).key
    if a.id != b.id:
        raise InvalidInput(
            f"the target's audit key ({b.source}) is not the source's ({a.source}): the copied "
            "chain would not verify; give the target the same key (copy the key file, or set "
            "SATHUB_AUDIT_KEY / SATHUB_AUDIT_KEY_FILE in its settings)", field="audit_key")  # fmt: skip


def migrate(src: Installation, dst: Installation, *, dry_run: bool = False, batch: int = 200,
            say: Callable[[str], None] | None = None, target: Settings | None = None) -> MigrationReport:  # fmt: skip
    """Copy ``src`` into ``dst`` (see the module); the report counts every kind. ``target``:
    the settings whose stores the report names (a dry run's stand-in names the real target)."""
    target = target or dst.settings
    t0 = time.perf_counter()
    check_pair(src, dst)
    check_audit_keys(src, dst)
    report = MigrationReport(dry_run=dry_run)
    crash = _Crash()
    say = say or (lambda _m: None)
    _catalog(src, dst, report, dry_run=dry_run, batch=batch, say=say, crash=crash)
    report.row("collections").store = report.row("items").store = (
        "PgstacStore" if target.pg_dsn else "SQLiteStore")
    report.row("assets").store = report.row("asset bytes").store = (
        "S3Store" if target.s3_bucket else "LocalStore")
    for kind in kinds():
        _state(kind, src, dst, report, dry_run=dry_run, say=say, crash=crash, target=target)
    if not dry_run:
        _audit(dst, report)
    report.seconds = time.perf_counter() - t0
    return report


# ------------------------------------------------------------------ catalog and assets
def _catalog(src: Installation, dst: Installation, report: MigrationReport, *, dry_run: bool,
             batch: int, say: Callable[[str], None], crash: _Crash) -> None:  # fmt: skip
    sc, dc = src.catalog, dst.catalog
    where = type(dc).__name__
    colls, items, assets, nbytes = (report.row(k) for k in ("collections", "items", "assets", "asset bytes"))
    colls.store = items.store = where
    assets.store = nbytes.store = type(dst.objects).__name__
    have_colls = {c["id"]: _doc_key(c) for c in dc.list_collections()}
    for coll in sc.list_collections():
        colls.source += 1
        if have_colls.get(coll["id"]) == _doc_key(coll):
            colls.present += 1
            continue
        if not dry_run:
            with dc.transaction() as tx:
                tx.put_collection(coll, mode="upsert")
            colls.copied += 1
            crash(f"collection:{coll['id']}")
    with ThreadPoolExecutor(THREADS) as pool:
        for coll in sc.list_collections():
            cid = coll["id"]
            have = _items_of(dc, cid)
            for chunk in _chunks(sc.iter_items(cid), batch):
                _batch(src, dst, cid, chunk, have, report, pool, dry_run=dry_run, crash=crash)
            say(f"{cid}: {items.source:,} items so far")
    if not dry_run:
        counts = dc.counts()
        colls.target = len(dc.list_collections())
        items.target = sum(counts.values())
        _check_objects(src, dst, report)


def _chunks(it: Iterator[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for x in it:
        chunk.append(x)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _batch(src: Installation, dst: Installation, cid: str, chunk: list[dict[str, Any]],
           have: dict[str, bytes], report: MigrationReport, pool: ThreadPoolExecutor, *,
           dry_run: bool, crash: _Crash) -> None:  # fmt: skip
    """One batch of items: their assets copied and verified (in parallel), then the items
    committed in one transaction."""
    items, assets, nbytes = (report.row(k) for k in ("items", "assets", "asset bytes"))
    sizes = list(pool.map(lambda it: [_size(src.objects, k, a, it) for k, a in _asset_keys(it)], chunk))
    todo: list[tuple[str, dict[str, Any], int, dict[str, Any]]] = []
    pending = []
    for item, sz in zip(chunk, sizes, strict=True):
        items.source += 1
        assets.source += len(sz)
        nbytes.source += sum(sz)
        if have.get(item["id"]) == _doc_key(item):
            items.present += 1
            assets.present += len(sz)
            nbytes.present += sum(sz)
            continue
        pending.append(item)
        todo += [(k, a, size, item) for (k, a), size in zip(_asset_keys(item), sz, strict=True)]
    if dry_run:
        there = pool.map(lambda t: _present(dst.objects, t[0], t[2]), todo)
    else:
        def copy(t: tuple[str, dict[str, Any], int, dict[str, Any]]) -> bool:
            done = _copy_object(src.objects, dst.objects, *t)
            if done:
                crash(f"asset:{t[0]}")
            return not done

        there = pool.map(copy, todo)
    for (_k, _a, size, _i), present in zip(todo, list(there), strict=True):
        if present:
            assets.present += 1
            nbytes.present += size
        elif not dry_run:
            assets.copied += 1
            nbytes.copied += size
    if pending and not dry_run:
        _commit(dst.catalog, cid, pending, items, crash)


def _items_of(store: Any, cid: str) -> dict[str, bytes]:
    try:
        return {i["id"]: _doc_key(i) for i in store.iter_items(cid)}
    except NotFound:
        return {}


def _commit(dc: Any, cid: str, pending: list[dict[str, Any]], row: KindRow, crash: _Crash) -> None:
    dc.bulk_upsert(pending, mode="upsert", collection_id=cid)
    row.copied += len(pending)
    pending.clear()
    crash(f"items:{cid}")


def _size(objects: ObjectStore, key: str, asset: dict[str, Any], item: dict[str, Any]) -> int:
    try:
        size = objects.stat(key).size
    except NotFound:
        raise MigrationFailed(
            f"item {item.get('collection')}/{item['id']}: its asset {key} is missing in the "
            "source (run `sathub verify` on the source first)") from None  # fmt: skip
    want = asset.get("file:size")
    if want is not None and want != size:
        raise MigrationFailed(f"item {item.get('collection')}/{item['id']}: its asset {key} has "
                              f"{size} bytes, the item records {want} (run `sathub verify`)")  # fmt: skip
    return size


def _present(objects: ObjectStore, key: str, size: int) -> bool:
    try:
        return objects.stat(key).size == size
    except NotFound:
        return False


def _copy_object(s: ObjectStore, d: ObjectStore, key: str, asset: dict[str, Any], size: int,
                 item: dict[str, Any]) -> bool:  # fmt: skip
    """Put ``key`` into ``d`` unless it is there with the right checksum; True if copied."""
    want = asset.get("file:checksum")
    if _present(d, key, size) and object_checksum(d, key, size) == (want or object_checksum(s, key, size)):
        return False
    stream = _Chunks(s.open_range(key, 0, size - 1, chunk_size=4 << 20) if size else iter(()))
    d.put(key, io.BufferedReader(stream, 4 << 20), media_type=asset.get("type"))
    got = "1220" + stream.sha.hexdigest()
    if want and got != want:
        raise MigrationFailed(f"item {item.get('collection')}/{item['id']}: the source's {key} "
                              "does not match its file:checksum (run `sathub verify` on the source)")  # fmt: skip
    if object_checksum(d, key, size) != got:
        raise MigrationFailed(f"{d.location(key)}: the copy does not match the source's checksum")
    return True


def _check_objects(src: Installation, dst: Installation, report: MigrationReport) -> None:
    """Every asset the target's items reference is in the target store with its size."""
    wanted = [(key, asset.get("file:size")) for item in dst.catalog.iter_items()
              for key, asset in _asset_keys(item)]  # fmt: skip

    def bad(kw: tuple[str, int | None]) -> bool:
        try:
            size = dst.objects.stat(kw[0]).size
        except NotFound:
            return True
        return kw[1] is not None and size != kw[1]

    with ThreadPoolExecutor(THREADS) as pool:
        missing = sum(pool.map(bad, wanted))
    assets = report.row("assets")
    assets.target = assets.source - missing if missing else assets.source
    report.row("asset bytes").target = report.row("asset bytes").source if not missing else None
    if missing:
        report.problems.append(f"{missing} referenced asset(s) missing or of the wrong size in the target")


# ------------------------------------------------------------------------- state
def _state(kind: StateKind, src: Installation, dst: Installation, report: MigrationReport, *,
           dry_run: bool, say: Callable[[str], None], crash: _Crash, target: Settings) -> None:  # fmt: skip
    before = kind.counts(dst)
    want = kind.counts(src)
    if not dry_run:
        kind.copy(src, dst, crash)
        crash(f"state:{kind.name}")
    after = kind.counts(dst) if not dry_run else None
    for label, n in want.items():
        row = report.row(label)
        row.source, row.store = n, kind.store(target)
        row.present = min(before.get(label, 0), n)
        if after is not None:
            row.target = after.get(label, 0)
            row.copied = max(0, row.target - row.present) if row.target != before.get(label) else 0
            if kind.copied and row.target != n:
                report.problems.append(f"{label}: the source has {n}, the target {row.target}")
    say(f"{kind.name}: done")


def _audit(dst: Installation, report: MigrationReport) -> None:
    result = dst.access.audit.verify()
    report.audit_ok = result.ok
    report.audit = [f"checked: {x}" for x in result.checked] + [
        f"not checked: {x}" for x in result.not_checked] + [f"tampered: {x}" for x in result.problems]
