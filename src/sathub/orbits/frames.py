"""Reference frames: TEME → ITRS (GMST rotation), WGS84 geodetic, topocentric look angles.

All functions are NumPy-vectorised; positions are ``(..., 3)`` arrays in km, velocities in
km/s. TEME → ITRS rotates by GMST (IAU 1982) about z, the transform SGP4's TEME frame is
defined with; polar motion (< 15 m at the surface) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sathub.errors import InvalidInput

FloatArray = NDArray[np.float64]

WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
WGS84_B_KM = WGS84_A_KM * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
EARTH_ROTATION_RAD_S = 7.292115146706979e-5


def teme_to_itrs(r_teme_km: FloatArray, v_teme_km_s: FloatArray | None,
                 gmst_rad: FloatArray) -> tuple[FloatArray, FloatArray | None]:
    """Rotate TEME vectors into ITRS. ``gmst_rad`` broadcasts against ``r[..., 0]``."""
    c, s = np.cos(gmst_rad), np.sin(gmst_rad)
    x, y, z = r_teme_km[..., 0], r_teme_km[..., 1], r_teme_km[..., 2]
    xr = c * x + s * y
    yr = c * y - s * x
    r = np.stack(np.broadcast_arrays(xr, yr, z), axis=-1)
    if v_teme_km_s is None:
        return r, None
    vx, vy, vz = v_teme_km_s[..., 0], v_teme_km_s[..., 1], v_teme_km_s[..., 2]
    # v_ITRS = R v_TEME − ω × r_ITRS
    vxr = c * vx + s * vy + EARTH_ROTATION_RAD_S * yr
    vyr = c * vy - s * vx - EARTH_ROTATION_RAD_S * xr
    v = np.stack(np.broadcast_arrays(vxr, vyr, vz), axis=-1)
    return r, v


def itrs_from_geodetic(lat_deg: FloatArray | float, lon_deg: FloatArray | float,
                       alt_km: FloatArray | float = 0.0) -> FloatArray:
    """WGS84 geodetic → ITRS (ECEF) km."""
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    sl = np.sin(lat)
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sl * sl)
    cl = np.cos(lat)
    x = (n + alt_km) * cl * np.cos(lon)
    y = (n + alt_km) * cl * np.sin(lon)
    z = (n * (1.0 - WGS84_E2) + alt_km) * sl
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def geodetic_from_itrs(r_km: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ITRS (ECEF) km → WGS84 (lat_deg, lon_deg, alt_km); Bowring, 3 iterations (< 1 mm)."""
    x, y, z = r_km[..., 0], r_km[..., 1], r_km[..., 2]
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    lat = np.arctan2(z, p * (1.0 - WGS84_E2))
    for _ in range(3):
        sl = np.sin(lat)
        n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sl * sl)
        lat = np.arctan2(z + WGS84_E2 * n * sl, p)
    sl, cl = np.sin(lat), np.cos(lat)
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sl * sl)
    with np.errstate(invalid="ignore", divide="ignore"):
        alt = np.where(np.abs(cl) > 1e-9, p / np.where(cl == 0, 1, cl) - n,
                       np.abs(z) / np.where(sl == 0, 1, np.abs(sl)) - n * (1.0 - WGS84_E2))
    return np.degrees(lat), np.degrees(lon), alt


@dataclass(frozen=True)
class Station:
    """A ground station: WGS84 geodetic position."""

    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat_deg <= 90.0:
            raise InvalidInput(f"station latitude {self.lat_deg} outside [-90, 90]", field="station")
        if not -180.0 <= self.lon_deg <= 360.0:
            raise InvalidInput(f"station longitude {self.lon_deg} outside [-180, 360]",
                               field="station")
        if not -1000.0 <= self.alt_m <= 10_000.0:
            raise InvalidInput(f"station altitude {self.alt_m} m outside [-1000, 10000]",
                               field="station")

    @classmethod
    def parse(cls, text: str, name: str = "") -> Station:
        """Parse ``LAT,LON[,ALT_M]`` (degrees, metres)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (2, 3):
            raise InvalidInput(f"station must be LAT,LON[,ALT_M], got {text!r}", field="station")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InvalidInput(f"station must be numbers LAT,LON[,ALT_M], got {text!r}",
                               field="station") from None
        return cls(values[0], values[1], values[2] if len(values) == 3 else 0.0, name or text)

    @property
    def itrs_km(self) -> FloatArray:
        return itrs_from_geodetic(self.lat_deg, self.lon_deg, self.alt_m / 1000.0)

    def enu(self) -> FloatArray:
        """Rows: east, north, up unit vectors in ITRS (geodetic normal for 'up')."""
        lat, lon = np.radians(self.lat_deg), np.radians(self.lon_deg)
        sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
        return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


def look_angles(r_itrs_km: FloatArray, station: Station
                ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(azimuth_deg from north through east, elevation_deg, range_km) of ITRS positions."""
    rho = r_itrs_km - station.itrs_km
    enu = rho @ station.enu().T
    range_km = np.linalg.norm(enu, axis=-1)
    el = np.degrees(np.arcsin(np.clip(enu[..., 2] / range_km, -1.0, 1.0)))
    az = np.degrees(np.arctan2(enu[..., 0], enu[..., 1])) % 360.0
    return az, el, range_km
