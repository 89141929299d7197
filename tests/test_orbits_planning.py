"""Registry, orders and mission design."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from shapely import geometry as sg

from sathub.errors import Conflict, InvalidInput, NotFound
from sathub.orbits.design import revisit, sun_synchronous, sun_synchronous_inclination_deg
from sathub.orbits.elements import load_elements
from sathub.orbits.orders import OrderBook, OrderRequest
from sathub.orbits.propagate import propagate
from sathub.orbits.registry import Registry
from sathub.orbits.sensors import KNOWN_SENSORS, Sensor

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "orbits"
EPOCH = datetime(2025, 10, 4, tzinfo=UTC)
SATCAT = """OBJECT_NAME,OBJECT_ID,NORAD_CAT_ID,OBJECT_TYPE,OPS_STATUS_CODE,OWNER,LAUNCH_DATE,LAUNCH_SITE,DECAY_DATE,PERIOD,INCLINATION,APOGEE,PERIGEE,RCS,DATA_STATUS_CODE,ORBIT_CENTER,ORBIT_TYPE
SENTINEL-2A,2015-028A,40697,PAY,+,ESA,2015-06-23,FRGUI,,100.6,98.57,796,794,,,EA,ORB
AMC-14,2008-011A,32708,PAY,-,US,2008-03-14,TTMTR,,1436.1,3.1,35800,35770,,,EA,ORB
MOLNIYA 1-36,1977-021A,9880,PAY,-,CIS,1977-03-24,PKMTR,,717.9,64.6,39000,600,,,EA,ORB
OLD ONE,1960-001A,12,PAY,,US,1960-01-01,AFETR,1965-01-01,95.0,50.0,500,300,,,EA,ORB
"""


def test_registry_satcat_and_elements(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    assert reg.import_satcat_csv(SATCAT) == 4
    s2 = reg.get(40697)
    assert s2.orbit_class == "LEO" and s2.status == "operational" and s2.country == "ESA"
    assert s2.launch.date is not None and s2.launch.date.year == 2015
    assert s2.sensors and s2.sensors[0].swath_km == KNOWN_SENSORS[40697][0].swath_km
    assert reg.get(32708).orbit_class == "GEO"
    assert reg.get(9880).orbit_class == "HEO"
    assert reg.get(12).status == "decayed"
    with pytest.raises(NotFound):
        reg.get(1)
    with pytest.raises(InvalidInput):
        reg.import_satcat_csv("a,b\n1,2\n")
    if DATA.exists():
        sets = load_elements(DATA / "eo_satellites_2025-10-04.txt")
        assert reg.add_elements(sets) == 12
        assert reg.add_elements(sets) == 0  # same epochs: nothing new
        again = Registry(tmp_path)
        (es,) = again.elements_at([40697], EPOCH)
        assert es.norad_id == 40697 and again.get(59371).name == "RESURS-P 4"


@pytest.mark.filterwarnings("ignore:The file finals2000A.all has expired")
def test_sun_synchronous_design() -> None:
    assert abs(sun_synchronous_inclination_deg(600) - 97.79) < 0.03
    es = sun_synchronous(600, 10.5, EPOCH, name="NEXT-1")
    # Independent check 1: SGP4's own nodal drift matches the Sun (0.9856 deg/day).
    days = np.array([0.0, 30.0])
    eph = propagate([es], EPOCH, days * 86400.0, warn_stale=False)
    h = np.cross(eph.r_teme_km[0], eph.v_teme_km_s[0])
    raan = np.degrees(np.arctan2(h[:, 0], -h[:, 1]))
    drift = ((raan[1] - raan[0] + 180) % 360 - 180) / 30.0
    assert abs(drift - 0.9856) < 0.01
    # Independent check 2: local solar time at the descending node, with skyfield's Sun.
    from skyfield.api import Loader, wgs84
    from skyfield_data import get_skyfield_data_path

    from sathub.orbits.timeutil import timescale

    offsets = np.arange(0, 6000.0, 1.0)
    lat, lon, _ = propagate([es], EPOCH, offsets, warn_stale=False).geodetic()
    k = np.flatnonzero((lat[0][:-1] > 0) & (lat[0][1:] <= 0))[0]
    ts = timescale()
    t = ts.from_datetime(EPOCH + timedelta(seconds=float(offsets[k])))
    eph_sun = Loader(get_skyfield_data_path(), expire=False)("de421.bsp")
    sub = wgs84.subpoint_of(eph_sun["earth"].at(t).observe(eph_sun["sun"]))
    local_h = (12 + (lon[0][k] - sub.longitude.degrees) / 15.0) % 24
    assert abs(local_h - 10.5) < 0.3  # mean vs true Sun: equation of time ≤ 17 min


def test_revisit_over_a_country() -> None:
    es = sun_synchronous(600, 10.5, EPOCH)
    myanmar_box = dict(sg.mapping(sg.box(92.2, 10.0, 101.2, 28.5)))
    sensor = Sensor(name="CAM", swath_km=60, max_off_nadir_deg=30)
    out = revisit(es, sensor, myanmar_box, EPOCH, 5)
    assert out["accesses"] >= 4
    assert out["max_revisit_h"] is not None and out["max_revisit_h"] <= 72


def test_order_lifecycle(tmp_path: Path) -> None:
    if not DATA.exists():
        pytest.skip("shared data not present")
    book = OrderBook(tmp_path)
    aoi = dict(sg.mapping(sg.box(96.0, 19.7, 96.2, 19.9)))
    flood = book.create(OrderRequest(aoi=aoi, start=EPOCH, end=EPOCH + timedelta(days=3),
                                     priority="disaster"))
    routine = book.create(OrderRequest(aoi=aoi, start=EPOCH, end=EPOCH + timedelta(days=3),
                                       priority="low"))
    assert [o.id for o in book.list_orders()] == [flood.id, routine.id]
    sets = load_elements(DATA / "eo_satellites_2025-10-04.txt")
    planned = book.plan(flood.id, sets, KNOWN_SENSORS)
    assert planned.status == "planned" and planned.opportunities
    assert planned.opportunities[0]["coverage_fraction"] >= 0.2
    with pytest.raises(InvalidInput):
        book.transition(flood.id, "acquired")  # needs an item id
    book.transition(flood.id, "acquired", item_id="S2A_MSIL2A_20251005")
    book.transition(flood.id, "delivered")
    with pytest.raises(Conflict):
        book.transition(flood.id, "cancelled")
    book.transition(routine.id, "cancelled")
    again = OrderBook(tmp_path)
    assert again.get(flood.id).status == "delivered"
    assert [h.status for h in again.get(flood.id).history] == [
        "received", "planned", "acquired", "delivered"]
    with pytest.raises(InvalidInput):
        book.create(OrderRequest(aoi=aoi, start=EPOCH, end=EPOCH - timedelta(days=1)))
