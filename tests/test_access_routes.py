"""Every route × every role × every resource state, against docs/access-matrix.toml.

The app's routes are walked (through the permission gate's own listing): a route missing from
the table, a route whose declared permission differs from the table's, or a request answering
another status than the table's fails. A resource the caller may not see must answer exactly
like one that does not exist (same status, same body but for the id). docs/access-matrix.md is
the table rendered; it must be up to date (regenerate: ``python tests/test_access_routes.py``).
"""

from __future__ import annotations

import itertools
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
from access_world import ACTORS, STAFF, PixelWorld, build  # noqa: E402

from sathub.api import gate  # noqa: E402
from sathub.api.app import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "access-matrix.toml"
RENDERED = ROOT / "docs" / "access-matrix.md"
PARTNERS = tuple(a for a in ACTORS if a.startswith("partner_"))
SHARED_TLE = ROOT.parent / "shared" / "data" / "orbits" / "eo_satellites_2025-10-04.txt"


def load_table() -> dict[str, Any]:
    return tomllib.loads(TABLE.read_text())


def expected(profile: dict[str, dict[str, int]], state: str) -> dict[str, int]:
    """Actor → status for one state of a profile (``all``, ``partners``, ``staff``, names)."""
    spec = profile[state]
    out: dict[str, int] = {}
    for actor in ACTORS:
        status = spec.get("all")
        if actor in PARTNERS and "partners" in spec:
            status = spec["partners"]
        if actor in STAFF and "staff" in spec:
            status = spec["staff"]
        status = spec.get(actor, status)
        assert status is not None, f"profile state {state!r} says nothing about {actor}"
        out[actor] = int(status)
    return out


def route_key(methods: tuple[str, ...], path: str) -> str:
    return f"{','.join(sorted(methods))} {path}"


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module", params=["sqlite", "pgstac"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> PixelWorld:
    """The matrix's world on each backend: SQLite, or PostgreSQL holding the pgstac catalog
    and the access state (keys, agreements, quotas, the audit chain) in one database."""
    w = build(tmp_path_factory.mktemp(f"matrix-{request.param}") / "data", request.param)
    assert w.inst.access.store.backend == ("postgresql" if request.param == "pgstac" else "sqlite")
    return w


@pytest.fixture(scope="module")
def client(world: PixelWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.inst)) as c:
        yield c


@pytest.fixture(scope="module")
def extra(world: PixelWorld, client: TestClient) -> dict[str, str]:
    """Values that need the running app: a registered mosaic search, partner_in's order,
    element sets from the shared TLE snapshot."""
    import json

    r = client.post("/mosaic/register", json={"collections": ["open", "res"]})
    assert r.status_code == 200, r.text
    geom = world.values["res_in"]["geom"]
    r = client.post("/orbits/orders",
                    headers={**world.headers("partner_in"), "content-type": "application/json"},
                    content=f'{{"aoi": {geom}, "start": "2026-01-01T00:00:00Z", '
                            f'"end": "2026-01-03T00:00:00Z"}}')  # fmt: skip
    assert r.status_code == 201, r.text
    tle = SHARED_TLE.read_text() if SHARED_TLE.exists() else _FALLBACK_TLE
    l8 = "\n".join(tle.splitlines()[0:3])
    r = client.post("/orbits/elements", content=l8,
                    headers={**world.headers("operator"), "content-type": "text/plain"})
    assert r.status_code == 200, r.text
    station = [{"lat_deg": 16.8, "lon_deg": 96.15}]
    org_in = world.org_ids["in"]
    return {
        "org_in": str(org_in),  # the console's organisation pages
        "agr_in": str(world.inst.access.store.agreements(org_in)[0].id),
        "search": r_search_id(client),
        "order": client.get("/orbits/orders", headers=world.headers("admin")).json()["orders"][0]["id"],
        "@tle": l8,
        "@satcat": "OBJECT_NAME,OBJECT_ID,NORAD_CAT_ID,OBJECT_TYPE,OPS_STATUS_CODE,OWNER,"
                   "LAUNCH_DATE,LAUNCH_SITE,DECAY_DATE,PERIOD,INCLINATION,APOGEE,PERIGEE,RCS,"
                   "DATA_STATUS_CODE,ORBIT_CENTER,ORBIT_TYPE\n"
                   "LANDSAT 8,2013-008A,39084,PAY,+,US,2013-02-11,AFWTR,,98.9,98.2,705,703,,,EA,ORB\n",
        "@tle_json": json.dumps({"elements": l8}),
        "@passes": json.dumps({"elements": l8, "stations": station, "start": "2025-10-04T00:00:00Z",
                               "hours": 6}),
        "@opportunities": json.dumps({"elements": l8, "aoi": json.loads(geom),
                                      "start": "2025-10-04T00:00:00Z", "end": "2025-10-05T00:00:00Z"}),
    }  # fmt: skip


def r_search_id(client: TestClient) -> str:
    r = client.post("/mosaic/register", json={"collections": ["open", "res"]})
    return str(r.json()["id"])


_FALLBACK_TLE = """LANDSAT 8
1 39084U 13008A   25276.50000000  .00000300  00000+0  76000-4 0  9990
2 39084  98.2000 340.0000 0001200  90.0000 270.0000 14.57100000670000
"""


# ----------------------------------------------------------------------------- the table
def test_every_route_is_in_the_table_with_its_permission(client: TestClient) -> None:
    table = {r["route"]: r for r in load_table()["route"]}
    listed = gate.routes(client.app)  # type: ignore[arg-type]
    seen = set()
    for info in listed:
        key = route_key(info.methods, info.path)
        seen.add(key)
        assert key in table, f"route {key} is not in docs/access-matrix.toml"
        assert table[key]["permission"] == info.permission, key
    assert not set(table) - seen, f"rows for routes that do not exist: {sorted(set(table) - seen)}"


def test_a_route_without_a_permission_does_not_start(tmp_path: Path) -> None:
    from fastapi import APIRouter

    from sathub.api import app as app_module
    from sathub.config import Settings

    stray = APIRouter()

    @stray.get("/stray")
    def _stray() -> dict[str, str]:
        return {"ok": "yes"}

    class Module:
        router = stray

    sys.modules["sathub_test_stray"] = Module  # type: ignore[assignment]
    app_module.DOMAIN_ROUTERS = (*app_module.DOMAIN_ROUTERS, "sathub_test_stray")
    try:
        with pytest.raises(RuntimeError, match="GET /stray declares no permission"):
            create_app(Settings(data=tmp_path / "d"))
    finally:
        app_module.DOMAIN_ROUTERS = app_module.DOMAIN_ROUTERS[:-1]
        del sys.modules["sathub_test_stray"]


_uid = itertools.count()


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _cases() -> Iterator[tuple[str, dict[str, Any], str]]:
    table = load_table()
    for row in table["route"]:
        for req in row["requests"]:
            for state in table["profile"][req["expect"]]:
                yield row["route"], req, state


CASES = list(_cases())


def _values(world: PixelWorld, extra: dict[str, str], state: str) -> dict[str, str]:
    base = dict(world.values["open" if state == "any" else state])
    base["coll"] = {"open": "open", "res_in": "res", "missing": "nope", "any": "open"}[state]
    if state == "any":  # stateless requests must not grant or touch the restricted item
        base["geom"] = '{"type":"Polygon","coordinates":[[[0,0],[0.1,0],[0.1,0.1],[0,0]]]}'
    return {**base, **{k: v for k, v in extra.items() if not k.startswith("@")}}


def _request(client: TestClient, world: PixelWorld, extra: dict[str, str], req: dict[str, Any],
             state: str, actor: str) -> Any:  # fmt: skip
    values = {**_values(world, extra, state), "uid": f"u{next(_uid)}"}  # one per request
    method, _, url = _fill(req["request"], values).partition(" ")
    headers = world.headers(actor)
    body = req.get("body")
    content = None
    if body is not None:
        if body.startswith("@"):
            content = extra[body]
            headers = {**headers, "content-type": "text/plain" if body in ("@tle", "@satcat")
                       else "application/json"}  # fmt: skip
        else:
            content = _fill(body, values)
            headers = {**headers, "content-type": "application/json"}
    return client.request(method, url, content=content, headers=headers)


@pytest.mark.parametrize("route, req, state", CASES,
                         ids=[f"{r}|{q['request'].split('?')[0][-40:]}|{s}" for r, q, s in CASES])  # fmt: skip
def test_route_role_state(client: TestClient, world: PixelWorld, extra: dict[str, str],
                          route: str, req: dict[str, Any], state: str) -> None:  # fmt: skip
    profile = load_table()["profile"][req["expect"]]
    want = expected(profile, state)
    got = {a: _request(client, world, extra, req, state, a) for a in ACTORS}
    wrong = {a: (r.status_code, want[a], r.text[:200]) for a, r in got.items()
             if r.status_code != want[a]}  # fmt: skip
    assert not wrong, f"{req['request']} [{state}] status, expected: {wrong}"
    for a, r in got.items():
        assert r.status_code < 500
        if r.status_code == 401:
            assert r.headers.get("www-authenticate") == "Bearer"
    if state == "res_in":  # hidden answers exactly like missing
        missing = {a: _request(client, world, extra, req, "missing", a) for a in ACTORS}
        for a, r in got.items():
            if r.status_code == 404 and r.request.method != "HEAD":
                assert _norm(r.json()) == _norm(missing[a].json()), (a, r.text, missing[a].text)


def _norm(body: dict[str, Any]) -> dict[str, Any]:
    return {k: re.sub(r"'(in|nope|res)'", "'X'", str(v)) for k, v in body.items()}


# --------------------------------------------------------------------------- the docs
def render(table: dict[str, Any]) -> str:
    lines = ["# Access matrix", "",
             "Rendered from [access-matrix.toml](access-matrix.toml) by `python tests/test_access_routes.py`;",
             "`tests/test_access_routes.py` checks every line of it against a live app. Actors and states",
             "are described at the top of the TOML file; each cell is the HTTP status.", "",
             "## Routes", "", "| route | permission | request | expectation |", "|---|---|---|---|"]  # fmt: skip
    for row in table["route"]:
        for req in row["requests"]:
            lines.append(f"| `{row['route']}` | `{row['permission']}` | `{req['request']}` | "
                         f"[{req['expect']}](#{req['expect'].replace('_', '-')}) |")  # fmt: skip
    lines += ["", "## Expectations", ""]
    head = "| state | " + " | ".join(ACTORS) + " |"
    for name, profile in table["profile"].items():
        lines += [f"### {name.replace('_', '-')}", "", head, "|---" * (len(ACTORS) + 1) + "|"]
        for state in profile:
            exp = expected(profile, state)
            lines.append(f"| {state} | " + " | ".join(str(exp[a]) for a in ACTORS) + " |")
        lines.append("")
    return "\n".join(lines)


def test_rendered_table_is_up_to_date() -> None:
    assert RENDERED.read_text() == render(load_table()), (
        "docs/access-matrix.md is stale: run `python tests/test_access_routes.py`")


if __name__ == "__main__":
    RENDERED.write_text(render(load_table()))
    print(f"wrote {RENDERED}")


def test_the_gate_sees_through_nested_routers() -> None:
    """Routers included in routers keep their prefixes and the permissions declared on the
    include; none, or two, is refused."""
    from fastapi import APIRouter, FastAPI

    from sathub.api.gate import requires

    inner, outer = APIRouter(), APIRouter(prefix="/outer")

    @inner.get("/x")
    def _x() -> None: ...

    outer.include_router(inner, prefix="/inner", dependencies=[requires("admin")])
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(outer)
    [info] = [r for r in gate.routes(app) if r.path.endswith("/x")]
    assert (info.path, info.permission) == ("/outer/inner/x", "admin")

    @inner.get("/y", dependencies=[requires("public")])  # two permissions: refused
    def _y() -> None: ...

    bare = APIRouter()

    @bare.get("/z")
    def _z() -> None: ...

    outer.include_router(bare, prefix="/bare")
    app2 = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app2.include_router(outer)
    with pytest.raises(RuntimeError) as e:
        gate.routes(app2)
    assert "/outer/inner/y declares ['admin', 'public']" in str(e.value)
    assert "/outer/bare/z declares no permission" in str(e.value)
