"""Console sessions through raw HTTP requests: signing in exchanges a key for a cookie that
stands for exactly that key (role, grants, revocation, expiry), counts only for the console and
the API routes it calls, never for another site, and never for a state-changing request without
its CSRF token. The world is tests/access_world.py's (partners in every situation)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
from access_world import PixelWorld, build  # noqa: E402

from sathub.access import keys as keymod  # noqa: E402
from sathub.access.sessions import ConsoleSessions, session_id  # noqa: E402
from sathub.access.sessions_sqlite import SQLiteSessionStore  # noqa: E402
from sathub.api.app import create_app  # noqa: E402

BASE = "http://testserver"
SAME = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> PixelWorld:
    return build(tmp_path_factory.mktemp("sessions") / "data")


@pytest.fixture(scope="module")
def app(world: PixelWorld):  # type: ignore[no-untyped-def]
    return create_app(world.inst)


def client(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, base_url=BASE, follow_redirects=False)


def sign_in(app, key: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    """A client holding a session for ``key``, and the session's CSRF token."""
    c = client(app)
    page = c.get("/console/login")
    assert page.status_code == 200
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post("/console/login", data={"key": key, "login_token": token, "next": "/console"},
               headers=SAME)  # fmt: skip
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console"
    home = c.get("/console", headers=SAME)
    assert home.status_code == 200
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
    return c, csrf


# ----------------------------------------------------------------------------- sign-in
def test_sign_in_sets_a_strict_http_only_cookie(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    c = client(app)
    page = c.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post("/console/login", data={"key": world.keys["admin"], "login_token": token}, headers=SAME)
    assert r.status_code == 303
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("sathub_session="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= attrs
    assert "samesite=strict" in cookie.lower() and "path=/;" in cookie.lower() + ";"
    assert world.keys["admin"] not in cookie
    # the store keeps the token's hash only, never the token
    value = cookie.split(";")[0].split("=", 1)[1]
    db = SQLiteSessionStore(world.data / "sessions.db")
    assert db.get(session_id(value)) is not None
    assert not db.conn().execute("SELECT 1 FROM sessions WHERE id = ?", (value,)).fetchone()


def test_sign_in_refuses_a_form_without_its_token_or_from_another_site(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    c = client(app)
    r = c.post("/console/login", data={"key": world.keys["admin"]})
    assert r.status_code == 403 and "sathub_session" not in r.headers.get("set-cookie", "")
    page = c.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = c.post("/console/login", data={"key": world.keys["admin"], "login_token": token}, headers=headers)
        assert r.status_code == 403, headers
    r = c.post("/console/login", data={"key": world.keys["admin"], "login_token": "x" * 43})
    assert r.status_code == 403


@pytest.mark.parametrize("key, reason", [
    ("sh_" + "A" * 43, "unknown API key"), ("not-a-key", "malformed API key"), ("", "an API key is needed"),
])  # fmt: skip
def test_a_bad_key_does_not_sign_in_and_says_why(app, key: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    c = client(app)
    page = c.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post("/console/login", data={"key": key, "login_token": token}, headers=SAME)
    assert r.status_code == 401 and reason in r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert "sathub_session" not in r.headers.get("set-cookie", "")


def test_the_legacy_operator_file_cannot_open_a_session(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    legacy = world.inst.settings.layout.secrets / "operator.key"
    legacy.write_text("legacy-operator-secret\n")
    try:
        with pytest.raises(Exception, match="cannot open a console session"):
            world.inst.sessions.open("legacy-operator-secret")
    finally:
        legacy.unlink()


def test_next_never_leaves_the_console(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    c = client(app)
    for nxt in ("https://evil.example/", "//evil.example/console", "/admin/keys"):
        page = c.get("/console/login", params={"next": nxt})
        token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = c.post("/console/login", data={"key": world.keys["analyst"], "login_token": token, "next": nxt},
                   headers=SAME)  # fmt: skip
        assert r.status_code == 303 and r.headers["location"] == "/console", nxt


# ------------------------------------------------------------------ what a session is
def test_a_session_carries_exactly_its_keys_role_and_grants(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    """The same answers with the cookie as with the key, for every actor and every request the
    console makes of the API (reads of restricted items, admin lists, orders, pages)."""
    probes = ["/collections/res/items/in", "/admin/keys", "/orbits/orders", "/console/agreements",
              f"/console/partners/{world.org_ids['in']}", "/console/archive", "/console/budget"]  # fmt: skip
    for actor in ("partner_in", "partner_out", "partner_thumb", "analyst", "operator", "admin"):
        c, _ = sign_in(app, world.keys[actor])
        bearer = client(app)
        for path in probes:
            with_cookie = c.get(path, headers=SAME)
            with_key = bearer.get(path, headers=world.headers(actor))
            assert with_cookie.status_code == with_key.status_code, (actor, path)
        c.close()


def test_the_cookie_counts_only_where_the_console_uses_it(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    c, csrf = sign_in(app, world.keys["partner_in"])
    assert c.get("/collections/res/items/in", headers=SAME).status_code == 200
    found = c.get("/search", params={"ids": "in"}, headers=SAME).json()["features"]
    assert found == []  # /search is not a console route: the cookie is not a key there
    with_key = client(app).get("/search", params={"ids": "in"}, headers=world.headers("partner_in"))
    assert [f["id"] for f in with_key.json()["features"]] == ["in"]
    # writes to the catalog never take the cookie, even with its CSRF token
    r = c.post("/collections/res/items", json={}, headers={**SAME, "X-CSRF-Token": csrf})
    assert r.status_code == 401


def test_another_site_cannot_use_the_cookie(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    c, csrf = sign_in(app, world.keys["admin"])
    assert c.get("/admin/keys", headers=SAME).status_code == 200
    # reads: another site's request is served as if no cookie were sent
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "http://evil.example"}, {"Origin": "null"}):  # fmt: skip
        assert c.get("/admin/keys", headers=headers).status_code == 401, headers
    # writes: refused outright, CSRF token or not
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "none"}):  # fmt: skip
        r = c.post("/admin/orgs", json={"name": "Evil Corp", "kind": "company"},
                   headers={**headers, "X-CSRF-Token": csrf})  # fmt: skip
        assert r.status_code == 403, headers
    assert "Evil Corp" not in {o.name for o in world.inst.access.store.orgs()}


def test_a_forged_post_without_the_csrf_token_is_refused(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    c, csrf = sign_in(app, world.keys["admin"])
    before = world.inst.access.store.orgs()
    forged = [
        ({}, "application/json", '{"name": "Forged 1", "kind": "company"}'),
        ({"X-CSRF-Token": "wrong"}, "application/json", '{"name": "Forged 2", "kind": "company"}'),
        ({"X-CSRF-Token": csrf[:-1]}, "application/json", '{"name": "Forged 3", "kind": "company"}'),
        ({}, "application/x-www-form-urlencoded", f"name=Forged+4&kind=company&csrf={csrf}"),
        ({}, "text/plain", '{"name": "Forged 5", "kind": "company"}'),
    ]
    for headers, ctype, body in forged:
        r = c.post("/admin/orgs", content=body, headers={**SAME, **headers, "Content-Type": ctype})
        assert r.status_code == 403, (headers, ctype, r.text)
        assert "CSRF" in r.json()["description"]
    for path in ("/admin/keys/1/revoke", "/console/logout", f"/admin/agreements/{1}/suspend"):
        assert c.post(path, headers=SAME).status_code == 403, path
    assert world.inst.access.store.orgs() == before
    r = c.post("/admin/orgs", json={"name": "Made through the console", "kind": "company"},
               headers={**SAME, "X-CSRF-Token": csrf})  # fmt: skip
    assert r.status_code == 201
    rec = world.inst.access.audit.records()[-1]
    assert rec["action"] == "admin.org.add" and rec["actor"].startswith("key:")


def test_a_partner_session_reaches_no_other_organisation_and_no_admin_action(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    c, csrf = sign_in(app, world.keys["partner_in"])
    own, other = world.org_ids["in"], world.org_ids["out"]
    assert c.get(f"/console/partners/{own}", headers=SAME).status_code == 200
    other_page = c.get(f"/console/partners/{other}", headers=SAME)
    missing = c.get("/console/partners/999999", headers=SAME)
    assert other_page.status_code == missing.status_code == 404
    agr_other = world.inst.access.store.agreements(other)[0].id
    assert c.get(f"/console/partners/{other}/usage/{agr_other}.csv", headers=SAME).status_code == 404
    assert c.get(f"/console/partners/{own}/usage/{agr_other}.csv", headers=SAME).status_code == 404
    for page in ("/console/partners", "/console/agreements", "/console/keys", "/console/activations",
                 "/console/archive", "/console/analytics", "/console/budget"):  # fmt: skip
        assert c.get(page, headers=SAME).status_code == 403, page
    h = {**SAME, "X-CSRF-Token": csrf}
    writes = [("POST", "/admin/orgs", {"name": "x", "kind": "company"}),
              ("POST", "/admin/keys", {"role": "admin"}),
              ("POST", f"/admin/agreements/{agr_other}/suspend", None),
              ("PUT", "/admin/collections/res/access", {"level": "open"}),
              ("POST", "/admin/activations", {"name": "x", "aoi": {}, "days": 1}),
              ("POST", "/ingest/verify", None), ("POST", "/analytics/jobs", {}),
              ("POST", "/budget/years", {"code": "FY1"})]  # fmt: skip
    for method, path, body in writes:
        r = c.request(method, path, json=body, headers=h)
        assert r.status_code == 403, (path, r.text)


# ------------------------------------------------------------------ how a session ends
def test_revoking_the_key_ends_its_sessions(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    store = world.inst.access.store
    token, rec = keymod.issue(store, "operator", None, label="to revoke")
    c, _ = sign_in(app, token)
    assert c.get("/console/archive", headers=SAME).status_code == 200
    admin, admin_csrf = sign_in(app, world.keys["admin"])
    r = admin.post(f"/admin/keys/{rec.id}/revoke", headers={**SAME, "X-CSRF-Token": admin_csrf})
    assert r.status_code == 200
    assert c.get("/console/archive", headers=SAME).status_code == 401
    assert not world.inst.sessions.store.conn().execute(
        "SELECT 1 FROM sessions WHERE key_id = ?", (rec.id,)).fetchone()  # fmt: skip


def test_sign_out_ends_the_session(app, world: PixelWorld) -> None:  # type: ignore[no-untyped-def]
    c, csrf = sign_in(app, world.keys["analyst"])
    cookie = c.cookies.get("sathub_session")
    r = c.post("/console/logout", headers={**SAME, "X-CSRF-Token": csrf})
    assert r.status_code == 204
    replay = client(app)
    replay.cookies.set("sathub_session", cookie)  # a stolen copy of the cookie is dead too
    assert replay.get("/console", headers=SAME).status_code == 401
    actions = [r["action"] for r in world.inst.access.audit.records()[-3:]]
    assert "console.session.close" in actions


def _sessions(world: PixelWorld, idle_s: float, max_s: float) -> ConsoleSessions:
    return ConsoleSessions(world.inst.sessions.store, world.inst.access, idle_s=idle_s, max_s=max_s)


def test_idle_and_absolute_expiry(world: PixelWorld) -> None:
    s = _sessions(world, idle_s=600, max_s=3600)
    t0 = time.time()
    token, session, actor = s.open(world.keys["analyst"], now=t0)
    assert actor.role == "analyst" and session.expires == pytest.approx(t0 + 3600)
    assert s.resolve(token, now=t0 + 599) is not None  # touched at +599 s
    assert s.resolve(token, now=t0 + 599 + 599) is not None  # idle time counts from the last use
    assert s.resolve(token, now=t0 + 599 + 599 + 601) is None  # idle too long: gone
    assert s.resolve(token, now=t0 + 600) is None  # and stays gone
    token, _, _ = s.open(world.keys["analyst"], now=t0)
    for k in range(1, 12):  # busy all along, still ends at its absolute end
        assert s.resolve(token, now=t0 + k * 300) is not None
    assert s.resolve(token, now=t0 + 3601) is None


def test_an_expired_key_ends_its_sessions(world: PixelWorld) -> None:
    store = world.inst.access.store
    t0 = time.time()
    token, _ = keymod.issue(store, "analyst", None, expires=t0 + 100)
    s = _sessions(world, idle_s=600, max_s=3600)
    session_token, _, _ = s.open(token, now=t0)
    assert s.resolve(session_token, now=t0 + 50) is not None
    assert s.resolve(session_token, now=t0 + 101) is None


def test_tokens_that_are_not_sessions_resolve_to_nothing(world: PixelWorld) -> None:
    s = world.inst.sessions
    for token in ("", "x", "A" * 43, "A" * 44, "../" * 15, "\x00" * 43):
        assert s.resolve(token) is None
