"""Sun elevation from the bundled JPL DE421 ephemeris (skyfield-data; never downloads)."""

from __future__ import annotations

import warnings
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sathub.orbits.timeutil import timescale


@lru_cache(maxsize=1)
def _ephemeris() -> Any:
    from skyfield.api import Loader
    from skyfield_data import get_skyfield_data_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Loader(get_skyfield_data_path(), expire=False)("de421.bsp")


def sun_elevation_deg(lat_deg: NDArray[np.float64] | float, lon_deg: NDArray[np.float64] | float,
                      when: list[datetime]) -> NDArray[np.float64]:
    """Apparent (unrefracted) Sun elevation at each (lat, lon, time), degrees."""
    from skyfield.api import wgs84

    if not when:
        return np.zeros(0)
    eph = _ephemeris()
    ts = timescale()
    t = ts.from_datetimes(when)
    lat = np.broadcast_to(np.asarray(lat_deg, dtype=float), (len(when),))
    lon = np.broadcast_to(np.asarray(lon_deg, dtype=float), (len(when),))
    out = np.empty(len(when))
    for k in range(len(when)):  # few opportunities per request: a plain loop is fine
        observer = eph["earth"] + wgs84.latlon(float(lat[k]), float(lon[k]))
        alt, _, _ = observer.at(t[k]).observe(eph["sun"]).apparent().altaz()
        out[k] = alt.degrees
    return out
