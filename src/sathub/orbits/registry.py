"""Satellite registry: identity, owner, launch, status, orbit class, sensors, element history.

Kept by an :class:`~sathub.orbits.store.OrbitStore` (embedded: ``<data>/orbits/registry.json``). Import from
CelesTrak SATCAT CSV (identity, launch, status, orbit class) and from element files
(TLE/3LE/OMM; every distinct epoch is kept, :meth:`Registry.elements_at` picks the nearest).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from sathub.errors import InvalidInput, NotFound
from sathub.orbits.elements import ElementHistory, ElementSet, parse_elements
from sathub.orbits.sensors import KNOWN_SENSORS, Sensor
from sathub.orbits.store import FileOrbitStore, OrbitStore

OwnerType = Literal["government", "private", "international", "unknown"]
Status = Literal["planned", "operational", "partially operational", "backup", "spare",
                 "extended mission", "nonoperational", "decayed", "unknown"]
OrbitClass = Literal["LEO", "MEO", "GEO", "HEO", "unknown"]

_SATCAT_STATUS: dict[str, Status] = {
    "+": "operational", "-": "nonoperational", "P": "partially operational", "B": "backup",
    "S": "spare", "X": "extended mission", "D": "decayed", "?": "unknown", "": "unknown",
}


class Launch(BaseModel):
    date: dt.date | None = None
    site: str | None = None
    vehicle: str | None = None


class Satellite(BaseModel):
    """One satellite (or planned satellite) the agency flies or buys imagery from."""

    norad_id: int = Field(ge=0, le=999_999_999)
    cospar_id: str | None = None
    name: str
    operator: str | None = None
    owner_type: OwnerType = "unknown"
    country: str | None = None
    launch: Launch = Field(default_factory=Launch)
    status: Status = "unknown"
    orbit_class: OrbitClass = "unknown"
    sensors: list[Sensor] = Field(default_factory=list)


class ElementRecord(BaseModel):
    """A stored element set: TLE lines or OMM fields."""

    epoch: datetime
    line1: str | None = None
    line2: str | None = None
    omm: dict[str, str] | None = None


def orbit_class(period_min: float | None, apogee_km: float | None,
                perigee_km: float | None) -> OrbitClass:
    if period_min is None:
        return "unknown"
    if apogee_km is not None and perigee_km is not None and apogee_km - perigee_km > 10_000:
        return "HEO"
    if 1400 <= period_min <= 1480:
        return "GEO"
    if period_min < 128:
        return "LEO"
    return "MEO"


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _with_known_sensors(sat: Satellite) -> Satellite:
    if not sat.sensors and sat.norad_id in KNOWN_SENSORS:
        return sat.model_copy(update={"sensors": KNOWN_SENSORS[sat.norad_id]})
    return sat


class Registry:
    """The satellite registry of one installation, kept by an :class:`OrbitStore` (a data
    directory: its JSON files). Every change is written when the method returns."""

    def __init__(self, store: OrbitStore | Path) -> None:
        self.store: OrbitStore = FileOrbitStore(store) if isinstance(store, Path) else store

    def _sats(self) -> dict[int, Satellite]:
        return {k: Satellite.model_validate(v) for k, v in self.store.satellites().items()}

    # -- satellites
    def upsert(self, sat: Satellite) -> Satellite:
        sat = _with_known_sensors(sat)
        self.store.put_satellites([sat.model_dump(mode="json")])
        return sat

    def get(self, norad_id: int) -> Satellite:
        try:
            return self._sats()[norad_id]
        except KeyError:
            raise NotFound(f"unknown satellite NORAD {norad_id}", field="norad_id") from None

    def satellites(self) -> list[Satellite]:
        sats = self._sats()
        return [sats[k] for k in sorted(sats)]

    def import_satcat_csv(self, text: str) -> int:
        """Upsert satellites from a CelesTrak SATCAT CSV; returns how many rows."""
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "NORAD_CAT_ID" not in reader.fieldnames:
            raise InvalidInput("not a SATCAT CSV: no NORAD_CAT_ID column", field="file")
        known, rows = self._sats(), []
        for lineno, row in enumerate(reader, 2):
            try:
                norad_id = int(row["NORAD_CAT_ID"])
            except (TypeError, ValueError):
                raise InvalidInput(f"SATCAT line {lineno}: bad NORAD_CAT_ID",
                                   field="NORAD_CAT_ID") from None
            launch_date = row.get("LAUNCH_DATE") or None
            status = _SATCAT_STATUS.get((row.get("OPS_STATUS_CODE") or "").strip(), "unknown")
            if row.get("DECAY_DATE"):
                status = "decayed"
            old = known.get(norad_id)
            rows.append(_with_known_sensors(Satellite(
                norad_id=norad_id, cospar_id=row.get("OBJECT_ID") or None,
                name=row.get("OBJECT_NAME") or str(norad_id),
                operator=old.operator if old else None,
                owner_type=old.owner_type if old else "unknown",
                country=row.get("OWNER") or None,
                launch=Launch(date=dt.date.fromisoformat(launch_date) if launch_date else None,
                              site=row.get("LAUNCH_SITE") or None,
                              vehicle=old.launch.vehicle if old else None),
                status=status,
                orbit_class=orbit_class(_float(row.get("PERIOD")), _float(row.get("APOGEE")),
                                        _float(row.get("PERIGEE"))),
                sensors=old.sensors if old else [])))
        self.store.put_satellites([s.model_dump(mode="json") for s in rows])
        return len(rows)

    # -- elements
    def add_elements(self, sets: Iterable[ElementSet], *, register_unknown: bool = True) -> int:
        """Keep every new epoch; satellites not yet registered are added (name, ids)."""
        sets = list(sets)
        known = self.store.satellites()
        unknown: dict[int, ElementSet] = {}
        for es in sets:
            if es.norad_id not in known:
                unknown.setdefault(es.norad_id, es)
        if unknown and not register_unknown:
            raise NotFound(f"unknown satellite NORAD {min(unknown)}", field="norad_id")
        if unknown:
                self.store.put_satellites([_with_known_sensors(Satellite(
                norad_id=es.norad_id, name=es.name, cospar_id=es.cospar_id)).model_dump(mode="json")
                for es in unknown.values()], only_new=True)  # fmt: skip
        return self.store.add_elements([
            (es.norad_id, ElementRecord(epoch=es.epoch, line1=es.line1, line2=es.line2,
                                        omm=None if es.line1 else es.fields)
             .model_dump(mode="json", exclude_none=True)) for es in sets])  # fmt: skip

    def history(self) -> ElementHistory:
        hist = ElementHistory()
        sats = self.store.satellites()
        for norad_id, docs in self.store.elements().items():
            name = sats[norad_id]["name"] if norad_id in sats else str(norad_id)
            for r in (ElementRecord.model_validate(d) for d in docs):
                if r.line1 and r.line2:
                    sets = parse_elements(f"{name}\n{r.line1}\n{r.line2}\n", "tle")
                else:
                    sets = parse_elements(json.dumps(r.omm), "omm-json")
                hist.extend(sets)
        return hist

    def elements_at(self, norad_ids: Iterable[int], when: datetime) -> list[ElementSet]:
        """For each satellite, the element set nearest ``when`` (warns when > 14 days)."""
        hist = self.history()
        out = []
        for nid in norad_ids:
            self.get(nid)
            out.append(hist.nearest(nid, when))
        return out
