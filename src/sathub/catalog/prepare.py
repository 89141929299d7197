"""Parse and validate chunks of newline-delimited items in worker processes for a bulk load.

A big ``.ndjson`` file is read by the loading process in chunks of lines; each chunk is parsed,
validated (:func:`~sathub.catalog.validate.item_row`, the same checks as one item at a time) and
its rows encoded (index columns, compact item JSON, the property types seen) by a worker
process, while the loading process only writes what the workers return, in file order. A chunk
stops at its first bad record, and the loader reports that record's line: the same error, file
and line as the serial path, and the load (one transaction) writes nothing.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sathub.errors import SathubError

#: (collection, id, dt, dt_start, dt_end, cloud_cover, minx, maxx, miny, maxy, geom, JSON: text, or a zstd frame)
Encoded = tuple[Any, ...]


@dataclass
class Segment:
    """A run of items, a collection record, or the first error of a chunk (in file order)."""

    kind: str  # "rows" | "collection" | "error"
    line: int = 0  # of the collection record or of the failing record
    rows: list[Encoded] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # of the rows
    queryables: dict[tuple[str, str], str] = field(default_factory=dict)
    record: Any = None  # the collection
    message: str = ""
    field_name: str | None = None


def is_collection(rec: Any) -> bool:
    """A STAC collection document (not an item)."""
    if not isinstance(rec, dict):
        return False
    if rec.get("type") == "Collection":
        return True
    # STAC < 1.0 collections have no "type"
    return "type" not in rec and "extent" in rec and "geometry" not in rec


def default_workers() -> int:
    """Worker processes for a big load: one per core the process may use, at most 4."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


# This worker's compressor of item JSON (set by init_worker when the load has a dictionary,
# :mod:`sathub.catalog.itemzip`); None: the JSON is stored as text.
_PACKER: Any = None


def init_worker(dict_bytes: bytes | None, vertices: int | None = None) -> None:
    """Initialiser of a worker process: the load's compression dictionary (or none), and the
    loading process's geometry vertex limit (a spawned worker would otherwise check against
    the default, not ``SATHUB_MAX_GEOMETRY_VERTICES``)."""
    global _PACKER
    if vertices is not None:
        from sathub.catalog.geometry import configure

        configure(max_vertices=vertices)
    if dict_bytes is None:
        _PACKER = None
        return
    from sathub.catalog.itemzip import Packer

    _PACKER = Packer(dict_bytes)


def _encode(row: Any, line: bytes | None) -> Encoded:
    """The row's columns and JSON: ``line`` (as read) when the item is stored as read;
    compressed (a zstd frame) when the load has a dictionary, else text."""
    from sathub.catalog.validate import dump_item

    raw = line.strip() if line is not None else dump_item(row.content)
    return (row.collection, row.id, row.dt, row.dt_start, row.dt_end, row.cloud_cover, row.minx,
            row.maxx, row.miny, row.maxy, row.geom, _stored(raw))  # fmt: skip


def _stored(raw: bytes) -> Any:
    """An item's JSON as stored: a zstd frame when the load has a dictionary, else text."""
    return _PACKER.pack(raw) if _PACKER is not None else raw.decode()


def file_ranges(path: Path, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) byte ranges of about ``size`` bytes that start and end at line breaks."""
    total = path.stat().st_size
    with path.open("rb") as f:
        start = 0
        while start < total:
            f.seek(min(start + size, total))
            if f.tell() < total:
                f.readline()
            end = f.tell()
            yield start, end
            start = end


def prepare_range(path: Path, start: int, end: int, collection: str | None) -> tuple[int, list[Segment]]:
    """:func:`prepare_chunk` on the lines of a byte range; line numbers relative to the
    range (the caller adds the lines before it). Returns (lines in the range, segments)."""
    with path.open("rb") as f:
        f.seek(start)
        data = f.read(end - start)
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    # a chunk makes ~100,000 containers that live until it is encoded and no cycles: the
    # cyclic collector's passes over them cost as much as parsing (measured 2x orjson.loads)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return len(lines), prepare_chunk(numbered, collection)
    finally:
        if enabled:
            gc.enable()


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


FAST = True  # the fast path for common items (catalog/fastscan.py); False: every item general


def prepare_chunk(lines: list[tuple[int, bytes]], collection: str | None) -> list[Segment]:
    """Parse, validate and encode one chunk of (line number, line) pairs. Common items take
    the fast path (:mod:`~sathub.catalog.fastscan`), the others and those it declines the
    general one (``orjson.loads``, :func:`~sathub.catalog.validate.item_row`): the same rows,
    in file order, and the same first error."""
    from sathub.catalog import fastscan

    out: list[Segment] = []
    # (line number, the item: fastscan's view or the parsed JSON, the line as read or None)
    pending: list[tuple[int, Any, bytes | None]] = []
    names: dict[str, set[str]] = {}  # property names typed in the segment, per collection
    fast = FAST and collection is None

    def flush() -> bool:
        if not pending:
            return True
        seg = Segment("rows")
        ok = _flush_rows(pending, seg, names)
        pending.clear()
        out.append(seg)
        if ok is not None:
            out.append(ok)
            return False
        return True

    for lineno, raw in lines:
        line: bytes | None = raw
        if fast:
            item = fastscan.decode(raw)
            if item is not None:
                pending.append((lineno, item, raw))
                continue
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # reported first, as the serial reader does
            out.append(Segment("error", lineno, message=f"malformed JSON: {exc}"))
            return out
        if is_collection(rec):
            if not flush():
                return out
            out.append(Segment("collection", lineno, record=rec))
            continue
        if collection is not None and isinstance(rec, dict):
            rec = {**rec, "collection": collection}
            line = None  # not the item as read
        pending.append((lineno, rec, line))
    flush()
    return out


def _flush_rows(pending: list[tuple[int, Any, bytes | None]], seg: Segment,
                names: dict[str, set[str]]) -> Segment | None:  # fmt: skip
    """Validate and encode ``pending`` into ``seg`` in order; the error segment of the first
    bad item (the rows before it stay in ``seg``), or None."""
    import numpy as np
    import shapely

    from sathub.catalog import fastscan
    from sathub.catalog.geometry import geometries_from_geojson
    from sathub.catalog.validate import item_row

    # the fast path's checks, then its polygons at once; a declined item is parsed in full
    # (its line is valid JSON: fastscan.decode read it)
    entries: list[Any] = []
    for _, rec, line in pending:
        if isinstance(rec, fastscan._Item):
            assert line is not None  # the fast path reads lines as they are
            scanned = fastscan.scan(rec, line)
            entries.append(scanned if scanned is not None else orjson.loads(line))
        else:
            entries.append(rec)
    poly = [k for k, e in enumerate(entries) if type(e) is tuple and e[6] is not None]
    fast_geom: dict[int, tuple[bytes, Any]] = {}  # WKB and bounds
    if poly:
        wkbs, bnds = fastscan.polygons([entries[k][6] for k in poly])
        for k, w, b in zip(poly, wkbs, bnds, strict=True):
            if w is None:
                entries[k] = orjson.loads(pending[k][2] or b"")  # declined: the general path says why
            else:
                fast_geom[k] = (w, b)
    general = [k for k, e in enumerate(entries) if type(e) is not tuple]
    where = pending[0][0]
    try:
        shapes = geometries_from_geojson(
            [entries[k].get("geometry") if isinstance(entries[k], dict) else None for k in general]
        )
        # WKB and bounds of the general items' shapes at once
        have = [j for j, g in enumerate(shapes) if g is not None]
        geo: dict[int, tuple[Any, Any, Any]] = {k: (None, None, None) for k in general}
        if have:
            arr = np.array([shapes[j] for j in have], dtype=object)
            for j, w, b in zip(have, shapely.to_wkb(arr, output_dimension=2),
                               shapely.bounds(arr).tolist(), strict=True):  # fmt: skip
                geo[general[j]] = (shapes[j], w, tuple(b))
        q = seg.queryables
        typed: Callable[[Any], str]
        for k, (where, _, line) in enumerate(pending):
            e = entries[k]
            if type(e) is tuple:  # the fast path: the line as read (or less generated links)
                coll, props = e[0], e[8]
                cols: tuple[Any, ...]
                if e[6] is None:
                    cols = (None, None, None, None, None)
                else:
                    wkb, (minx, miny, maxx, maxy) = fast_geom[k]
                    if e[7]:  # crosses the antimeridian: the geometry is split, index it whole
                        minx, maxx = -180.0, 180.0
                    cols = (minx, maxx, miny, maxy, wkb)
                seg.rows.append((coll, e[1], e[2], e[3], e[4], e[5], *cols, _stored(e[9].strip())))
                typed = fastscan.raw_type
            else:
                shape, wkb, bnd = geo[k]
                row = item_row(e, shape=shape, wkb=wkb, bounds=bnd)
                seg.rows.append(_encode(row, line if row.content is e else None))
                coll, props = row.collection, row.content["properties"]
                typed = json_type
            seg.lines.append(where)
            # property names not seen yet in the collection (a set difference: items of a
            # collection mostly share their names), typed by their first value
            new = props.keys() - names.setdefault(coll, set())
            if new:
                for name in new:
                    q[(coll, name)] = typed(props[name])
                names[coll] |= new
    except SathubError as exc:
        return Segment("error", where, message=exc.message, field_name=exc.field)
    return None

