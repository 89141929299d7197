"""Bulk-load collections and items from .json, .ndjson and stac-geoparquet files.

Semantics (documented in docs/catalog.md): each *file* is loaded in one transaction, all or
nothing; files are independent. Every write is an upsert, so re-running a load after a failure
resumes it: files already loaded are rewritten unchanged. A failure names the file and line
(the item's row for Parquet, the feature's index for a FeatureCollection).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sathub.catalog.geometry import geometries_from_geojson
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
) -> LoadStats:
    """Load one file in one transaction (all or nothing)."""
    stats = LoadStats()
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    # a big file into an empty catalog: the store may build its indexes once, at the end
    with store.bulk_load(large=_is_big(path)) as tx:
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
                if _is_collection(rec):
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


def _is_collection(rec: Any) -> bool:
    if not isinstance(rec, dict):
        return False
    if rec.get("type") == "Collection":
        return True
    # STAC < 1.0 collections have no "type"
    return "type" not in rec and "extent" in rec and "geometry" not in rec


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
