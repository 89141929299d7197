"""The budget API: the access matrix over every /budget route and every role (anonymous 401,
every role without the route's budget permission 403 at the gate — operators, analysts and
partners see nothing of the budget — the others pass), the same
service rules as the CLI (maker–checker by key, bad input 400 naming the field, nothing
written), and reports/exports over HTTP."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from sathub.access import keys
from sathub.access.service import AccessService
from sathub.api.app import create_app
from sathub.access.permissions import PERMISSIONS
from sathub.api import gate
from sathub.budget import permissions as budget_permissions
from sathub.budget import demo
from sathub.budget.service import BudgetService
from sathub.config import Settings

BUDGET = {budget_permissions.READ.name, budget_permissions.WRITE.name, budget_permissions.APPROVE.name}
ROLES = ["anonymous", "admin", "operator", "analyst", "partner", "finance_officer", "budget_approver",
         "budget_viewer", "finance_officer2", "budget_approver2"]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str]]:
    data = tmp_path_factory.mktemp("budget-api") / "data"
    settings = Settings(data=data)
    settings.layout.create()
    access = AccessService.for_layout(settings.layout)
    org = access.store.add_org("Partner", "government")
    tokens = {}
    for role in ROLES[1:]:
        base = role.rstrip("2")
        tokens[role] = keys.issue(access.store, base, org.id if base == "partner" else None)[0]
    svc = BudgetService.for_settings(settings, audit=access.audit)
    demo.build(svc, data)
    svc.store.close()
    with TestClient(create_app(settings)) as client:
        yield client, tokens


def _h(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {} if role == "anonymous" else {"Authorization": f"Bearer {tokens[role]}"}


def _routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path, permission) of every budget route, as the gate lists them."""
    return sorted((m, r.path, r.permission) for r in gate.routes(client.app)  # type: ignore[arg-type]
                  if r.path.startswith("/budget") for m in r.methods)  # fmt: skip


def _url(path: str) -> str:
    """Ids that do not exist: the matrix must change nothing (an allowed caller gets a 404 of
    the domain, or a 400 for the empty body)."""
    return re.sub(r"\{[a-z_]+\}", lambda m: {"{code}": "FY1999", "{norad_id}": "89001"}.get(m.group(0), "999999"), path)


def test_every_budget_route_declares_a_budget_permission(world: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = world
    routes = _routes(client)
    spec = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    in_openapi = {(m.upper(), p) for p, ops in spec.items() if p.startswith("/budget") for m in ops}
    assert in_openapi == {(m, p) for m, p, _ in routes} and len(routes) >= 35
    assert {p for _, _, p in routes} == BUDGET


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(world: tuple[TestClient, dict[str, str]], role: str) -> None:
    client, tokens = world
    base = role.rstrip("2")
    for method, path, perm in _routes(client):
        # an empty body: an allowed caller gets past the check to a 400 naming a field (or a
        # 2xx/404 of the domain); a refused one is refused before the body is read
        r = client.request(method, _url(path), headers=_h(tokens, role), json={},
                           params={"year": "FY2025", "start": "2025-04-01", "end": "2025-04-30"})  # fmt: skip
        where = f"{role} {method} {path}: {r.status_code} {r.text[:200]}"
        if role == "anonymous":
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", where
        elif base in PERMISSIONS[perm].roles:
            assert r.status_code not in (401, 403) and r.status_code < 500, where
        else:  # operators, analysts and partners see nothing of the budget; budget roles lack it
            assert r.status_code == 403 and r.json()["code"] == "Forbidden", where
            assert "budget" in r.json()["description"] and "FY" not in r.text, where


def test_maker_checker_by_key_and_bad_input(world: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = world
    fo, fo2, ap, ap2 = (_h(tokens, r) for r in ("finance_officer", "finance_officer2", "budget_approver",
                                                 "budget_approver2"))  # fmt: skip
    lines = client.get("/budget/lines?year=FY2025", headers=fo).json()
    dc = next(ln for ln in lines if ln["project"] == "DC" and ln["category"] == "infrastructure")
    body = {"line": dc["id"], "amount": "210000000", "currency": "MMK", "value_date": "2025-12-01",
            "counterparty": "Yangon Civil Works Co.", "links": [{"kind": "station", "ref": "YGN"}]}  # fmt: skip
    r = client.post("/budget/commitments", json=body, headers=fo)
    assert r.status_code == 201 and r.json()["detail"]["status"] == "pending"  # 100,000 USD > 50,000
    tx = r.json()["id"]
    assert client.post(f"/budget/commitments/{tx}/approve", json={}, headers=fo).status_code == 403  # role
    r = client.post(f"/budget/commitments/{tx}/approve", json={"note": "ok"}, headers=ap)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = client.post(f"/budget/commitments/{tx}/approve", json={}, headers=ap)
    assert r.status_code == 409 and r.json()["field"] == "approver"
    got = client.get(f"/budget/transactions/{tx}", headers=_h(tokens, "budget_viewer")).json()
    assert [a["approver"] for a in got["approvals"]] == [got["approvals"][0]["approver"]]
    assert got["approvals"][0]["approver"].startswith("key:") and got["approvals"][0]["approver"] != got["created_by"]
    assert got["links"][0]["ref"] == "YGN" and got["amount"] == "210000000.00"
    # an admin's own commitment: the admin cannot approve it, another approver can
    r = client.post("/budget/commitments", json={**body, "amount": "105000021.00"}, headers=_h(tokens, "admin"))
    tx2 = r.json()["id"]
    r = client.post(f"/budget/commitments/{tx2}/approve", json={}, headers=_h(tokens, "admin"))
    assert r.status_code == 403 and r.json()["field"] == "approver"
    assert client.post(f"/budget/commitments/{tx2}/reject", json={}, headers=ap2).json()["status"] == "rejected"
    # bad input: 400 naming the field; nothing written
    before = client.get("/budget/transactions", headers=fo).json()
    for bad, field in (({"amount": 12.5}, "amount"), ({"amount": "-1"}, "amount"), ({"amount": "1.001"}, "amount"),
                       ({"currency": "XXX"}, "currency"), ({"value_date": "2025-13-01"}, "value_date"),
                       ({"value_date": "2027-01-01"}, "value_date"), ({"currency": "GBP"}, "value_date"),
                       ({"line": 9999}, "line"), ({"counterparty": ""}, "counterparty"),
                       ({"links": [{"kind": "satellite", "ref": "1"}]}, "satellite")):  # fmt: skip
        r = client.post("/budget/commitments", json={**body, **bad}, headers=fo2)
        assert 400 <= r.status_code < 500 and field in (r.json().get("field", "") + r.json()["description"]), (bad, r.text)
    assert client.get("/budget/transactions", headers=fo).json() == before


def test_reports_and_exports_over_http(world: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = world
    h = _h(tokens, "budget_viewer")
    rep = client.get("/budget/report?by=project,year", headers=h).json()
    assert sum(Decimal(r["revised"]) for r in rep["rows"]) == Decimal(rep["total"]["revised"])
    assert client.get("/budget/report?by=colour", headers=h).json()["field"] == "group_by"
    assert client.get("/budget/report?format=png", headers=h).content[:4] == b"\x89PNG"
    assert client.get("/budget/report?format=xlsx", headers=h).content[:2] == b"PK"
    assert client.get("/budget/report?format=csv", headers=h).text.startswith("category,approved")
    xml = client.get("/budget/exports/iati", headers=h)
    assert xml.status_code == 200 and b'version="2.03"' in xml.content
    z = zipfile.ZipFile(io.BytesIO(client.get("/budget/exports/fdp", headers=h).content))
    assert sorted(z.namelist()) == ["budget.csv", "datapackage.json"]
    cost = client.get("/budget/satellites/89001", headers=h).json()
    assert cost["projects"] == ["LAUNCH", "MMSAT1"] and Decimal(cost["spent_so_far"]) > 0
    f = client.get("/budget/forecast?year=FY2025&as_of=2025-12-15", headers=h).json()
    assert f["days_left"] == 106
    hist = client.get("/budget/years/FY2025/versions", headers=h).json()
    assert [v["kind"] for v in hist] == ["original", "revision"] and hist[1]["reason"].startswith("Mid-year")


def test_openapi_lists_the_budget(world: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = world
    r = client.get("/api")
    paths = r.json()["paths"]
    assert "/budget/report" in paths and "/budget/commitments" in paths
    assert paths["/budget/commitments"]["post"]["tags"] == ["Budget"]
