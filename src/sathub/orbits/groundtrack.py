"""Ground tracks as GeoJSON, split at the antimeridian (RFC 7946 §3.1.9)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np

from sathub.errors import InvalidInput
from sathub.orbits.elements import ElementSet
from sathub.orbits.propagate import propagate
from sathub.orbits.timeutil import iso

MAX_TRACK_POINTS = 100_000


def split_antimeridian(lon_deg: np.ndarray, lat_deg: np.ndarray) -> list[list[list[float]]]:
    """Split a lon/lat polyline where it crosses ±180°, interpolating the crossing latitude."""
    lines: list[list[list[float]]] = []
    current: list[list[float]] = []
    for k in range(len(lon_deg)):
        lo, la = float(lon_deg[k]), float(lat_deg[k])
        if not (np.isfinite(lo) and np.isfinite(la)):
            if len(current) > 1:
                lines.append(current)
            current = []
            continue
        if current:
            prev_lo, prev_la = current[-1]
            d = lo - prev_lo
            if abs(d) > 180.0:  # wrapped: cross at ±180
                edge = 180.0 if prev_lo > 0 else -180.0
                unwrapped = lo + (360.0 if edge > 0 else -360.0)
                f = (edge - prev_lo) / (unwrapped - prev_lo)
                lat_x = prev_la + f * (la - prev_la)
                current.append([edge, lat_x])
                lines.append(current)
                current = [[-edge, lat_x]]
        current.append([lo, la])
    if len(current) > 1:
        lines.append(current)
    return lines


def ground_track(es: ElementSet, start: datetime, *, hours: float = 1.5,
                 step_s: float = 30.0) -> dict[str, Any]:
    """Sub-satellite track (WGS84 geodetic) as a GeoJSON Feature with a MultiLineString."""
    if hours <= 0 or step_s <= 0:
        raise InvalidInput("hours and step_s must be positive", field="hours")
    n = int(hours * 3600.0 / step_s) + 1
    if n > MAX_TRACK_POINTS:
        raise InvalidInput(f"{n} track points is over the limit of {MAX_TRACK_POINTS}",
                           field="hours")
    offsets = np.asarray(np.arange(n) * step_s, dtype=np.float64)
    eph = propagate([es], start, offsets)
    lat, lon, alt = eph.geodetic()
    return {
        "type": "Feature",
        "geometry": {"type": "MultiLineString",
                     "coordinates": split_antimeridian(lon[0], lat[0])},
        "properties": {
            "norad_id": es.norad_id, "name": es.name, "start": iso(start),
            "end": iso(start + timedelta(seconds=float(offsets[-1]))), "step_s": step_s,
            "element_epoch": iso(es.epoch),
            "mean_altitude_km": float(np.nanmean(alt[0])),
            "sgp4_failures": [f.to_dict() for f in eph.failures()],
        },
    }
