"""Sensors: what an instrument can image (swath, pointing, GSD, bands)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SensorKind = Literal["optical", "sar"]
LookSide = Literal["left", "right", "both"]


class Sensor(BaseModel):
    """An imaging instrument. ``swath_km`` is the ground width at nadir."""

    name: str
    kind: SensorKind = "optical"
    swath_km: float = Field(gt=0, le=3000)
    max_off_nadir_deg: float = Field(default=0.0, ge=0, le=60)
    gsd_m: float | None = Field(default=None, gt=0)
    bands: list[str] = Field(default_factory=list)
    look_side: LookSide = "both"
    min_sun_elevation_deg: float | None = Field(
        default=None, description="Optical default 10 deg when None; SAR ignores the Sun.")

    @property
    def sun_limit_deg(self) -> float | None:
        if self.kind == "sar":
            return None
        return 10.0 if self.min_sun_elevation_deg is None else self.min_sun_elevation_deg


# Public figures, rounded; a starting point for the registry, not authoritative.
KNOWN_SENSORS: dict[int, list[Sensor]] = {
    39084: [Sensor(name="OLI", swath_km=185, gsd_m=30, bands=["B1-B9"])],
    49260: [Sensor(name="OLI-2", swath_km=185, gsd_m=30, bands=["B1-B9"])],
    40697: [Sensor(name="MSI", swath_km=290, gsd_m=10, bands=["B01-B12"])],
    42063: [Sensor(name="MSI", swath_km=290, gsd_m=10, bands=["B01-B12"])],
    60989: [Sensor(name="MSI", swath_km=290, gsd_m=10, bands=["B01-B12"])],
    59371: [Sensor(name="Geoton-L1", swath_km=38, max_off_nadir_deg=45, gsd_m=0.7,
                   bands=["PAN", "MS"])],
    62430: [Sensor(name="Geoton-L1", swath_km=38, max_off_nadir_deg=45, gsd_m=0.7,
                   bands=["PAN", "MS"])],
    **{nid: [Sensor(name="PSS/MSS", swath_km=23, max_off_nadir_deg=40, gsd_m=2.1,
                    bands=["PAN", "MS"])] for nid in (42825, 43180, 43181, 43876, 43877)},
}
