"""Admin actions are access-service methods that write and audit together: the CLI and the
admin API call the same method and leave identical audit records; a record that cannot be
written leaves no change behind."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_access_fixtures import AOI_A, World, auth, build_world
from typer.testing import CliRunner

from sathub.access.audit_config import AuditConfig
from sathub.access.service import AccessService
from sathub.api.app import create_app
from sathub.cli import app as cli_app
from sathub.errors import AuditUnavailable

FROZEN = 1_767_225_600.0  # 2026-01-01T00:00:00Z: both runs see the same clock


def _cli(world: World, tmp_path: Path) -> None:
    """The actions through the CLI."""
    aoi = tmp_path / "aoi.json"
    aoi.write_text(json.dumps(AOI_A))
    data = ["--data", str(world.data)]
    runner = CliRunner()

    def run(*args: str) -> str:
        r = runner.invoke(cli_app, [*args, *data])
        assert r.exit_code == 0, (args, r.output)
        return r.stdout.strip()

    run("orgs", "add", "E", "--kind", "company")
    agr = run("agreements", "add", "--org", "E", "--title", "E1", "--collections", "res,open",
              "--from", "2024-01-01", "--to", "2024-12-31", "--valid-until", "2099-01-01")  # fmt: skip
    run("keys", "issue", "--role", "partner", "--org", "E", "--expires", "2030-01-01", "--label", "l")
    key_id = max(k.id for k in world.service.store.keys())
    run("agreements", "suspend", agr)
    run("agreements", "renew", agr, "--until", "2099-06-30")
    run("agreements", "terminate", agr)
    run("keys", "revoke", str(key_id))
    run("collections", "open", "res")
    run("collections", "restrict", "res")
    act = run("activations", "open", "--name", "quake", "--aoi", str(aoi), "--days", "1", "--public")
    run("activations", "close", act)


def _api(world: World) -> None:
    """The same actions through the admin API."""
    with TestClient(create_app(world.settings)) as c:
        h = auth(world, "admin")

        def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
            r = c.request(method, path, json=body, headers=h)
            assert r.status_code == status, (path, r.text)
            return r.json()

        call("POST", "/admin/orgs", {"name": "E", "kind": "company"}, 201)
        agr = call("POST", "/admin/agreements", {
            "org": "E", "title": "E1", "collections": ["res", "open"], "acquired_from": "2024-01-01",
            "acquired_to": "2024-12-31", "valid_to": "2099-01-01"}, 201)["id"]  # fmt: skip
        key_id = call("POST", "/admin/keys", {"role": "partner", "org": "E", "expires": "2030-01-01",
                                              "label": "l"}, 201)["id"]  # fmt: skip
        call("POST", f"/admin/agreements/{agr}/suspend")
        call("POST", f"/admin/agreements/{agr}/renew", {"valid_to": "2099-06-30"})
        call("POST", f"/admin/agreements/{agr}/terminate")
        call("POST", f"/admin/keys/{key_id}/revoke")
        call("PUT", "/admin/collections/res/access", {"level": "open"})
        call("PUT", "/admin/collections/res/access", {"level": "restricted"})
        act = call("POST", "/admin/activations", {"name": "quake", "aoi": AOI_A, "days": 1}, 201)["id"]
        call("POST", f"/admin/activations/{act}/close")


def _records(world: World, since: int) -> list[dict[str, Any]]:
    return [r for r in AccessService.for_settings(world.settings).audit.records() if r["seq"] > since]


def test_cli_and_api_leave_identical_audit_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    worlds = {how: build_world(tmp_path / how / "data") for how in ("cli", "api")}
    start = {how: max(r["seq"] for r in w.service.audit.records()) for how, w in worlds.items()}
    monkeypatch.setattr(time, "time", lambda: FROZEN)
    _cli(worlds["cli"], tmp_path)
    _api(worlds["api"])
    got = {how: _records(w, start[how]) for how, w in worlds.items()}
    assert {r["actor"] for r in got["cli"] if r["action"] != "state"} == {"cli:" + __import__("getpass").getuser()}
    assert {r["actor"] for r in got["api"] if r["action"] != "state"} == {worlds["api"].service.store.actor_for_key(
        [k for k in worlds["api"].service.store.keys() if k.role == "admin"][0]).name}  # fmt: skip

    def admin(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(r["action"], r["resource"], r["bytes"], r["outcome"], r["agreement_id"], r["activation_id"],
                 r["detail"], r["ts"]) for r in records if r["action"] != "state"]  # fmt: skip

    assert admin(got["cli"]) == admin(got["api"])
    assert [r["action"] for r in admin_records(got["cli"])] == [
        "admin.org.add", "admin.agreement.add", "admin.key.issue", "admin.agreement.suspended",
        "admin.agreement.active", "admin.agreement.terminated", "admin.key.revoke",
        "admin.collection.open", "admin.collection.restricted", "admin.activation.open",
        "admin.activation.close"]  # fmt: skip
    # the chained-row records (digests of what changed) come in the same order on both paths;
    # a key's row holds its random token's hash and an activation's who opened it, so only
    # their order is compared; every other row is stored identically
    state = {how: [(r["resource"], r["detail"]["sha256"]) for r in rs if r["action"] == "state"]
             for how, rs in got.items()}  # fmt: skip
    assert [s[0] for s in state["cli"]] == [s[0] for s in state["api"]]

    def same_rows(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [s for s in rows if not s[0].startswith(("key:", "activation:"))]

    assert same_rows(state["cli"]) == same_rows(state["api"]) and len(same_rows(state["cli"])) >= 6
    detail = {r["action"]: r["detail"] for r in got["cli"] if r["action"] != "state"}
    assert detail["admin.agreement.add"] == {"org": "E", "org_id": 5, "status": "active",
                                             "collections": ["res", "open"]}  # fmt: skip
    assert detail["admin.key.issue"]["expires"] == "2030-01-01T23:59:59.999999Z"
    assert detail["admin.agreement.active"] == {"status": "active", "valid_to": "2099-06-30T23:59:59.999999Z"}


def admin_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["action"] != "state"]


class _FailSecond:
    """An anchor that takes one line and then cannot be written."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        if self.lines:
            raise OSError("disk full")
        self.lines.append(line)

    def describe(self) -> str:
        return "fail-second"


@pytest.mark.parametrize("action", [
    lambda s: s.add_org("cli:test", "Acme", "company"),
    lambda s: s.add_agreement("cli:test", "A", title="t", collections=("res",)),
    lambda s: s.issue_key("cli:test", "analyst"),
    lambda s: s.suspend_agreement("cli:test", 1),
    lambda s: s.open_activation("cli:test", name="q", aoi=AOI_A, days=1),
])  # fmt: skip
def test_no_change_without_its_audit_record(tmp_path: Path, action: Any) -> None:
    """The change's state record is anchored, the admin record after it cannot be: neither the
    change nor any record of it remains (before, the change stayed without its admin record)."""
    world = build_world(tmp_path / "data")
    s = world.service
    before = (s.store.orgs(), s.store.keys(), s.store.agreements(), s.store.activations(), s.audit.records())
    good = s.audit.config
    s.audit.config = AuditConfig(good.key, (_FailSecond(),), 1, good.data_root)
    with pytest.raises(AuditUnavailable, match="fail-second cannot be written"):
        action(s)
    s.audit.config = good
    after = (s.store.orgs(), s.store.keys(), s.store.agreements(), s.store.activations(), s.audit.records())
    assert after == before
