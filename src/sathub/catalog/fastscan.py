"""The bulk load's fast path for the common item: read only what the index needs.

A worker of a bulk load (:mod:`sathub.catalog.prepare`) spent most of its time making Python
objects of every item it parsed (``orjson.loads`` of ~3.7 KB: the assets and their hrefs,
links, every property) and releasing them, to read a dozen values. Here an item's line is
decoded with msgspec against a schema of just those values (id, collection, the properties as
unparsed JSON values, the geometry's type with its coordinates unparsed, bbox, assets, the links'
``rel``); the rest of the document is checked for JSON syntax but never made into objects.

The fast path only *accepts* items that the general path (``orjson.loads`` then
:func:`~sathub.catalog.validate.item_row`) accepts, with the same row: anything else it
*declines*, and the general path then accepts or refuses the item with its precise message.
Declined, so the general path decides: lines orjson may refuse where msgspec's skipping would
not (invalid UTF-8; number literals that could overflow a double), items the general path would
change before storing (no ``bbox``, links the API regenerates, a collection given on the
command line), geometries other than one-ring 2-D Polygons, anything that fails a check.
``tests/test_catalog_fastscan.py`` holds the two paths to the same rows, queryables and errors.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import msgspec
import numpy as np
import orjson
import simdjson

from sathub.catalog.geometry import max_vertices, polygons_from_rings, validate_bbox
from sathub.catalog.validate import GENERATED_RELS, check_id, cloud_cover, item_times
from sathub.errors import SathubError

Raw = msgspec.Raw
UNSET = msgspec.UNSET


class _Link(msgspec.Struct):
    rel: str | None = None  # the other members are skipped


class _Geometry(msgspec.Struct):
    type: str
    coordinates: Raw


class _Item(msgspec.Struct):
    type: str
    id: str
    collection: str
    properties: dict[str, Raw]
    geometry: _Geometry | None | msgspec.UnsetType = UNSET
    bbox: Raw | msgspec.UnsetType = UNSET
    links: Raw | msgspec.UnsetType = UNSET
    assets: Raw | msgspec.UnsetType = UNSET


_ITEM = msgspec.json.Decoder(_Item)
_RINGS = msgspec.json.Decoder(list[list[list[tuple[float, float]]]])
_POLYGON = msgspec.json.Decoder(list[list[tuple[float, float]]])
_PARTS = msgspec.json.Decoder(list[Raw])
_LINKS = msgspec.json.Decoder(list[_Link])
_CHECKED: set[str] = set()  # collection ids that passed check_id in this process
_TIME_KEYS = ("datetime", "start_datetime", "end_datetime", "eo:cloud_cover")
# the JSON type of a raw value, from its first byte (json_type's names, for queryables)
_RAW_TYPES = {ord('"'): "string", ord("{"): "object", ord("["): "array", ord("t"): "boolean",
              ord("f"): "boolean", ord("n"): "null"}  # fmt: skip


_VALIDATOR: Any = None  # this process's simdjson parser


def decode(line: bytes) -> _Item | None:
    """The fast schema's view of a line, or None (declined: the general path reads it). A
    returned item is valid JSON that ``orjson.loads`` reads: msgspec does not parse the values
    it skips, so simdjson checks the whole line first (UTF-8, escapes, numbers within a double's
    range, nesting), refusing whatever orjson refuses (and more: integers beyond 64 bits)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = simdjson.Parser()
    try:
        _VALIDATOR.parse(line)  # the document it returns is dropped at once
    except (ValueError, RuntimeError):
        return None
    try:
        item = _ITEM.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # RecursionError: msgspec skipping a value nested ~990 deep
    return item if item.type == "Feature" else None  # not a collection record either


def raw_type(raw: Raw) -> str:
    """The JSON type name of an unparsed value (as :func:`~sathub.catalog.prepare.json_type`)."""
    return _RAW_TYPES.get(memoryview(raw)[0], "number")


# (collection, id, dt, dt_start, dt_end, cloud cover, coordinates or None, crosses the
# antimeridian, properties, the JSON to store)
Scanned = tuple[str, str, float, float, float, float | None, Raw | None, bool, dict[str, Raw], bytes]


def scan(item: _Item, line: bytes) -> Scanned | None:
    """The checks of :func:`~sathub.catalog.validate.item_row` that do not need GEOS, on
    ``line`` decoded; None when the item is declined (the general path then decides). The JSON
    to store is the line as read, or, when it holds links the API regenerates, the line with
    its ``links`` array rewritten without them (the general path stores the parsed item
    without them: the same JSON value)."""
    try:
        check_id(item.id, field="id")
        if item.collection not in _CHECKED:  # the items of a file mostly share one
            _CHECKED.add(check_id(item.collection, field="collection"))
        props = item.properties
        values = {k: orjson.loads(memoryview(props[k])) for k in _TIME_KEYS if k in props}
        dt, dt_start, dt_end = item_times(values)
        geometry = item.geometry
        coords = None
        antimeridian = False
        if geometry is not None and geometry is not UNSET:
            if geometry.type != "Polygon" or item.bbox is UNSET:  # no bbox: the item gets one
                return None
            b = validate_bbox(orjson.loads(memoryview(item.bbox)), field="bbox")
            antimeridian = b[0] > b[2]
            coords = geometry.coordinates
    except (SathubError, orjson.JSONDecodeError):
        return None
    stored = line if item.links is UNSET else _without_generated_links(line, item.links)
    if stored is None:
        return None
    if item.assets is not UNSET and memoryview(item.assets)[0] != ord("{"):
        return None
    return (item.collection, item.id, dt, dt_start, dt_end, cloud_cover(values), coords,
            antimeridian, props, stored)  # fmt: skip


def _without_generated_links(line: bytes, links: Raw) -> bytes | None:
    """``line`` with its links array less the links the API regenerates (``line`` itself when
    there are none); None (declined) when the array is not one of objects with string or null
    ``rel``, or when its bytes occur twice in the line (which one is the item's?)."""
    try:
        rels = [link.rel for link in _LINKS.decode(links)]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not any(rel in GENERATED_RELS for rel in rels):
        return line
    if not CUT_LINKS:
        return None
    parts = _PARTS.decode(links)  # the same array: each link's bytes
    old = bytes(links)
    at = line.find(old)
    if at < 0 or line.find(old, at + 1) >= 0:
        return None
    kept = b",".join(bytes(p) for p, rel in zip(parts, rels, strict=True) if rel not in GENERATED_RELS)
    return line[:at] + b"[" + kept + b"]" + line[at + len(old) :]


# Cutting generated links out of the line keeps the rest byte for byte, duplicate member names
# included, where the general path stores its parsed item again (the last duplicate only):
# the same value for orjson, but SQLite's json_extract (CQL2 filters) reads the *first*
# duplicate, and orjson refuses to write an item nested deeper than 254 levels that it reads.
# Until items with duplicate names are refused at the door, an item whose links must be cut
# takes the general path (found by review, tests/test_catalog_fastscan.py).
CUT_LINKS = False


def polygons(coords: list[Raw]) -> tuple[list[bytes | None], list[tuple[float, float, float, float] | None]]:
    """WKB and bounds of each one-ring Polygon's coordinates; None where the polygon would not
    pass :func:`~sathub.catalog.geometry.check_geojson` and GEOS validity (declined)."""
    n = len(coords)
    rings_of: list[Any]
    try:
        rings_of = _RINGS.decode(b"[" + b",".join(coords) + b"]")
    except msgspec.ValidationError:  # one of them is not [[[x, y], …]]: each on its own
        rings_of = []
        for c in coords:
            try:
                rings_of.append(_POLYGON.decode(c))
            except msgspec.ValidationError:
                rings_of.append(None)
    limit = max_vertices()
    keep = [k for k, rings in enumerate(rings_of)
            if rings is not None and len(rings) == 1 and 4 <= len(rings[0]) <= limit
            and rings[0][0] == rings[0][-1]]  # fmt: skip
    wkbs: list[bytes | None] = [None] * n
    bounds: list[tuple[float, float, float, float] | None] = [None] * n
    if not keep:
        return wkbs, bounds
    kept = [rings_of[k][0] for k in keep]
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(kept)), dtype=np.float64)
    shapes = polygons_from_rings(flat.reshape(-1, 2), [len(r) for r in kept])
    ok = [j for j, s in enumerate(shapes) if s is not None]  # None: out of range, empty, invalid
    if ok:
        import shapely

        arr = np.array([shapes[j] for j in ok], dtype=object)
        for j, w, b in zip(ok, shapely.to_wkb(arr, output_dimension=2).tolist(),
                           shapely.bounds(arr).tolist(), strict=True):  # fmt: skip
            wkbs[keep[j]], bounds[keep[j]] = w, tuple(b)
    return wkbs, bounds
