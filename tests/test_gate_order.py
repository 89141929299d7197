"""The gate answers before anything reads the request: a body that is not JSON (which FastAPI
parses before it calls a route's dependencies) or a malformed path parameter is a 401/403 for
a caller the route's permission refuses, exactly as a well-formed request is, never a 400 that
names what the body or path should be. Found by the stateful schemathesis helper: a partner's
``POST /admin/keys`` with an unparsable body answered 400, with a well-formed one 403."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import issue_key
from fastapi.testclient import TestClient

from sathub.access.permissions import permission
from sathub.api import gate
from sathub.api.app import create_app
from sathub.app import Installation
from sathub.config import Settings

WRITES = ("POST", "PUT", "PATCH")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str], list[gate.RouteInfo]]:
    inst = Installation.create(Settings(data=Path(tmp_path_factory.mktemp("gate")) / "data"))
    app = create_app(inst)
    partner = {"Authorization": f"Bearer {issue_key(inst, 'partner', 'uni')}"}
    return TestClient(app, raise_server_exceptions=False), partner, gate.routes(app)


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)  # "x" is not an int: a malformed path parameter too


@pytest.mark.parametrize("role", ["anonymous", "partner"])
def test_a_refused_caller_gets_the_gates_answer_whatever_the_body(world, role: str) -> None:  # type: ignore[no-untyped-def]
    client, partner, routes = world
    headers = {"content-type": "application/json", **(partner if role == "partner" else {})}
    expected = 401 if role == "anonymous" else 403
    checked, wrong = 0, []
    for r in routes:
        if permission(r.permission).allows(role):
            continue
        for method in set(r.methods) & set(WRITES):
            url = _url(r.path)
            good = client.request(method, url, json={}, headers=headers)
            bad = client.request(method, url, content=b"{not json", headers=headers)
            checked += 1
            if (good.status_code, bad.status_code) != (expected, expected):
                wrong.append((method, r.path, good.status_code, bad.status_code, bad.text[:120]))
    assert checked >= 10, checked
    assert not wrong, wrong


def test_a_permitted_caller_still_gets_the_400_naming_the_body(world) -> None:  # type: ignore[no-untyped-def]
    client, _partner, _routes = world
    r = client.post("/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidInput", r.text
