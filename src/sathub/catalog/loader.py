"""Bulk-load collections and items from .json, .ndjson and stac-geoparquet files.

Semantics (documented in docs/catalog.md): each *file* is loaded in one transaction, all or
nothing; files are independent. Every write is an upsert, so re-running a load after a failure
resumes it: files already loaded are rewritten unchanged. A failure names the file and line
(the item's row for Parquet, the feature's index for a FeatureCollection).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sathub.catalog.geometry import geometries_from_geojson
from sathub.catalog.prepare import default_workers, is_collection
from sathub.catalog.store import CatalogStore, Transaction
from sathub.catalog.validate import ItemRow, item_row
from sathub.errors import LoadError, SathubError

CHUNK = 2000


@dataclass
class LoadStats:
    collections: int = 0
    items: int = 0


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line or position, JSON object) for each record in a file."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".geoparquet"):
        import pyarrow.parquet as pq
        from stac_geoparquet.arrow import stac_table_to_items

        pf = pq.ParquetFile(path)
        n = 0
        for batch in pf.iter_batches(batch_size=CHUNK):
            for item in stac_table_to_items(batch):
                n += 1
                yield n, _drop_nulls(item)
        return
    if suffix in (".ndjson", ".jsonl", ".geojsonl"):
        with path.open("rb") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    yield lineno, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise LoadError(f"{path}:{lineno}: malformed JSON: {exc}") from exc
        return
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise LoadError(f"{path}: malformed JSON: {exc}") from exc
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        for i, feature in enumerate(doc.get("features") or [], start=1):
            yield i, feature
    elif isinstance(doc, list):
        yield from enumerate(doc, start=1)
    else:
        yield 1, doc


def _drop_nulls(value: Any, top: bool = True) -> Any:
    """Remove the nulls a columnar file puts where a record simply had no key."""
    if isinstance(value, dict):
        return {
            k: _drop_nulls(v, False)
            for k, v in value.items()
            if v is not None or (top and k == "geometry") or k == "datetime"
        }
    if isinstance(value, list):
        return [_drop_nulls(v, False) for v in value]
    return value


def load_file(
    store: CatalogStore,
    path: Path,
    *,
    collection: str | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> LoadStats:
    """Load one file in one transaction (all or nothing). A big newline-delimited file is
    parsed and validated by ``workers`` processes (None: one per core, at most 4; 0: none)
    while this one writes (:mod:`sathub.catalog.prepare`), when the store takes encoded
    rows."""
    stats = LoadStats()
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    big = _is_big(path)
    # a big file into an empty catalog: the store may build its indexes once, at the end
    with store.bulk_load(large=big) as tx:
        if workers is None:
            workers = default_workers() if big else 0
        if (workers > 0 and hasattr(tx, "put_encoded")
                and path.suffix.lower() in (".ndjson", ".jsonl", ".geojsonl")):  # fmt: skip
            # the rows received make no reference cycles: no cyclic collector passes over them
            enabled = gc.isenabled()
            gc.disable()
            try:
                _load_parallel(tx, path, collection, progress, workers, stats)
            finally:
                if enabled:
                    gc.enable()
            return stats
        raw: list[tuple[int, Any]] = []  # (line, item) not yet validated
        where = 0

        def flush() -> None:
            nonlocal where
            # geometries of a chunk parsed and checked at once; items validated in order
            shapes = geometries_from_geojson(
                [r.get("geometry") if isinstance(r, dict) else None for _, r in raw]
            )
            rows: list[ItemRow] = []
            for (where, rec), shape in zip(raw, shapes, strict=True):
                row = item_row(rec, shape=shape)
                tx.require_collection(row.collection)
                rows.append(row)
            raw.clear()
            _flush(tx, rows, stats, progress)

        try:
            for where, rec in _records(path):
                if is_collection(rec):
                    flush()
                    tx.put_collection(rec, mode="upsert")
                    stats.collections += 1
                    continue
                if collection is not None and isinstance(rec, dict):
                    rec = {**rec, "collection": collection}
                raw.append((where, rec))
                if len(raw) >= CHUNK:
                    flush()
            flush()
        except LoadError:
            raise
        except SathubError as exc:
            line = f":{where}" if where else ""
            raise LoadError(f"{path}{line}: {exc.message}", field=exc.field) from exc
    return stats


DEFER_INDEXES_BYTES = 50 * 2**20  # a file this big (~10,000 items) into an empty catalog


def _is_big(path: Path) -> bool:
    return path.stat().st_size >= DEFER_INDEXES_BYTES


PARALLEL_BYTES = 4 * 2**20  # per task (about 1,000 items of 4 KB)
COMPRESS = True  # item JSON of a parallel load compressed with a trained dictionary (itemzip)


def _load_parallel(tx: Any, path: Path, collection: str | None,
                   progress: Callable[[int], None] | None, workers: int, stats: LoadStats) -> None:  # fmt: skip
    """Byte ranges of the file parsed and validated in worker processes, written here in file
    order (the worker reads its range itself: this process only writes)."""
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    from sathub.catalog.prepare import file_ranges, init_worker, prepare_range

    # spawn: the loading process may hold threads and open databases that a fork would copy
    ctx = multiprocessing.get_context("spawn")
    base = 0  # lines before the range being written
    zdict = None  # the item JSON compressed with a dictionary trained on the file's first items
    if COMPRESS and hasattr(tx, "add_dictionary"):
        from sathub.catalog.itemzip import sample_lines, train

        zdict = train(sample_lines(path), taken=tx.dictionary_ids())
        if zdict is not None:
            tx.add_dictionary(*zdict)
    from sathub.catalog.geometry import max_vertices

    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                             initargs=(zdict and zdict[1], max_vertices())) as pool:  # fmt: skip
        inflight: list[Future[Any]] = []
        ranges = file_ranges(path, PARALLEL_BYTES)
        try:
            while True:
                while len(inflight) < 3 * workers:
                    nxt = next(ranges, None)
                    if nxt is None:
                        break
                    inflight.append(pool.submit(prepare_range, path, *nxt, collection))
                if not inflight:
                    break
                nlines, segments = inflight.pop(0).result()
                for seg in segments:
                    _write_segment(tx, path, base, seg, stats, progress)
                base += nlines
        finally:
            for f in inflight:
                f.cancel()


def _write_segment(tx: Any, path: Path, base: int, seg: Any, stats: LoadStats,
                   progress: Callable[[int], None] | None) -> None:  # fmt: skip
    if seg.kind == "error":
        raise LoadError(f"{path}:{base + seg.line}: {seg.message}", field=seg.field_name)
    if seg.kind == "collection":
        try:
            tx.put_collection(seg.record, mode="upsert")
        except SathubError as exc:
            raise LoadError(f"{path}:{base + seg.line}: {exc.message}", field=exc.field) from exc
        stats.collections += 1
        return
    if not seg.rows:
        return
    for coll in {r[0] for r in seg.rows}:
        try:
            tx.require_collection(coll)
        except SathubError as exc:
            line = next(n for n, r in zip(seg.lines, seg.rows, strict=True) if r[0] == coll)
            raise LoadError(f"{path}:{base + line}: {exc.message}", field=exc.field) from exc
    tx.put_encoded(seg.rows, seg.queryables)
    stats.items += len(seg.rows)
    if progress:
        progress(len(seg.rows))


def _flush(
    tx: Transaction,
    pending: list[ItemRow],
    stats: LoadStats,
    progress: Callable[[int], None] | None,
) -> None:
    if not pending:
        return
    tx.put_rows(pending, mode="upsert")
    stats.items += len(pending)
    if progress:
        progress(len(pending))
    pending.clear()
