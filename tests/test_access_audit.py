"""The audit log's hash chain (modified, inserted, deleted records are detected), quotas (429
with Retry-After), downloads charged and audited, tiles aggregated per item and hour, partner
searches and admin changes audited, and the CLI around them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_access_fixtures import World, auth, build_world
from typer.testing import CliRunner

from sathub.access.audit import AuditLog
from sathub.access.service import AccessService
from sathub.api.app import create_app
from sathub.cli import app as cli_app


@pytest.fixture()
def log(tmp_path: Path) -> AuditLog:
    service = AccessService(tmp_path, tmp_path / "secrets")
    for i in range(5):
        service.audit.append(f"key:{i}", "download", f"c/i{i}/data", nbytes=100 * i)
    return service.audit


COLS = "seq, ts, actor, action, resource, bytes, outcome, agreement_id, activation_id, detail, prev, hash"


def _sql(log: AuditLog, sql: str, *params: Any) -> None:
    c = sqlite3.connect(log.store.path)
    c.execute(sql, params)
    c.commit()
    c.close()


def test_intact_chain_verifies(log: AuditLog) -> None:
    r = log.verify()
    assert r.ok and r.records == 6 and not r.problems  # the baseline and five records


def test_modified_record_is_detected(log: AuditLog) -> None:
    _sql(log, "UPDATE audit SET bytes = 1 WHERE seq = 3")
    r = log.verify()
    assert not r.ok and any("record 3" in p and "modified" in p for p in r.problems)


def test_deleted_record_is_detected(log: AuditLog) -> None:
    _sql(log, "DELETE FROM audit WHERE seq = 2")
    r = log.verify()
    assert not r.ok and any("missing" in p for p in r.problems)


def test_deleted_last_record_is_detected(log: AuditLog) -> None:
    _sql(log, "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    r = log.verify()
    assert not r.ok and any("head" in p for p in r.problems)


def test_inserted_record_is_detected(log: AuditLog) -> None:
    row = log.store.conn().execute("SELECT prev, hash FROM audit WHERE seq = 6").fetchone()
    _sql(log, f"INSERT INTO audit ({COLS}) VALUES (7, 0, 'x', 'download', 'r', 0, 'ok', NULL, NULL, '{{}}', ?, ?)",
         row[1], "f" * 64)  # fmt: skip
    r = log.verify()
    assert not r.ok and any("record 7" in p for p in r.problems)
    # renumbering to hide an insertion in the middle breaks the links as well
    _sql(log, "DELETE FROM audit WHERE seq = 7")
    _sql(log, "UPDATE audit SET seq = seq + 10 WHERE seq >= 3")
    _sql(log, f"INSERT INTO audit ({COLS}) VALUES (3, 0, 'x', 'download', 'r', 0, 'ok', NULL, NULL, '{{}}', ?, ?)",
         row[0], "e" * 64)  # fmt: skip
    assert not log.verify().ok


def test_tiles_are_aggregated_per_item_and_hour(log: AuditLog) -> None:
    t0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600
    for k in range(7):
        log.record_tile("key:9", "c/i1", nbytes=10, agreement_id=None, activation_id=None, now=t0 + k)
    log.record_tile("key:9", "c/i2", nbytes=5, agreement_id=None, activation_id=None, now=t0 + 10)
    assert not [r for r in log.records() if r["action"] == "tiles"]  # the hour is not over
    log.record_tile("key:9", "c/i1", nbytes=1, agreement_id=None, activation_id=None, now=t0 + 3601)
    tiles = [r for r in log.records() if r["action"] == "tiles"]
    assert {(r["resource"], r["detail"]["requests"], r["bytes"]) for r in tiles} == {("c/i1", 7, 70), ("c/i2", 1, 5)}
    log.flush_tiles(everything=True)
    assert len([r for r in log.records() if r["action"] == "tiles"]) == 3
    assert log.verify().ok


# ------------------------------------------------------------------- through the API
@pytest.fixture()
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "data")


@pytest.fixture()
def client(world: World) -> Any:
    with TestClient(create_app(world.settings)) as c:
        yield c


def _get(client: Any, path: str, n: int, headers: dict[str, str]) -> Any:
    """Download the first ``n`` bytes of an asset (``/c/i/asset``) through the real route."""
    c, i, a = path.split("/")
    return client.get(f"/collections/{c}/items/{i}/assets/{a}",
                      headers={**headers, "Range": f"bytes=0-{n - 1}"})


def test_quota_is_charged_then_429_with_retry_after(client: Any, world: World) -> None:
    s = world.service.store
    s.update_agreement(world.agreement_ids["A"], quota_bytes=1000)
    h = auth(world, "partnerA")
    assert _get(client, "res/in/data", 600, h).status_code == 206
    assert _get(client, "res/in/data", 400, h).status_code == 206
    r = _get(client, "res/in/data", 1, h)
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) > 0
    body = r.json()
    assert body["code"] == "QuotaExceeded" and "1,000 bytes" in body["description"]
    # out of scope stays 404, and everything was audited
    assert _get(client, "res/out/data", 1, h).status_code == 404
    recs = [r for r in world.service.audit.records() if r["action"] == "download"]
    assert [(r["bytes"], r["outcome"]) for r in recs] == [(600, "ok"), (400, "ok"), (0, "quota exceeded")]
    assert all(r["agreement_id"] == world.agreement_ids["A"] for r in recs)


def test_asset_roles_limit_what_is_served(client: Any, world: World) -> None:
    world.service.store.update_agreement(world.agreement_ids["A"], asset_roles=("thumbnail",))
    h = auth(world, "partnerA")
    assert _get(client, "res/in/thumbnail", 5, h).status_code == 206
    assert _get(client, "res/in/data", 5, h).status_code == 403
    # open items and unrestricted roles are not limited by agreements
    assert _get(client, "open/o1/data", 5, h).status_code == 206
    assert _get(client, "res/in/data", 5, auth(world, "analyst")).status_code == 206


def test_activation_lifts_embargo_and_is_audited_as_such(client: Any, world: World) -> None:
    h = auth(world, "partnerD")
    assert _get(client, "res/fresh/data", 7, h).status_code == 206
    rec = [r for r in world.service.audit.records() if r["action"] == "download"][-1]
    assert rec["activation_id"] is not None and rec["agreement_id"] is None
    # partner A (agreement with a 10-day embargo) cannot have it yet
    assert _get(client, "res/fresh/data", 7, auth(world, "partnerA")).status_code == 404


def test_partner_searches_are_audited_anonymous_are_not(client: Any, world: World) -> None:
    client.get("/search?collections=res", headers=auth(world, "partnerA"))
    client.get("/search")
    searches = [r for r in world.service.audit.records() if r["action"] == "search"]
    assert len(searches) == 1 and searches[0]["outcome"] == "200" and "collections=res" in searches[0]["resource"]
    assert searches[0]["actor"].endswith("(A)")


def test_suspension_and_expiry_take_effect_at_once(client: Any, world: World) -> None:
    h = auth(world, "partnerA")
    assert client.get("/collections/res/items/in", headers=h).status_code == 200
    world.service.store.update_agreement(world.agreement_ids["A"], status="suspended")
    assert client.get("/collections/res/items/in", headers=h).status_code == 404
    world.service.store.update_agreement(world.agreement_ids["A"], status="active", valid_to=1.0)
    assert client.get("/collections/res/items/in", headers=h).status_code == 404


# ------------------------------------------------------------------------------ CLI
def test_cli_flow_init_keys_agreements_verify_and_reports(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "d"
    r = runner.invoke(cli_app, ["init", str(data)])
    assert r.exit_code == 0 and "sh_" in r.stderr
    r2 = runner.invoke(cli_app, ["init", str(data)])
    assert r2.exit_code == 0 and "sh_" not in r2.output  # idempotent, no new key
    d = ["--data", str(data)]
    assert runner.invoke(cli_app, ["orgs", "add", "Acme", "--kind", "company", *d]).exit_code == 0
    assert runner.invoke(cli_app, ["orgs", "add", "Acme", "--kind", "spaceship", *d]).exit_code == 2
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}))
    r = runner.invoke(cli_app, ["agreements", "add", "--org", "Acme", "--collections", "a,b", *d])
    assert r.exit_code == 2 and "'a' not found" in r.stderr  # agreements name existing collections
    from sathub.catalog.sqlite import SQLiteStore
    from sathub.ingest.collections import new_collection

    catalog = SQLiteStore(data / "catalog.db")
    with catalog.transaction() as tx:
        tx.put_collection(new_collection("a"), mode="insert")
        tx.put_collection(new_collection("b"), mode="insert")
    catalog.close()
    r = runner.invoke(cli_app, ["agreements", "add", "--org", "Acme", "--collections", "a,b",
                                "--aoi", str(aoi), "--from", "2024-01-01", "--to", "2024-01-31",
                                "--embargo-days", "3", "--quota-bytes", "1000", *d])  # fmt: skip
    assert r.exit_code == 0, r.output
    agr_id = int(r.stdout.strip())
    r = runner.invoke(cli_app, ["keys", "issue", "--org", "Acme", "--role", "partner", *d])
    assert r.exit_code == 0 and r.stdout.startswith("sh_") and len(r.stdout.strip().splitlines()) == 1
    assert runner.invoke(cli_app, ["collections", "restrict", "a", *d]).exit_code == 0
    assert runner.invoke(cli_app, ["agreements", "suspend", str(agr_id), *d]).exit_code == 0
    assert runner.invoke(cli_app, ["agreements", "renew", str(agr_id), "--until", "2030-12-31", *d]).exit_code == 0
    assert runner.invoke(cli_app, ["keys", "revoke", "2", *d]).exit_code == 0
    service = AccessService(data, data / "secrets")
    a = service.store.agreement(agr_id)
    assert a.status == "active" and a.acquired_to is not None and a.acquired_to % 86400 > 86399
    actions = [r["action"] for r in service.audit.records()]
    assert {"admin.agreement.add", "admin.key.issue", "admin.collection.restricted",
            "admin.agreement.suspended", "admin.agreement.active", "admin.key.revoke"} <= set(actions)
    assert runner.invoke(cli_app, ["audit", "verify", *d]).exit_code == 0
    for fmt in ("json", "csv"):
        r = runner.invoke(cli_app, ["usage", "--agreement", str(agr_id), "--format", fmt, *d])
        assert r.exit_code == 0 and "admin.agreement" in r.stdout
    png = tmp_path / "u.png"
    r = runner.invoke(cli_app, ["usage", "--agreement", str(agr_id), "--format", "png", "-o", str(png), *d])
    assert r.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    c = sqlite3.connect(data / "access.db")
    c.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 2")
    c.commit()
    c.close()
    r = runner.invoke(cli_app, ["audit", "verify", *d])
    assert r.exit_code == 1 and "record 2" in r.stderr


def test_every_access_command_and_option_is_documented() -> None:
    import typer.main

    doc = (Path(__file__).resolve().parents[1] / "docs" / "access.md").read_text()
    group = typer.main.get_command(cli_app)
    for name in ("orgs", "agreements", "keys", "collections", "activations", "audit", "usage"):
        cmd = group.commands[name]  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", {"": cmd})
        for sub_name, sub in subs.items():
            assert f"{name} {sub_name}".strip() in doc or sub_name in doc, (name, sub_name)
            for p in sub.params:
                for opt in getattr(p, "opts", []):
                    if opt.startswith("--") and opt not in ("--data", "--help"):
                        assert opt in doc, (name, sub_name, opt)


def test_values_are_hashed_as_they_are_read_back(log: AuditLog) -> None:
    """An integer time or a numeric string id must not make the record fail verification."""
    log.append("key:1", "download", "c/i/data", ts=1_700_000_000, agreement_id="3", nbytes=True)  # type: ignore[arg-type]
    assert log.verify().ok


def test_log_emptied_while_serving_leaves_evidence(log: AuditLog) -> None:
    _sql(log, "DELETE FROM audit")
    _sql(log, "DELETE FROM audit_head")
    log.append("key:1", "download", "c/i/data", nbytes=1)
    assert [r["action"] for r in log.records()] == ["audit.head.mismatch", "download"]
    r = log.verify()
    assert not r.ok and any("no baseline" in p for p in r.problems)


def test_partner_search_record_is_committed_before_the_answer_ends(world: World) -> None:
    """Each partner search (answered, refused or failed validation) has its one record
    committed when the last byte of its answer is sent, not after."""
    app = create_app(world.settings)
    at_last_byte: list[int] = []

    def searches() -> list[dict[str, Any]]:
        return [r for r in world.service.audit.records() if r["action"] == "search"]

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: Any) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                at_last_byte.append(len(searches()))
            await send(message)

        await app(scope, receive, spy if scope["type"] == "http" else send)

    h = auth(world, "partnerA")
    with TestClient(outer) as c:
        codes = [c.get("/search?collections=res", headers=h).status_code,
                 c.post("/search", json={"collections": ["res"], "limit": 1}, headers=h).status_code,
                 c.get("/collections/res/items", headers=h).status_code,
                 c.get("/search?bbox=1,2", headers=h).status_code,
                 c.get("/aggregate?aggregations=total_count", headers=h).status_code]  # fmt: skip
    assert codes[:3] == [200, 200, 200] and codes[3] == 400, codes
    assert at_last_byte == [1, 2, 3, 4, 5]
    recs = searches()
    assert [r["outcome"] for r in recs] == [str(c) for c in codes]
    assert [r["detail"]["method"] if isinstance(r["detail"], dict) else json.loads(r["detail"])["method"]
            for r in recs] == ["GET", "POST", "GET", "GET", "GET"]  # fmt: skip
