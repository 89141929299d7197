"""Python functions registered on every SQLite connection of the catalog."""

from __future__ import annotations

import math
import sqlite3
import unicodedata
from typing import Any
from datetime import datetime, timezone
from functools import lru_cache

import shapely
from shapely.geometry.base import BaseGeometry

_PREDICATES = {
    "s_intersects": shapely.intersects,
    "s_equals": shapely.equals,
    "s_disjoint": shapely.disjoint,
    "s_touches": shapely.touches,
    "s_within": shapely.within,
    "s_overlaps": shapely.overlaps,
    "s_crosses": shapely.crosses,
    "s_contains": shapely.contains,
}


@lru_cache(maxsize=64)
def _literal(wkb: bytes) -> BaseGeometry:
    """Query geometries repeat on every row: parse and prepare them once."""
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


def spatial(op: str, a: bytes | None, b: bytes | None) -> int | None:
    if a is None or b is None:
        return None
    # a is the row's geometry (parsed per row); b is the query's literal (parsed once, prepared)
    ga = shapely.from_wkb(a)
    gb = _literal(b)
    return 1 if bool(_PREDICATES[op](ga, gb)) else 0


def epoch(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        text = str(value).replace("Z", "+00:00")
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def number(value: object) -> float | None:
    """A number, or a string that spells a finite one, as a float; anything else NULL (the Query
    extension compares numbers this way, whichever of the two an item or a client used)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            return None
        return out if math.isfinite(out) else None
    return None


def unaccent(value: object) -> Any:
    if not isinstance(value, str):
        return value
    return "".join(
        c for c in unicodedata.normalize("NFD", value) if unicodedata.category(c) != "Mn"
    )


def power(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        return None


_BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"


def geohash(lon: float | None, lat: float | None, precision: int) -> str | None:
    """Standard geohash of a point (Niemeyer 2008)."""
    if lon is None or lat is None:
        return None
    lat_lo, lat_hi, lon_lo, lon_hi = -90.0, 90.0, -180.0, 180.0
    out: list[str] = []
    bits, ch, even = 0, 0, True
    while len(out) < precision:
        if even:
            mid = (lon_lo + lon_hi) / 2
            if lon >= mid:
                ch = (ch << 1) | 1
                lon_lo = mid
            else:
                ch <<= 1
                lon_hi = mid
        else:
            mid = (lat_lo + lat_hi) / 2
            if lat >= mid:
                ch = (ch << 1) | 1
                lat_lo = mid
            else:
                ch <<= 1
                lat_hi = mid
        even = not even
        bits += 1
        if bits == 5:
            out.append(_BASE32[ch])
            bits, ch = 0, 0
    return "".join(out)


def geotile(lon: float | None, lat: float | None, zoom: int) -> str | None:
    """The WebMercator tile ``z/x/y`` holding a point (lat clamped to ±85.0511)."""
    if lon is None or lat is None:
        return None
    lat = max(min(lat, 85.05112878), -85.05112878)
    n = 2**zoom
    x = min(int((lon + 180.0) / 360.0 * n), n - 1)
    r = math.radians(lat)
    y = min(int((1.0 - math.asinh(math.tan(r)) / math.pi) / 2.0 * n), n - 1)
    return f"{zoom}/{x}/{y}"


def register(conn: sqlite3.Connection) -> None:
    conn.create_function("sathub_spatial", 3, spatial, deterministic=True)
    conn.create_function("sathub_epoch", 1, epoch, deterministic=True)
    conn.create_function("sathub_unaccent", 1, unaccent, deterministic=True)
    conn.create_function("sathub_num", 1, number, deterministic=True)
    conn.create_function("sathub_pow", 2, power, deterministic=True)
    conn.create_function("sathub_geohash", 3, geohash, deterministic=True)
    conn.create_function("sathub_geotile", 3, geotile, deterministic=True)
