"""Radiometric scaling of Landsat Level-1 bands: top-of-atmosphere (TOA) reflectance for the
reflective bands, radiance + brightness-temperature constants for the thermal bands.

What the item records (``raster:bands`` ``scale``/``offset``/``unit``; pixels never change):

* **Reflective bands**, value = DN × scale + offset = TOA reflectance ρ (unitless, 0…~1),
  already corrected for the Sun's elevation θ_SE at the scene centre (``SUN_ELEVATION``):

  - when the MTL gives ``REFLECTANCE_MULT_BAND_n`` (M_ρ) and ``REFLECTANCE_ADD_BAND_n`` (A_ρ)
    (Landsat 8/9, and Collection 1/2 products of Landsat 4–7):
    ρ = (M_ρ·Q + A_ρ) / sin θ_SE, so scale = M_ρ / sin θ_SE, offset = A_ρ / sin θ_SE;
  - otherwise (older Landsat 4/5 TM and 7 ETM+ MTLs give radiance rescaling only), the USGS
    formula from radiance L = M_L·Q + A_L:  ρ = π·L·d² / (ESUN·sin θ_SE), with d the
    Earth–Sun distance in astronomical units at the scene centre time (JPL DE421, bundled
    with skyfield-data) and ESUN the band's mean exoatmospheric solar irradiance
    (:data:`ESUN`, W/(m² µm)); scale = π·d²·M_L / (ESUN·sin θ_SE), offset likewise with A_L.

* **Thermal bands**: value = DN × scale + offset = spectral radiance L in W/(m² sr µm), and
  the brightness temperature T = K2 / ln(K1 / L + 1) in kelvin, with K1/K2 from the MTL's
  ``K1_CONSTANT_BAND_n``/``K2_CONSTANT_BAND_n`` or, for older MTLs, the published constants
  (:data:`THERMAL_K`), recorded in the band as ``sathub:brightness_temperature``.

Bands of an instrument with no ESUN value here (MSS) keep radiance, with its unit, so that
nothing downstream mistakes them for reflectance.
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime
from functools import lru_cache
from typing import Any

REFLECTANCE_UNIT = "1"  # UDUNITS: dimensionless (TOA reflectance, 0…1)
RADIANCE_UNIT = "W/(m^2 sr um)"

ESUN: dict[str, dict[str, float]] = {
    # USGS exoatmospheric solar irradiance per band (W/(m² µm)), Thuillier (2003) spectrum,
    # the values USGS publishes for Landsat 4–7 (the MTL REFLECTANCE_* factors use them)
    "LANDSAT_4": {"B1": 1958, "B2": 1826, "B3": 1554, "B4": 1033, "B5": 214.7, "B7": 80.70},
    "LANDSAT_5": {"B1": 1958, "B2": 1827, "B3": 1551, "B4": 1036, "B5": 214.9, "B7": 80.65},
    "LANDSAT_7": {"B1": 1970, "B2": 1842, "B3": 1547, "B4": 1044, "B5": 225.7, "B7": 82.06,
                  "B8": 1369},
}  # fmt: skip

THERMAL_K: dict[str, tuple[float, float]] = {
    # (K1 in W/(m² sr µm), K2 in K), Chander, Markham & Helder (2009), table 5
    "LANDSAT_4": (671.62, 1284.30),
    "LANDSAT_5": (607.76, 1260.56),
    "LANDSAT_7": (666.09, 1282.71),
}


@lru_cache(maxsize=1)
def _ephemeris() -> tuple[Any, Any]:
    from skyfield.api import Loader, load
    from skyfield_data import get_skyfield_data_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skyfield-data's expiry notes concern IERS tables
        eph = Loader(get_skyfield_data_path(), expire=False)("de421.bsp")
        return eph, load.timescale(builtin=True)


def earth_sun_distance_au(when: datetime) -> float:
    """Geometric distance Earth centre – Sun centre (AU) at ``when`` (JPL DE421, 1900–2050)."""
    eph, ts = _ephemeris()
    return float((eph["sun"] - eph["earth"]).at(ts.from_datetime(when)).distance().au)


def _float(mtl: dict[str, str], key: str) -> float | None:
    try:
        return float(mtl[key])
    except (KeyError, ValueError):
        return None


def band_scaling(
    mtl: dict[str, str], num: str, name: str, spacecraft: str, when: datetime, thermal: bool
) -> dict[str, Any]:
    """``scale``/``offset``/``unit`` (and thermal constants) for band ``num`` (MTL numbering,
    e.g. ``"3"`` or ``"6_VCID_1"``) named ``name`` (``B3``); empty when the MTL has no
    rescaling for it. See the module docstring for the formulas."""
    sun_elev = _float(mtl, "SUN_ELEVATION")
    out: dict[str, Any] = {}
    if not thermal:
        m_r = _float(mtl, f"REFLECTANCE_MULT_BAND_{num}")
        a_r = _float(mtl, f"REFLECTANCE_ADD_BAND_{num}")
        esun = ESUN.get(spacecraft, {}).get(name)
        if sun_elev is not None and sun_elev > 0:
            sin_e = math.sin(math.radians(sun_elev))
            if m_r is not None and a_r is not None:
                return {"scale": m_r / sin_e, "offset": a_r / sin_e, "unit": REFLECTANCE_UNIT,
                        "source": "MTL REFLECTANCE_MULT/ADD, sun elevation"}  # fmt: skip
            m_l = _float(mtl, f"RADIANCE_MULT_BAND_{num}")
            a_l = _float(mtl, f"RADIANCE_ADD_BAND_{num}")
            if m_l is not None and a_l is not None and esun:
                d = earth_sun_distance_au(when)
                k = math.pi * d * d / (esun * sin_e)
                return {"scale": k * m_l, "offset": k * a_l, "unit": REFLECTANCE_UNIT,
                        "source": f"MTL RADIANCE_MULT/ADD, ESUN {esun:g}, d {d:.8f} AU, "
                                  "sun elevation"}  # fmt: skip
    m_l = _float(mtl, f"RADIANCE_MULT_BAND_{num}")
    a_l = _float(mtl, f"RADIANCE_ADD_BAND_{num}")
    if m_l is None or a_l is None:
        return out
    out = {"scale": m_l, "offset": a_l, "unit": RADIANCE_UNIT, "source": "MTL RADIANCE_MULT/ADD"}
    if thermal:
        k1 = _float(mtl, f"K1_CONSTANT_BAND_{num}")
        k2 = _float(mtl, f"K2_CONSTANT_BAND_{num}")
        src = "MTL"
        if k1 is None or k2 is None:
            k1, k2 = THERMAL_K.get(spacecraft, (None, None))  # type: ignore[assignment]
            src = "Chander et al. (2009)"
        if k1 is not None and k2 is not None:
            out["brightness_temperature"] = {
                "k1": k1, "k2": k2, "unit": "K", "source": src,
                "formula": "T = k2 / ln(k1 / L + 1), L = DN * scale + offset"}  # fmt: skip
    return out
