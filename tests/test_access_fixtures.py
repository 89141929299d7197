"""Fixture factories for the access tests (built in code), and unit tests of the small parts:
keys, dates, AOIs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sathub.access import keys
from sathub.access.dates import parse_when
from sathub.access.service import AccessService
from sathub.catalog.sqlite import SQLiteStore
from sathub.config import Settings
from sathub.errors import InvalidGeometry

DAY = 86400.0


def collection(cid: str) -> dict[str, Any]:
    return {
        "type": "Collection", "id": cid, "stac_version": "1.0.0", "description": "test",
        "license": "CC-BY-4.0", "links": [],
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                   "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}},
    }  # fmt: skip


def box(w: float, s: float, e: float, n: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def item(iid: str, coll: str, geom: dict[str, Any], ts: float) -> dict[str, Any]:
    ring = geom["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": coll,
        "geometry": geom, "bbox": [min(xs), min(ys), max(xs), max(ys)],
        "properties": {"datetime": iso(ts)},
        "assets": {"data": {"href": f"{coll}/{iid}.tif", "roles": ["data"]},
                   "thumbnail": {"href": f"{coll}/{iid}.png", "roles": ["thumbnail"]}},
        "links": [],
    }  # fmt: skip


@dataclass
class World:
    """A data directory with an open and a restricted collection, organisations in every
    agreement state, keys of every role, and an activation."""

    data: Path
    settings: Settings
    service: AccessService
    keys: dict[str, str] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    visible: dict[str, set[str]] = field(default_factory=dict)  # actor → item ids
    agreement_ids: dict[str, int] = field(default_factory=dict)


AOI_A = box(95, 20, 97, 22)
AOI_ACT = {"type": "MultiPolygon", "coordinates": [box(89.9, 14.9, 90.3, 15.3)["coordinates"],
                                                   box(96.4, 21.4, 96.8, 21.8)["coordinates"]]}


def build_world(data: Path) -> World:
    now = time.time()
    settings = Settings(data=data)
    settings.layout.create()
    store = SQLiteStore(settings.layout.catalog_db)
    store.create_collection(collection("open"))
    store.create_collection(collection("res"))
    items = {
        "o1": item("o1", "open", box(10, 10, 10.2, 10.2), now - 400 * DAY),
        "in": item("in", "res", box(95.5, 20.5, 95.7, 20.7), now - 100 * DAY),
        "out": item("out", "res", box(100, 10, 100.2, 10.2), now - 100 * DAY),
        "fresh": item("fresh", "res", box(96.5, 21.5, 96.7, 21.7), now - 2 * DAY),
        "act": item("act", "res", box(90, 15, 90.2, 15.2), now - 100 * DAY),
    }
    store.bulk_upsert(items.values())
    store.close()
    for it in items.values():  # real bytes behind every asset (4 KiB each)
        for asset in it["assets"].values():
            path = settings.layout.assets / asset["href"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(range(256)) * 16)
    service = AccessService.for_settings(settings)
    s = service.store
    s.set_collection_level("res", "restricted")
    orgs = {name: s.add_org(name, kind).id for name, kind in
            (("A", "university"), ("B", "company"), ("C", "government"), ("D", "international"))}  # fmt: skip
    w = World(data, settings, service, items=items)
    w.agreement_ids["A"] = s.add_agreement(orgs["A"], title="A", collections=("res",), aoi=AOI_A,
                                           embargo_days=10).id  # fmt: skip
    w.agreement_ids["B"] = s.add_agreement(orgs["B"], title="B", collections=("res",),
                                           valid_to=now - 30 * DAY).id  # fmt: skip
    w.agreement_ids["C"] = s.add_agreement(orgs["C"], title="C", collections=("res",),
                                           status="suspended").id  # fmt: skip
    from sathub.access.activations import open_activation

    open_activation(s, name="flood", aoi=AOI_ACT, days=5, orgs=["D"], now=now - DAY)
    for role in ("admin", "operator", "analyst"):
        w.keys[role] = keys.issue(s, role, None)[0]
    for org in "ABCD":
        w.keys[f"partner{org}"] = keys.issue(s, "partner", orgs[org])[0]
    w.keys["revoked"], rec = keys.issue(s, "partner", orgs["A"])
    s.revoke_key(rec.id)
    w.keys["expired"] = keys.issue(s, "partner", orgs["A"], expires=now - DAY)[0]
    everything = set(items)
    w.visible = {
        "anonymous": {"o1"}, "admin": everything, "operator": everything, "analyst": everything,
        "partnerA": {"o1", "in"}, "partnerB": {"o1"}, "partnerC": {"o1"},
        "partnerD": {"o1", "act", "fresh"},
    }  # fmt: skip
    return w


def auth(w: World, actor: str) -> dict[str, str]:
    return {} if actor == "anonymous" else {"Authorization": f"Bearer {w.keys[actor]}"}


# ----------------------------------------------------------------------------- unit tests
def test_keys_are_random_hashed_and_checked(tmp_path: Path) -> None:
    service = AccessService(tmp_path, tmp_path / "secrets")
    token, rec = keys.issue(service.store, "admin", None)
    assert keys.TOKEN_RE.match(token) and token != keys.issue(service.store, "admin", None)[0]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("access.db*"))
    assert token.encode() not in raw and keys.hash_token(token).encode() in raw
    assert service.actor(f"Bearer {token}").role == "admin"
    assert service.store.keys()[0].last_used is not None
    assert service.actor(None).role == "anonymous"


@pytest.mark.parametrize("value, end, expect", [
    ("2024-03-01", False, "2024-03-01T00:00:00+00:00"),
    ("2024-03-01", True, "2024-03-01T23:59:59.999999+00:00"),
    ("2024-03-01T12:00:00Z", True, "2024-03-01T12:00:00+00:00"),
    ("2024-03-01T12:00:00+02:00", False, "2024-03-01T10:00:00+00:00"),
])  # fmt: skip
def test_a_date_alone_is_the_whole_day(value: str, end: bool, expect: str) -> None:
    got = datetime.fromtimestamp(parse_when(value, end=end), UTC).isoformat()
    assert got == expect


def test_oversized_or_wrong_aois_are_refused() -> None:
    import math

    from sathub.access.geo import MAX_AOI_VERTICES, check_aoi

    n = MAX_AOI_VERTICES + 10
    ring = [[math.cos(2 * math.pi * i / n), math.sin(2 * math.pi * i / n)] for i in range(n)]
    ring.append(ring[0])
    with pytest.raises(InvalidGeometry):
        check_aoi({"type": "Polygon", "coordinates": [ring]})
    with pytest.raises(InvalidGeometry):
        check_aoi({"type": "Point", "coordinates": [0, 0]})
    assert check_aoi({"type": "Feature", "geometry": box(0, 0, 1, 1), "properties": {}})["type"] == "Polygon"
