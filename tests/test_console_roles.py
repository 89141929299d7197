"""Every console page for every role, through raw requests: a page answers 200 to the roles
docs/console.md's table names and fails closed for every other (403 for a key whose role may
not, 404 for another organisation's page, the sign-in form for no key); and every action a page
offers (each form's ``data-api`` request) is one the signed-in role may make at the gate, so no
role is shown a button the API would refuse. The expected table is written out here from the
docs, not derived from the console's own navigation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from console_world import ROLES, ConsoleWorld, build
from fastapi.testclient import TestClient
from starlette.routing import compile_path

BASE = "http://testserver"
SAME = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
EVERY = set(ROLES)
STAFF = {"admin", "operator", "analyst"}
ADMIN = {"admin"}
FINANCE = {"admin", "finance_officer", "budget_approver", "budget_viewer"}
ORDERING = {"admin", "operator", "partner", "partner_b"}
PAGES: dict[str, set[str]] = {  # docs/console.md, "Who sees what"
    "/console": EVERY,
    "/console/archive": STAFF,
    "/console/partners": ADMIN,
    "/console/agreements": ADMIN,
    "/console/keys": ADMIN,
    "/console/activations": ADMIN,
    "/console/orbits": STAFF,
    "/console/orbits/passes": STAFF,
    "/console/orbits/opportunities": ORDERING,
    "/console/orders": EVERY,
    "/console/analytics": STAFF,
    "/console/budget": FINANCE,
    "/console/budget/commitments": FINANCE,
}
ACTION = re.compile(r'data-api="(GET|POST|PUT|PATCH|DELETE) ([^"]+)"')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ConsoleWorld:
    from test_analytics_support import demo_settings

    return build(tmp_path_factory.mktemp("console-roles"), demo_settings())


@pytest.fixture(scope="module")
def app(world: ConsoleWorld):  # type: ignore[no-untyped-def]
    from sathub.api.app import create_app

    return create_app(world.inst)


def sign_in(app: Any, key: str) -> TestClient:
    c = TestClient(app, base_url=BASE, follow_redirects=False)
    page = c.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post("/console/login", data={"key": key, "login_token": token, "next": "/console"},
               headers=SAME)  # fmt: skip
    assert r.status_code == 303, r.text
    return c


def gate_table(app: Any) -> list[tuple[str, re.Pattern[str], str]]:
    from sathub.api import gate

    return [(m, compile_path(r.path)[0], r.permission) for r in gate.routes(app) for m in r.methods]


def permission_of(table: list[tuple[str, re.Pattern[str], str]], method: str, path: str) -> str:
    found = {p for m, rx, p in table if m == method and rx.match(path)}
    assert len(found) == 1, (method, path, found)
    return found.pop()


def test_every_page_answers_its_roles_and_fails_closed_for_the_others(app, world: ConsoleWorld) -> None:  # type: ignore[no-untyped-def]
    from sathub.access.permissions import permission

    table = gate_table(app)
    own_org = {"partner": world.orgs["ytu"], "partner_b": world.orgs["redcross"]}
    offered: set[tuple[str, str]] = set()
    for role in ROLES:
        c = sign_in(app, world.keys[role])
        pages = dict(PAGES)
        for who, org in own_org.items():  # an organisation's page: its partner and admins
            pages[f"/console/partners/{org}"] = {"admin", who}
        for path, allowed in pages.items():
            r = c.get(path, headers=SAME)
            org_page = path.startswith("/console/partners/")
            if role in allowed:
                assert r.status_code == 200, (role, path, r.status_code)
            elif org_page and role.startswith("partner"):  # another's: as if it did not exist
                missing = c.get("/console/partners/999999", headers=SAME)
                other = path.rsplit("/", 1)[1]
                assert r.status_code == missing.status_code == 404, (role, path, r.status_code)
                said = f"organisation {other} not found"
                assert said in r.text, (role, path)
                assert r.text.replace(said, "") == missing.text.replace("organisation 999999 not found", ""), (role, path)
                continue
            else:
                assert r.status_code == 403, (role, path, r.status_code)
                assert ACTION.findall(r.text) == [("POST", "/console/logout")], (role, path)
                continue
            if r.status_code != 200:
                continue
            role_name = "partner" if role.startswith("partner") else role
            for method, target in ACTION.findall(r.text):
                name = permission_of(table, method, target)
                assert permission(name).allows(role_name), (role, path, method, target, name)
                offered.add((role, f"{method} {target}"))
        c.close()
    # the check has something to check: admins are offered the daily writes; partners only
    # signing out and searching opportunities (to order one)
    admin = {a for r, a in offered if r == "admin"}
    for expected in ("POST /admin/agreements", "POST /admin/keys", "POST /admin/activations",
                     "POST /ingest/verify", "POST /analytics/jobs", "POST /budget/commitments"):  # fmt: skip
        assert expected in admin, expected
    partner = {a for r, a in offered if r == "partner"}
    assert partner == {"POST /console/logout", "POST /orbits/opportunities"}, partner


def test_no_key_gets_the_sign_in_form_and_nothing_else(app) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(app, base_url=BASE, follow_redirects=False)
    for path in [*PAGES, "/console/partners/1"]:
        r = c.get(path, headers=SAME)
        assert r.status_code == 401, path
        assert 'name="login_token"' in r.text and 'class="side"' not in r.text, path
        assert not ACTION.findall(r.text), path
        browser = c.get(path, headers={**SAME, "Sec-Fetch-Mode": "navigate"})
        assert browser.status_code == 303
        assert browser.headers["location"].startswith("/console/login?next=")
