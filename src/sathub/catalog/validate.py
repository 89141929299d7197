"""Validate STAC items and collections at the door, and derive their index columns."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from sathub.catalog.geometry import geometry_from_geojson, to_wkb, validate_bbox
from sathub.errors import InvalidDatetime, InvalidGeometry, InvalidInput
from sathub.timeutil import parse_rfc3339

# Links the API regenerates on every response; stored copies would go stale.
GENERATED_RELS = frozenset({"self", "root", "parent", "collection", "items", "next", "prev"})
ID_MAX_LEN = 512
# control and format characters (newline, NUL, bidi overrides, zero-width), surrogates and
# line/paragraph separators: they break headers, logs and file names, or hide what an id says
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def parse_datetime(value: Any, *, field: str) -> float:
    """An RFC 3339 datetime as float seconds since the epoch; InvalidDatetime otherwise
    (:func:`sathub.timeutil.parse_rfc3339`: STAC documents carry their offset)."""
    if not isinstance(value, str) or not value:
        raise InvalidDatetime(f"{field} must be an RFC 3339 string, got {value!r}", field=field)
    return parse_rfc3339(value, field=field).timestamp()


def check_id(value: Any, *, field: str) -> str:
    """An item or collection id: a non-empty string of at most ``ID_MAX_LEN`` characters
    without '/', '\\', control or format characters; InvalidInput naming ``field`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    if len(value) > ID_MAX_LEN:
        raise InvalidInput(f"{field} is longer than {ID_MAX_LEN} characters", field=field)
    if any(c in value for c in "/\\") or value in (".", ".."):
        raise InvalidInput(f"{field} {value[:80]!r} is not allowed (no '/' or '\\')", field=field)
    if value.isascii() and value.isprintable():  # the common case, without a per-character look-up
        return value
    bad = next((c for c in value if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        raise InvalidInput(
            f"{field} {value[:80]!r} contains the control character U+{ord(bad):04X}", field=field
        )
    return value


@dataclass(slots=True)
class ItemRow:
    """An item's index columns, derived once when it is written."""

    collection: str
    id: str
    dt: float
    dt_start: float
    dt_end: float
    cloud_cover: float | None
    minx: float | None
    maxx: float | None
    miny: float | None
    maxy: float | None
    geom: bytes | None
    content: dict[str, Any]


def item_times(props: Mapping[str, Any]) -> tuple[float, float, float]:
    """An item's (datetime, start, end) as epoch seconds from its properties: ``datetime``, or
    ``start_datetime`` and ``end_datetime`` when it is null; InvalidDatetime naming the field."""
    start = props.get("start_datetime")
    end = props.get("end_datetime")
    dt_value = props.get("datetime")
    if dt_value is None:
        if start is None or end is None:
            raise InvalidDatetime(
                "properties.datetime is null, so start_datetime and end_datetime are required",
                field="properties.datetime",
            )
        dt_start = parse_datetime(start, field="properties.start_datetime")
        dt_end = parse_datetime(end, field="properties.end_datetime")
        dt = dt_start
    else:
        dt = parse_datetime(dt_value, field="properties.datetime")
        dt_start = parse_datetime(start, field="properties.start_datetime") if start else dt
        dt_end = parse_datetime(end, field="properties.end_datetime") if end else dt
    if dt_start > dt_end:
        raise InvalidDatetime("start_datetime is after end_datetime", field="properties.start_datetime")
    return dt, dt_start, dt_end


def cloud_cover(props: Mapping[str, Any]) -> float | None:
    """``eo:cloud_cover`` as a float when it is a finite number (the index column), else None."""
    cc = props.get("eo:cloud_cover")
    if isinstance(cc, (int, float)) and not isinstance(cc, bool) and math.isfinite(cc):
        return float(cc)
    return None


def is_generated_link(link: Any) -> bool:
    """A link the API regenerates on every response (``self``, ``root``, ``parent``…)."""
    if not isinstance(link, dict):
        return False
    rel = link.get("rel")
    return isinstance(rel, str) and rel in GENERATED_RELS


def dump_item(content: dict[str, Any]) -> bytes:
    """An item's JSON to store, when it is not stored as read; InvalidInput when orjson cannot
    write what it read (an item nested deeper than its writer's limit of 254 levels)."""
    try:
        return orjson.dumps(content)
    except TypeError as exc:  # orjson.JSONEncodeError
        raise InvalidInput(f"the item cannot be stored: {exc}", field="item") from exc


def strip_generated_links(doc: dict[str, Any]) -> dict[str, Any]:
    links = doc.get("links")
    if isinstance(links, list):
        doc = dict(doc)
        doc["links"] = [link for link in links if not is_generated_link(link)]
    return doc


def item_row(
    item: Any, *, collection_id: str | None = None, shape: BaseGeometry | None = None,
    wkb: bytes | None = None, bounds: tuple[float, float, float, float] | None = None,
) -> ItemRow:
    """Validate an item (raising a 4xx error naming the field) and derive its row. ``shape``:
    its geometry, already parsed and checked by ``geometries_from_geojson`` (bulk loads), with
    its WKB and bounds when computed for many at once."""
    if not isinstance(item, dict):
        raise InvalidInput("an item must be a JSON object", field="item")
    if item.get("type") != "Feature":
        raise InvalidInput("item 'type' must be 'Feature'", field="type")
    item_id = check_id(item.get("id"), field="id")
    coll = item.get("collection", collection_id)
    if collection_id is not None and coll != collection_id:
        raise InvalidInput(
            f"item collection {coll!r} does not match the collection in the path {collection_id!r}",
            field="collection",
        )
    coll = check_id(coll, field="collection")
    props = item.get("properties")
    if not isinstance(props, dict):
        raise InvalidInput("item 'properties' must be an object", field="properties")

    dt, dt_start, dt_end = item_times(props)
    cloud = cloud_cover(props)

    geom_json = item.get("geometry")
    if geom_json is None:
        geom = None
        minx = maxx = miny = maxy = None
    else:
        if shape is None:
            shape = geometry_from_geojson(geom_json, field="geometry")
            wkb = bounds = None
        geom = to_wkb(shape) if wkb is None else wkb
        minx, miny, maxx, maxy = (float(v) for v in (shape.bounds if bounds is None else bounds))
        if "bbox" in item:
            b = validate_bbox(item["bbox"], field="bbox")
            if b[0] > b[2]:  # crosses the antimeridian: the geometry is split, index it whole
                minx, maxx = -180.0, 180.0
        if minx < -180 or maxx > 180:
            raise InvalidGeometry("geometry longitudes must be within -180..180", field="geometry")

    if "assets" in item and not isinstance(item["assets"], dict):
        raise InvalidInput("item 'assets' must be an object", field="assets")
    if "links" in item and not isinstance(item["links"], list):
        raise InvalidInput("item 'links' must be an array", field="links")

    links = item.get("links")
    generated = isinstance(links, list) and any(is_generated_link(link) for link in links)
    content = strip_generated_links(item) if generated else item  # the item itself: bulk loads
    if content.get("collection") != coll:                         # store its text as read
        content = dict(content)
        content["collection"] = coll
    if geom_json is not None and "bbox" not in content:
        content = dict(content)
        content["bbox"] = [minx, miny, maxx, maxy]
    return ItemRow(coll, item_id, dt, dt_start, dt_end, cloud, minx, maxx, miny, maxy, geom, content)


def _member_list(extent: dict[str, Any], part: str, name: str) -> list[Any]:
    """``extent[part][name]``, checked to be an object holding a list (absent: empty)."""
    inner = extent.get(part)
    if inner is None:
        return []
    if not isinstance(inner, dict):
        raise InvalidInput(f"collection 'extent.{part}' must be an object", field=f"extent.{part}")
    value = inner.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"collection 'extent.{part}.{name}' must be an array",
                           field=f"extent.{part}.{name}")  # fmt: skip
    return value


def check_collection(doc: Any) -> dict[str, Any]:
    """Validate a collection document; return it without generated links."""
    if not isinstance(doc, dict):
        raise InvalidInput("a collection must be a JSON object", field="collection")
    check_id(doc.get("id"), field="id")
    if doc.get("type", "Collection") != "Collection":
        raise InvalidInput("collection 'type' must be 'Collection'", field="type")
    if "description" in doc and not isinstance(doc["description"], str):
        raise InvalidInput("collection 'description' must be a string", field="description")
    extent = doc.get("extent")
    if extent is not None:
        if not isinstance(extent, dict):
            raise InvalidInput("collection 'extent' must be an object", field="extent")
        for b in _member_list(extent, "spatial", "bbox"):
            validate_bbox(b, field="extent.spatial.bbox")
        for interval in _member_list(extent, "temporal", "interval"):
            if not isinstance(interval, list) or len(interval) != 2:
                raise InvalidDatetime(
                    "extent.temporal.interval entries must be [start, end]",
                    field="extent.temporal.interval",
                )
            for v in interval:
                if v is not None:
                    parse_datetime(v, field="extent.temporal.interval")
    return strip_generated_links(doc)


def collection_bbox_geometry(doc: dict[str, Any]) -> shapely.Geometry | None:
    try:
        bbox = doc["extent"]["spatial"]["bbox"][0]
    except (KeyError, IndexError, TypeError):
        return None
    from sathub.catalog.geometry import bbox_geometry

    return bbox_geometry(validate_bbox(bbox))
