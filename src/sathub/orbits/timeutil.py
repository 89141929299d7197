"""Time handling for orbits: UTC datetimes, Julian dates split for SGP4, UT1 and GMST.

Times inside the orbit code are float seconds from a UTC start instant (``t0``). SGP4 takes
UTC Julian dates as a (whole, fraction) pair; Earth rotation takes UT1, which we get from
skyfield's *built-in* timescale (files bundled with skyfield, nothing is downloaded).
Leap seconds inside a window are ignored (a 1 s step at most, documented in docs/orbits.md).
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sathub.timeutil import format_datetime, parse_datetime

FloatArray = NDArray[np.float64]
SECONDS_PER_DAY = 86_400.0
_JD_UNIX_EPOCH = 2_440_587.5


def parse_utc(text: str | datetime, *, field: str = "time") -> datetime:
    """An ISO 8601 instant as an aware UTC datetime (:func:`sathub.timeutil.parse_datetime`:
    naive values are UTC, a date alone is its first instant)."""
    return parse_datetime(text, field=field)


def iso(value: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and millisecond precision."""
    return format_datetime(value, timespec="milliseconds")


def jd_split(t0: datetime, offsets_s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """UTC Julian date of ``t0 + offsets_s`` as (whole, fraction) arrays, precise to ~1 µs."""
    unix_s = t0.timestamp()
    day0 = np.floor(unix_s / SECONDS_PER_DAY)
    jd_whole = _JD_UNIX_EPOCH + day0
    fraction = (unix_s - day0 * SECONDS_PER_DAY + np.asarray(offsets_s, dtype=float)) / SECONDS_PER_DAY
    whole = np.full(fraction.shape, jd_whole)
    return whole, fraction


def to_datetime(t0: datetime, offset_s: float) -> datetime:
    return t0 + timedelta(seconds=float(offset_s))


@lru_cache(maxsize=1)
def timescale() -> Any:
    """skyfield's built-in timescale (bundled UT1/leap-second tables; never downloads)."""
    from skyfield.api import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load.timescale(builtin=True)


def dut1_s(t0: datetime, offsets_s: FloatArray) -> FloatArray:
    """UT1 − UTC in seconds at each instant (interpolated from the bundled IERS table)."""
    offsets = np.asarray(offsets_s, dtype=float)
    if offsets.size == 0:
        return offsets.copy()
    # DUT1 changes by < 2 ms a day: sample the span coarsely and interpolate.
    lo, hi = float(offsets.min()), float(offsets.max())
    knots = np.linspace(lo, hi, max(2, int((hi - lo) / 3600.0) + 2))
    ts = timescale()
    t = ts.utc(t0.year, t0.month, t0.day, t0.hour, t0.minute,
               t0.second + t0.microsecond * 1e-6 + knots)
    return np.interp(offsets, knots, np.asarray(t.dut1, dtype=float))


def gmst_rad(jd_whole: FloatArray, fraction_ut1: FloatArray) -> FloatArray:
    """Greenwich mean sidereal time (IAU 1982, the angle SGP4's TEME frame is defined by)."""
    from skyfield.sgp4lib import theta_GMST1982

    theta, _ = theta_GMST1982(jd_whole, fraction_ut1)
    return np.asarray(theta, dtype=float)
