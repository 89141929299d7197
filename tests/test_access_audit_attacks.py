"""The attacks of issue 11 ("The audit can be rewritten") against ``sathub audit verify``.

Each test builds an installation, serves downloads and tiles through the API, lets the
attacker of :mod:`audit_support` (anything under the data directory, nothing outside it)
tamper, and expects ``sathub audit verify`` to exit 1 naming what was done. Before the
anchored audit every one of them passed verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_support import Attacker, outside_key
from fastapi import Request
from fastapi.testclient import TestClient
from test_access_fixtures import World, auth, build_world
from typer.testing import CliRunner

from sathub.api.app import create_app
from sathub.cli import app as cli_app


def _serve(world: World) -> None:
    """An agreement change, downloads and tiles of this hour (charged against partner A's
    agreement), and six partner searches last (uncharged records at the end)."""
    from sathub.api.access import audit

    app = create_app(world.settings)

    @app.get("/_test/tile/{c}/{i}")  # tile uses of a known size (the world's assets are not rasters)
    def _tile(c: str, i: str, n: int, request: Request) -> dict[str, Any]:
        agreement = world.service.store.agreement(world.agreement_ids["A"])
        audit(request, "tiles", f"{c}/{i}", nbytes=n, agreement_id=agreement.id, quota=agreement)
        return {"served": n}

    h = auth(world, "partnerA")
    world.service.store.update_agreement(world.agreement_ids["A"], quota_bytes=10**9)
    with TestClient(app) as client:
        for n in (600, 400, 123):  # downloads through the real route, n bytes each
            r = client.get("/collections/res/items/in/assets/data",
                           headers={**h, "Range": f"bytes=0-{n - 1}"})  # fmt: skip
            assert r.status_code == 206
        for n in (10, 20, 30):
            assert client.get(f"/_test/tile/res/in?n={n}", headers=h).status_code == 200
        for _ in range(6):
            assert client.get("/search?collections=res", headers=h).status_code == 200


def _verify(world: World, *extra: str) -> Any:
    return CliRunner().invoke(cli_app, ["audit", "verify", "--data", str(world.data), *extra])


@pytest.fixture(params=["default", "anchored"])
def setup(request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[World, str]:
    """``default``: the key in DATA/secrets, no anchor. ``anchored``: the key and an anchor
    file in a directory the attacker cannot touch."""
    if request.param == "anchored":
        safe = tmp_path / "outside"
        safe.mkdir()
        monkeypatch.setenv("SATHUB_AUDIT_KEY_FILE", str(outside_key(safe)))
        monkeypatch.setenv("SATHUB_AUDIT_ANCHOR", str(safe / "anchor.log"))
    world = build_world(tmp_path / "data")
    _serve(world)
    r = _verify(world)
    assert r.exit_code == 0, r.stderr
    return world, request.param


def test_whole_log_deletion_is_detected(setup: tuple[World, str]) -> None:
    world, mode = setup
    Attacker(world.data).delete_everything()
    r = _verify(world)
    assert r.exit_code == 1, r.stderr
    if mode == "anchored":
        assert "anchor" in r.stderr and "were removed" in r.stderr
    else:  # the agreements, keys and organisations are still there: their records are not
        assert "head was missing" in r.stderr


def test_deleting_the_whole_database_is_caught_by_the_anchor_only(setup: tuple[World, str]) -> None:
    world, mode = setup
    for f in world.data.glob("access.db*"):
        f.unlink()
    (world.data / "secrets" / "audit.head").unlink(missing_ok=True)
    r = _verify(world)
    if mode == "anchored":
        assert r.exit_code == 1 and "were removed" in r.stderr, r.stderr
    else:  # nothing is left to tell: verify says what it cannot check
        assert r.exit_code == 0 and "anchor not configured" in r.stderr, r.stderr


@pytest.mark.parametrize("keep", [1, 5])
def test_truncated_tail_with_the_head_rewritten_is_detected(setup: tuple[World, str], keep: int) -> None:
    world, mode = setup
    a = Attacker(world.data)
    last = a.last()
    assert last is not None and last[0] > 5
    a.truncate(last[0] - keep)
    r = _verify(world)
    if mode == "anchored":
        assert r.exit_code == 1 and "were removed" in r.stderr, r.stderr
    else:  # the key is in the data directory: the attacker signs the head; only a limit is stated
        assert r.exit_code == 0 and "the audit key is inside the data directory" in r.stderr


def test_truncated_tail_without_the_key_is_detected_by_the_signed_head(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Key outside the data directory, no anchor: rewriting the head from the database (no
    secret needed before) no longer works."""
    monkeypatch.setenv("SATHUB_AUDIT_KEY_FILE", str(outside_key(tmp_path)))
    world = build_world(tmp_path / "data")
    _serve(world)
    a = Attacker(world.data)
    last = a.last()
    assert last is not None
    a.truncate(last[0] - 1)
    r = _verify(world)
    assert r.exit_code == 1 and "head" in r.stderr, r.stderr


def test_rewritten_suffix_with_the_key_inside_and_no_anchor_is_a_stated_limit(
        tmp_path: Path) -> None:  # fmt: skip
    """The default layout: the attacker re-chains everything after the record it changed with
    the key from the data directory; verify cannot see it and says so."""
    world = build_world(tmp_path / "data")
    _serve(world)
    a = Attacker(world.data)
    seq = max(r["seq"] for r in world.service.audit.records() if r["action"] == "search")
    a.rewrite_from(seq, resource="/search?collections=open")
    r = _verify(world)
    assert r.exit_code == 0 and "the audit key is inside the data directory" in r.stderr
    assert "anchor not configured" in r.stderr


def test_rewritten_suffix_with_the_key_inside_and_an_anchor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The same attack; the anchor outside the data directory still holds the old hashes."""
    safe = tmp_path / "outside"
    safe.mkdir()
    monkeypatch.setenv("SATHUB_AUDIT_ANCHOR", str(safe / "anchor.log"))
    world = build_world(tmp_path / "data")
    _serve(world)
    a = Attacker(world.data)
    seq = max(r["seq"] for r in world.service.audit.records() if r["action"] == "search")
    a.rewrite_from(seq, resource="/search?collections=open")
    r = _verify(world)
    assert r.exit_code == 1 and f"record {seq} differs from the hash anchored" in r.stderr, r.stderr


def test_usage_edit_is_detected(setup: tuple[World, str]) -> None:
    world, _ = setup
    Attacker(world.data).sql("UPDATE usage SET bytes = 0")
    r = _verify(world)
    assert r.exit_code == 1, r.stderr
    agr = world.agreement_ids["A"]
    assert f"usage of agreement {agr}" in r.stderr and "the audit records 1,183 bytes" in r.stderr, r.stderr
    r = _verify(world, "--format", "json")  # the same, for scripts
    assert r.exit_code == 1
    assert any(p.startswith(f"usage of agreement {agr}") for p in json.loads(r.stdout)["problems"])


@pytest.mark.parametrize("table, sql, resource", [
    ("agreements", "UPDATE agreements SET content = replace(content, '\"status\":\"suspended\"', "
                   "'\"status\":\"active\"') WHERE id = 3", "agreement:3"),
    ("agreements", "DELETE FROM agreements WHERE id = 2", "agreement:2"),
    ("activations", "UPDATE activations SET content = replace(content, '\"org_ids\":[4]', "
                    "'\"org_ids\":null')", "activation:1"),
    ("keys", "UPDATE keys SET role = 'admin' WHERE role = 'partner'", "key:"),
    ("keys", "UPDATE keys SET revoked = NULL", "key:"),
    ("orgs", "INSERT INTO orgs (name, kind, created) VALUES ('Mallory', 'company', 0)", "org:5"),
    ("collection_access", "UPDATE collection_access SET level = 'open'", "collection:res"),
])  # fmt: skip
def test_access_rows_edited_outside_the_api_are_named(setup: tuple[World, str], table: str,
                                                      sql: str, resource: str) -> None:  # fmt: skip
    world, _ = setup
    a = Attacker(world.data)
    before = a.db.total_changes
    a.sql(sql)
    assert a.db.total_changes > before, "the attack changed nothing"
    r = _verify(world)
    assert r.exit_code == 1, r.stderr
    assert f"tampered: {resource}" in r.stderr, r.stderr


def test_pending_tile_rows_edited_are_detected(setup: tuple[World, str]) -> None:
    world, _ = setup
    Attacker(world.data).sql("UPDATE tile_pending SET requests = 1, bytes = 1")
    r = _verify(world)
    assert r.exit_code == 1 and "tile_pending row" in r.stderr, r.stderr


def test_edited_pending_row_of_a_finished_hour_stays_evidence(setup: tuple[World, str]) -> None:
    """A tampered row of a finished hour is not laundered into a valid record by the flush."""
    world, _ = setup
    Attacker(world.data).sql("UPDATE tile_pending SET bytes = 1, hour = hour - 2")
    r = _verify(world)
    assert r.exit_code == 1 and "failed its MAC" in r.stderr, r.stderr
    assert _verify(world).exit_code == 1  # and it stays reported


def test_editing_the_admin_route_answer_needs_no_cli(setup: tuple[World, str]) -> None:
    """The admin API runs the same verification."""
    world, _ = setup
    Attacker(world.data).sql("UPDATE usage SET requests = requests + 1")
    app = create_app(world.settings)
    with TestClient(app) as client:
        v = client.get("/admin/audit/verify", headers=auth(world, "admin")).json()
    assert v["ok"] is False and any("usage of agreement" in p for p in v["problems"])
    assert v["checked"] and isinstance(v["not_checked"], list)
