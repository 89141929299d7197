"""Mission design: elements for a planned satellite from orbital parameters, and its revisit.

``sun_synchronous(altitude_km=600, ltdn_hours=10.5, epoch=...)`` gives SGP4-ready elements of
a circular sun-synchronous orbit (inclination from the J2 nodal-precession condition, RAAN
from the local time of the descending node against the mean Sun). Mean elements made this way
are a design tool, not a prediction of a real object; expect kilometre-level differences
from a precise orbit.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sgp4.api import WGS72, Satrec

from sathub.errors import InvalidInput
from sathub.orbits.coverage import find_opportunities
from sathub.orbits.elements import ElementSet
from sathub.orbits.sensors import Sensor

MU_KM3_S2 = 398_600.8
RE_KM = 6378.135
J2 = 0.001082616
SUN_RATE_RAD_S = 2 * math.pi / (365.2421897 * 86400.0)
_EPOCH0 = datetime(1949, 12, 31, tzinfo=UTC)
_J2000 = datetime(2000, 1, 1, 12, tzinfo=UTC)


def sun_synchronous_inclination_deg(altitude_km: float, eccentricity: float = 0.0) -> float:
    """Inclination whose J2 nodal precession follows the mean Sun."""
    a = RE_KM + altitude_km
    n = math.sqrt(MU_KM3_S2 / a**3)
    cos_i = -SUN_RATE_RAD_S / (1.5 * n * J2 * (RE_KM / a) ** 2 / (1 - eccentricity**2) ** 2)
    if not -1 <= cos_i <= 1:
        raise InvalidInput(f"no sun-synchronous orbit at {altitude_km} km", field="altitude_km")
    return math.degrees(math.acos(cos_i))


def mean_sun_ra_deg(when: datetime) -> float:
    """Right ascension of the mean Sun (mean longitude, degrees; ~1 minute of time)."""
    d = (when - _J2000).total_seconds() / 86400.0
    return (280.460 + 0.9856474 * d) % 360.0


def sun_synchronous(altitude_km: float, ltdn_hours: float, epoch: datetime, *,
                    norad_id: int = 0, name: str = "PLANNED") -> ElementSet:
    """Circular sun-synchronous elements, descending node at local time ``ltdn_hours``."""
    if not 200 <= altitude_km <= 6000:
        raise InvalidInput("altitude_km must be in [200, 6000]", field="altitude_km")
    if not 0 <= ltdn_hours < 24:
        raise InvalidInput("ltdn_hours must be in [0, 24)", field="ltdn_hours")
    inc = sun_synchronous_inclination_deg(altitude_km)
    ltan = (ltdn_hours + 12.0) % 24.0
    raan = (mean_sun_ra_deg(epoch) + (ltan - 12.0) * 15.0) % 360.0
    return circular_elements(altitude_km, inc, raan, epoch, norad_id=norad_id, name=name)


def circular_elements(altitude_km: float, inclination_deg: float, raan_deg: float,
                      epoch: datetime, *, norad_id: int = 0, name: str = "PLANNED",
                      arg_latitude_deg: float = 0.0) -> ElementSet:
    a = RE_KM + altitude_km
    n_rad_min = math.sqrt(MU_KM3_S2 / a**3) * 60.0
    sat = Satrec()
    rad = math.pi / 180
    sat.sgp4init(WGS72, "i", norad_id if 0 < norad_id <= 339_999 else 0,
                 (epoch - _EPOCH0).total_seconds() / 86400.0, 0.0, 0.0, 0.0, 1e-4, 0.0,
                 inclination_deg * rad, arg_latitude_deg * rad, n_rad_min, raan_deg * rad)
    sat.classification = "U"
    sat.intldesg = f"{epoch.year % 100:02d}999A"  # placeholder COSPAR piece for exporters
    return ElementSet(norad_id=norad_id, name=name, epoch=epoch, satrec=sat, source="omm-json",
                      fields={"MEAN_MOTION": f"{n_rad_min * 1440 / (2 * math.pi):.8f}",
                              "INCLINATION": f"{inclination_deg:.4f}",
                              "RA_OF_ASC_NODE": f"{raan_deg:.4f}"})


def revisit(es: ElementSet, sensor: Sensor, aoi: dict[str, Any], start: datetime,
            days: float, *, enforce_sun: bool = True) -> dict[str, Any]:
    """Access times over an AOI (e.g. a country) and revisit statistics in hours.

    ``any_coverage`` counts every pass that images some part of the AOI; gaps are between
    successive accesses (the first and last window edges count as accesses' bounds).
    """
    opps = find_opportunities([es], {es.norad_id: [sensor]}, aoi, start,
                              start + timedelta(days=days), enforce_sun=enforce_sun)
    times = np.array([(o.center_time - start).total_seconds() for o in opps]) / 3600.0
    gaps = np.diff(times) if len(times) > 1 else np.array([])
    return {
        "accesses": len(opps),
        "mean_revisit_h": float(gaps.mean()) if len(gaps) else None,
        "max_revisit_h": float(gaps.max()) if len(gaps) else None,
        "mean_coverage_fraction": float(np.mean([o.coverage_fraction for o in opps]))
        if opps else 0.0,
        "opportunities": [o.to_dict() for o in opps],
    }
