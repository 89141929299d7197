"""The /orbits router through the real application."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely import geometry as sg

from sathub.api.app import create_app

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "orbits"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared data not present")


@pytest.fixture(params=["embedded", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> TestClient:
    """The app with an operator's key (registry writes and orders need one), on each backend
    of the orbits state (files in the data directory; PostgreSQL)."""
    from conftest import issue_key
    from state_support import settings_for

    from sathub.app import Installation

    inst = Installation.create(settings_for(request.param, tmp_path / "data"))
    c = TestClient(create_app(inst))
    c.headers["Authorization"] = f"Bearer {issue_key(inst, 'operator')}"
    c.inst = inst  # type: ignore[attr-defined]
    return c


def test_orders_belong_to_the_partners_organisation(client: TestClient) -> None:
    """Partners create and see their own organisation's orders; another's is a 404; only
    operators and admins plan them or change their status; every change is audited."""
    from conftest import issue_key

    inst = client.inst  # type: ignore[attr-defined]
    a, b = (f"Bearer {issue_key(inst, 'partner', org)}" for org in ("Org A", "Org B"))
    body = {"aoi": {"type": "Polygon", "coordinates": [[[96, 16], [96.5, 16], [96.5, 16.5], [96, 16]]]},
            "start": "2026-01-01T00:00:00Z", "end": "2026-01-03T00:00:00Z"}  # fmt: skip
    assert TestClient(client.app).post("/orbits/orders", json=body).status_code == 401
    oid = client.post("/orbits/orders", json=body, headers={"Authorization": a}).json()["id"]
    assert client.get(f"/orbits/orders/{oid}", headers={"Authorization": a}).status_code == 200
    r = client.get(f"/orbits/orders/{oid}", headers={"Authorization": b})
    assert r.status_code == 404 and r.json() == client.get(
        "/orbits/orders/000000000000", headers={"Authorization": b}).json() | {
        "description": r.json()["description"]}  # fmt: skip
    assert client.get("/orbits/orders", headers={"Authorization": b}).json()["orders"] == []
    assert [o["id"] for o in client.get("/orbits/orders", headers={"Authorization": a}).json()["orders"]] == [oid]
    assert len(client.get("/orbits/orders").json()["orders"]) == 1  # the operator sees all
    r = client.post(f"/orbits/orders/{oid}/status", json={"status": "cancelled"}, headers={"Authorization": a})
    assert r.status_code == 403 and "orders" in r.json()["description"]
    assert client.post(f"/orbits/orders/{oid}/status", json={"status": "cancelled"}).status_code == 200
    actions = [r["action"] for r in inst.access.audit.records()]
    assert actions.count("orbits.order.create") == 1 and "orbits.order.status" in actions


def test_registry_writes_need_an_operator(client: TestClient) -> None:
    from conftest import issue_key

    sat = {"norad_id": 39084, "name": "LANDSAT 8"}
    anon = TestClient(client.app)
    r = anon.put("/orbits/satellites/39084", json=sat)
    assert r.status_code == 401 and "registry" in r.json()["description"]
    partner = {"Authorization": f"Bearer {issue_key(client.inst, 'partner', 'P')}"}  # type: ignore[attr-defined]
    assert client.put("/orbits/satellites/39084", json=sat, headers=partner).status_code == 403
    assert anon.get("/orbits/satellites").json()["satellites"] == []
    assert client.put("/orbits/satellites/39084", json=sat).status_code == 200
    assert anon.get("/orbits/satellites/39084").json()["name"] == "LANDSAT 8"


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
