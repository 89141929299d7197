"""SGP4 propagation of many satellites at many times in one call (``sgp4.api.SatrecArray``).

``propagate`` returns an :class:`Ephemeris` of TEME states shaped ``(n_sat, n_time, 3)``;
``.itrs()`` and ``.geodetic()`` transform them. SGP4 error codes (decayed orbits, eccentricity
out of range, …) are kept per satellite and reported by ``.failures()``: failed states are NaN,
never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sgp4.api import SGP4_ERRORS, SatrecArray

from sathub.errors import InvalidInput
from sathub.orbits.elements import ElementSet, warn_if_stale
from sathub.orbits.frames import geodetic_from_itrs, teme_to_itrs
from sathub.orbits.timeutil import dut1_s, gmst_rad, jd_split, to_datetime

FloatArray = NDArray[np.float64]
MAX_STATES = 200_000_000
"""Largest n_sat × n_time one call may ask for (memory guard: ~5 GB of float64)."""


def satrec_array(sets: Sequence[ElementSet]) -> SatrecArray:
    return SatrecArray([es.satrec for es in sets])


def propagate_teme(sats: SatrecArray, jd_whole: FloatArray, jd_fraction: FloatArray
                   ) -> tuple[NDArray[np.uint8], FloatArray, FloatArray]:
    """Raw SGP4: error codes ``(n_sat, n_time)``, r (km) and v (km/s) ``(n_sat, n_time, 3)``."""
    e, r, v = sats.sgp4(np.ascontiguousarray(jd_whole, dtype=float),
                        np.ascontiguousarray(jd_fraction, dtype=float))
    return e, r, v


@dataclass
class Failure:
    """An SGP4 error for one satellite (first failing time)."""

    norad_id: int
    name: str
    code: int
    message: str
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        from sathub.orbits.timeutil import iso

        return {"norad_id": self.norad_id, "name": self.name, "sgp4_error": self.code,
                "message": self.message, "time": iso(self.time)}


@dataclass
class Ephemeris:
    """States of ``sets[i]`` at ``t0 + offsets_s[j]`` in TEME (km, km/s)."""

    sets: Sequence[ElementSet]
    t0: datetime
    offsets_s: FloatArray
    error: NDArray[np.uint8]
    r_teme_km: FloatArray
    v_teme_km_s: FloatArray

    def gmst_rad(self) -> FloatArray:
        whole, frac = jd_split(self.t0, self.offsets_s)
        return gmst_rad(whole, frac + dut1_s(self.t0, self.offsets_s) / 86_400.0)

    def itrs(self) -> tuple[FloatArray, FloatArray]:
        r, v = teme_to_itrs(self.r_teme_km, self.v_teme_km_s, self.gmst_rad()[None, :])
        assert v is not None
        return r, v

    def geodetic(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(lat_deg, lon_deg, alt_km), each ``(n_sat, n_time)``."""
        r, _ = self.itrs()
        return geodetic_from_itrs(r)

    def failures(self) -> list[Failure]:
        out: list[Failure] = []
        for i in np.flatnonzero(self.error.any(axis=1)):
            j = int(np.argmax(self.error[i] != 0))
            code = int(self.error[i, j])
            es = self.sets[int(i)]
            out.append(Failure(es.norad_id, es.name, code, SGP4_ERRORS.get(code, "unknown"),
                               to_datetime(self.t0, self.offsets_s[j])))
        return out


def propagate(sets: Sequence[ElementSet], t0: datetime, offsets_s: FloatArray, *,
              sats: SatrecArray | None = None, warn_stale: bool = True) -> Ephemeris:
    """Propagate every element set at every ``t0 + offsets_s`` (seconds)."""
    offsets = np.asarray(offsets_s, dtype=float)
    if len(sets) * offsets.size > MAX_STATES:
        raise InvalidInput(f"{len(sets)} satellites × {offsets.size} times is over the "
                           f"{MAX_STATES:,} state limit; split the request", field="times")
    if warn_stale and offsets.size:
        for es in sets:
            warn_if_stale(es, to_datetime(t0, float(offsets.mean())))
    whole, frac = jd_split(t0, offsets)
    e, r, v = propagate_teme(sats if sats is not None else satrec_array(sets), whole, frac)
    bad = e != 0
    if bad.any():
        r[bad] = np.nan
        v[bad] = np.nan
    return Ephemeris(sets, t0, offsets, e, r, v)
