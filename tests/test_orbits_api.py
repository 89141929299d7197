"""The /orbits router through the real application."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely import geometry as sg

from sathub.api.app import create_app
from sathub.config import Settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "orbits"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared data not present")


@pytest.fixture()
def client(tmp_path: Path) -> TestClient:
    settings = Settings(data=tmp_path)
    settings.layout.create()
    return TestClient(create_app(settings))


def test_passes_track_opportunities_orders(client: TestClient) -> None:
    text = (DATA / "eo_satellites_2025-10-04.txt").read_text()
    r = client.post("/orbits/passes", json={
        "elements": text, "stations": [{"lat_deg": 48.1, "lon_deg": 11.6}],
        "start": "2025-10-04T12:00:00Z", "hours": 6, "min_elevation_deg": 10})
    assert r.status_code == 200, r.text
    passes = r.json()["passes"]
    assert passes and {"norad_id", "aos", "tca", "los", "max_elevation_deg"} <= set(passes[0])

    assert client.post("/orbits/elements", content=text,
                       headers={"content-type": "text/plain"}).json() == {"added": 12}
    r = client.get("/orbits/satellites/40697/track",
                   params={"start": "2025-10-04T12:00:00Z", "hours": 2})
    assert r.status_code == 200 and r.json()["geometry"]["type"] == "MultiLineString"
    assert client.get("/orbits/satellites/1/track",
                      params={"start": "2025-10-04T12:00:00Z"}).status_code == 404

    aoi = dict(sg.mapping(sg.box(96.0, 19.7, 96.2, 19.9)))
    r = client.post("/orbits/opportunities", json={
        "norad_ids": [59371, 62430], "aoi": aoi,
        "start": "2025-10-04T00:00:00Z", "end": "2025-10-07T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["opportunities"]

    r = client.post("/orbits/orders", json={
        "aoi": aoi, "start": "2025-10-04T00:00:00Z", "end": "2025-10-07T00:00:00Z",
        "priority": "disaster"})
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    r = client.post(f"/orbits/orders/{oid}/plan")
    assert r.status_code == 200 and r.json()["status"] == "planned", r.text
    r = client.post(f"/orbits/orders/{oid}/status", json={"status": "delivered"})
    assert r.status_code == 409
    r = client.post(f"/orbits/orders/{oid}/status",
                    json={"status": "acquired", "item_id": "RESURS-P4-20251005"})
    assert r.json()["item_id"] == "RESURS-P4-20251005"


def test_bad_input_is_4xx(client: TestClient) -> None:
    bad = "1 40697U 15028A   25276.64126228  .00000414  00000+0  17471-3 0  9990\n" \
          "2 40697  98.5698 350.1648 0001175  96.4135 263.7182 14.30817766537043\n"
    r = client.post("/orbits/passes", json={
        "elements": bad, "stations": [{"lat_deg": 0, "lon_deg": 0}],
        "start": "2025-10-04T12:00:00Z"})
    assert r.status_code == 400 and "checksum" in r.json()["description"]
    r = client.post("/orbits/passes", json={
        "elements": (DATA / "eo_satellites_2025-10-04.txt").read_text(),
        "stations": [{"lat_deg": 0, "lon_deg": 0}], "start": "2025-10-04T12:00:00Z",
        "hours": 1000})
    assert r.status_code == 400
    r = client.post("/orbits/design/sun-synchronous", json={
        "altitude_km": 600, "ltdn_hours": 10.5, "epoch": "2025-10-04T00:00:00Z"})
    assert r.status_code == 200 and 97.7 < float(r.json()["omm"]["INCLINATION"]) < 97.9


@pytest.mark.parametrize("start", [{}, [], 17, None, "yesterday"])
def test_malformed_times_are_400_naming_the_field(client: TestClient, start: object) -> None:
    r = client.post("/orbits/passes", json={
        "elements": (DATA / "eo_satellites_2025-10-04.txt").read_text(),
        "stations": [{"lat_deg": 48.1, "lon_deg": 11.6}], "start": start, "hours": 6})
    assert r.status_code == 400, r.text
    assert "start" in r.json()["description"]
