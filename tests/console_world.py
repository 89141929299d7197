"""The world the console's browser tests walk, built in code on a copy of the small demo archive
(tests/test_analytics_support.py: the synthetic Mandalay rice and Ayeyarwady flood collections
and the demo budget): two partner organisations with agreements, usage and keys; a key of every
role; 1,000 more agreements; satellites with fresh element sets (two of them close enough to
need one antenna at the same time) and stale real ones; two ground stations; an activation; an
order; a verify run."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sathub.access import keys as keymod
from sathub.access.dates import month_of
from sathub.app import Installation
from sathub.config import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_TLE = REPO.parent / "shared" / "data" / "orbits" / "eo_satellites_2025-10-04.txt"
RICE, FLOOD = "demo-mandalay-rice", "demo-ayeyarwady-flood"
STATIONS = "YGN:Yangon:16.87,96.20;MDY:Mandalay:21.97,96.08"
ROLES = ("admin", "operator", "analyst", "partner", "partner_b", "finance_officer",
         "budget_approver", "budget_viewer")  # fmt: skip
BULK = 1000
DAY = 86400.0


@dataclass
class ConsoleWorld:
    data: Path
    inst: Installation
    keys: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, int] = field(default_factory=dict)
    agreements: dict[str, int] = field(default_factory=dict)
    fields_file: Path | None = None  # a GeoJSON of rice fields for zonal statistics


def _box(w: float, s: float, e: float, n: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _satellites(inst: Installation) -> None:
    from sgp4.exporter import export_tle

    from sathub.orbits.design import sun_synchronous
    from sathub.orbits.elements import parse_elements
    from sathub.orbits.registry import Registry, Satellite
    from sathub.orbits.sensors import Sensor

    reg = Registry(inst.orbits)
    epoch = datetime.now(UTC).replace(second=0, microsecond=0)
    camera = Sensor(name="MMCAM", swath_km=60, max_off_nadir_deg=30, gsd_m=5)
    text = ""
    for norad, name, ltdn in ((89001, "MMSAT-1", 10.5), (89002, "MMSAT-2", 10.55)):
        es = sun_synchronous(600, ltdn, epoch, norad_id=norad, name=name)
        l1, l2 = export_tle(es.satrec)
        text += f"{name}\n{l1}\n{l2}\n"
        reg.upsert(Satellite(norad_id=norad, name=name, operator="National space agency",
                             owner_type="government", country="MM", status="operational",
                             orbit_class="LEO", sensors=[camera]))  # fmt: skip
    reg.add_elements(parse_elements(text))
    if SHARED_TLE.exists():  # real satellites, with element sets a year old or more: stale
        lines = SHARED_TLE.read_text().splitlines()[:9]
        reg.add_elements(parse_elements("\n".join(lines) + "\n"))


def build(tmp: Path, demo: Settings) -> ConsoleWorld:
    data = tmp / "data"
    shutil.copytree(demo.data, data, ignore=shutil.ignore_patterns("sessions.db*", "jobs"))
    inst = Installation.open(Settings(data=data, ground_stations=STATIONS))
    w = ConsoleWorld(data, inst)
    store = inst.access.store
    audit = inst.access.audit
    now = time.time()
    w.orgs["ytu"] = store.add_org("Yangon Technological University", "university").id
    w.orgs["redcross"] = store.add_org("Myanmar Red Cross Society", "international").id
    store.set_collection_level(FLOOD, "restricted")
    a = store.add_agreement(w.orgs["ytu"], title="Rice monitoring 2024", reference="YTU-2024-07",
                            collections=(RICE,), quota_bytes=5_000_000_000,
                            purposes=("research", "agriculture"), valid_to=now + 200 * DAY)  # fmt: skip
    w.agreements["ytu"] = a.id
    b = store.add_agreement(w.orgs["redcross"], title="Flood response", collections=(FLOOD,),
                            aoi=_box(95.5, 15.5, 96.5, 16.5), quota_bytes=2_000_000_000)  # fmt: skip
    w.agreements["redcross"] = b.id
    first = datetime.fromtimestamp(now, UTC).replace(day=1, hour=6).timestamp()
    for day in range(0, int((now - first) // DAY) + 1):  # downloads on each day of this month
        audit.append(f"key:partner ({'Yangon Technological University'})", "download",
                     f"{RICE}/scene-{day}/B04", nbytes=40_000_000 + 7_000_000 * (day % 5),
                     agreement_id=a.id, quota=a, ts=first + day * DAY)  # fmt: skip
    assert month_of(now) == month_of(first)
    for role in ROLES:
        org = {"partner": w.orgs["ytu"], "partner_b": w.orgs["redcross"]}.get(role)
        w.keys[role] = keymod.issue(store, "partner" if role.startswith("partner") else role, org,
                                    label=f"console test {role}")[0]  # fmt: skip
    for n in range(10):
        org = store.add_org(f"Bulk partner {n:02d}", "company").id
        for k in range(BULK // 10):
            store.add_agreement(org, title=f"Bulk agreement {n:02d}-{k:03d}", collections=(RICE,),
                                status="active" if k % 3 else "draft",
                                quota_bytes=(k + 1) * 1_000_000)  # fmt: skip
    from sathub.access.activations import open_activation

    open_activation(store, name="Charter 912: Ayeyarwady floods", aoi=_box(95.4, 15.6, 96.0, 16.2),
                    days=14, orgs=["Myanmar Red Cross Society"], opened_by="setup")  # fmt: skip
    _satellites(inst)
    from sathub.orbits.orders import OrderBook, OrderRequest

    book = OrderBook(inst.orbits)
    book.create(OrderRequest(aoi=_box(96.0, 21.5, 96.3, 21.8), start=datetime.now(UTC),
                             end=datetime.fromtimestamp(now + 3 * DAY, UTC), priority="urgent"),
                org_id=w.orgs["ytu"], created_by="setup")  # fmt: skip
    import json

    fc = json.loads((data / "demo" / "fields.geojson").read_text())
    rice = [f for f in fc["features"] if f["properties"]["crop"] == "rice"][:2]
    for f in rice:
        f["properties"]["id"] = f"field-{f['properties']['field_id']}"
    w.fields_file = tmp / "rice-fields.geojson"
    w.fields_file.write_text(json.dumps({"type": "FeatureCollection", "features": rice}))
    return w
