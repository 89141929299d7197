"""``sathub migrate``: the demo archive moved to PostgreSQL/pgstac + S3 and back.

References are independent of the migration: the source's own API answers (search pages and
item documents), the SHA-256 of every asset's bytes against its ``file:checksum``, row counts
read with the sqlite3 module, what the target server reads through its own stores (orgs,
keys, agreements, budget, jobs, satellites, orders), and the audit chain verified on the target.
The kill trials run the real command in a subprocess and SIGKILL it at a random checkpoint or
after a random delay; a re-run must end in the reference state.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pg_support import new_database, s3_settings
from typer.testing import CliRunner

from sathub.api.app import create_app
from sathub.app import Installation
from sathub.cli import app as cli
from sathub.cli.migrate import side_settings
from sathub.errors import Forbidden
from sathub.storage import signing
from sathub.storage.keys import is_key


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo archive, plus every other kind of state: an organisation, keys, an agreement,
    a job, satellites with element sets, an order."""
    from datetime import UTC, datetime, timedelta

    from test_analytics_support import demo_settings

    from sathub.config import Settings
    from sathub.orbits.elements import parse_tle
    from sathub.orbits.orders import OrderBook, OrderRequest
    from sathub.orbits.registry import Registry, Satellite

    root = tmp_path_factory.mktemp("migrate") / "src"
    # a demo archive of its own: the one built once per process is shared with the analytics
    # tests of the same xdist worker, which publish derived collections into it
    shutil.copytree(demo_settings.__wrapped__().data, root)
    with Installation.open(Settings(data=root)) as inst:
        inst.access.bootstrap()
        with inst.catalog.transaction() as tx:  # whole-number coordinates (PostGIS: 96, not 96.0)
            tx.put_collection({"type": "Collection", "stac_version": "1.0.0", "id": "plain",
                               "description": "no assets", "license": "CC-BY-4.0", "links": [],
                               "extent": {"spatial": {"bbox": [[96, 21, 96, 21]]},
                                          "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]}}})  # fmt: skip
            tx.put_item({"type": "Feature", "stac_version": "1.0.0", "id": "p1", "collection": "plain",
                         "geometry": {"type": "Point", "coordinates": [96.0, 21.0]}, "bbox": [96.0, 21.0, 96.0, 21.0],
                         "properties": {"datetime": "2024-05-01T00:00:00Z"}, "links": [], "assets": {}})  # fmt: skip
        acc = inst.access
        org = acc.add_org("test", "Partner agency", "company")
        token, _key = acc.issue_key("test", "partner", org.id, label="partner key")
        inst.sessions.open(token)  # a console session: counted by the dry run, not copied
        acc.add_agreement("test", org.id, title="rice", collections=("demo-mandalay-rice",))
        inst.jobs.store.put({"id": "a1b2", "lane": "analytics", "kind": "zonal", "status": "done",
                             "created": "2026-01-01T00:00:00Z"})  # fmt: skip
        inst.jobs.store.put_result("analytics", "a1b2", {"rows": [1, 2, 3]})
        reg = Registry(inst.orbits)
        reg.upsert(Satellite(norad_id=40697, name="SENTINEL-2A"))
        reg.add_elements(parse_tle(
            "SENTINEL-2A\n1 40697U 15028A   25276.64126228  .00000414  00000+0  17471-3 0  9996\n"
            "2 40697  98.5698 350.1648 0001175  96.4135 263.7182 14.30817766537043\n"))  # fmt: skip
        expires, sig = signing.sign(inst.signing_key, "demo", "item", "data", 3600, LINK["at"], kid="1")
        LINK.update(expires=str(expires), signature=sig)  # a link signed before the migration
        inst.mosaic_searches.put("0123456789abcdef01234567", {"collections": ["demo-mandalay-rice"]})
        now = datetime.now(UTC)
        book = OrderBook(inst.orbits)
        book.create(OrderRequest(
            aoi={"type": "Polygon", "coordinates": [[[96, 21], [96.5, 21], [96.5, 21.5], [96, 21]]]},
            start=now, end=now + timedelta(days=3)), org_id=org.id)  # fmt: skip
    return root


LINK: dict[str, Any] = {"at": 1.8e9}  # signed by the source (its fixture); verified on every side


def _link_verifies(inst: Installation) -> bool:
    try:
        signing.verify(inst.signing_key, "demo", "item", "data", LINK["expires"], LINK["signature"], "1",
                       now=LINK["at"])  # fmt: skip
    except Forbidden:
        return False
    return True


def _env_file(path: Path, values: dict[str, Any]) -> Path:
    path.write_text("".join(f"SATHUB_{k.upper()}={v}\n" for k, v in values.items()))
    return path


def _pg_s3(tmp: Path) -> Path:
    return _env_file(tmp / "target.env", {"pg_dsn": new_database(), **s3_settings()})


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["migrate", *args])


# ------------------------------------------------------------------ independent references
def _sqlite_count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _pages(client: TestClient, body: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Every page of a search, items without their links (hrefs name the server)."""
    out, req = [], dict(body)
    while True:
        r = client.post("/search", json=req)
        assert r.status_code == 200, r.text
        doc = r.json()
        out.append([{k: v for k, v in i.items() if k != "links"} for i in doc["features"]])
        nxt = [link for link in doc["links"] if link["rel"] == "next"]
        if not nxt:
            return out
        req = nxt[0]["body"]


SEARCHES = [{"limit": 5}, {"limit": 4, "sortby": [{"field": "id", "direction": "asc"}]},
            {"limit": 3, "collections": ["demo-ayeyarwady-flood"]},
            {"limit": 7, "bbox": [95.5, 16, 97, 22.5], "sortby": [{"field": "datetime", "direction": "asc"}]},
            {"limit": 10, "filter-lang": "cql2-json",
             "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}}]  # fmt: skip


def _state(settings: Any, *, api: bool = True) -> dict[str, Any]:
    """What an installation serves (``api``: its search pages and item documents) and holds
    (asset bytes, access rows and audit chain, budget, jobs, orbits)."""
    inst = Installation.open(settings)
    try:
        searches: list[Any] = []
        items = {}
        if api:
            with TestClient(create_app(inst)) as client:
                searches = [_pages(client, body) for body in SEARCHES]
                for c in client.get("/collections").json()["collections"]:
                    for page in _pages(client, {"collections": [c["id"]], "limit": 50}):
                        for i in page:
                            items[(c["id"], i["id"])] = i
        else:
            for i in inst.catalog.iter_items():
                items[(i["collection"], i["id"])] = {k: v for k, v in i.items() if k != "links"}
        digests = {}
        for item in inst.catalog.iter_items():
            for name, a in item["assets"].items():
                if is_key(a["href"]):
                    info = inst.objects.stat(a["href"])
                    body = b"".join(inst.objects.open_range(a["href"], 0, info.size - 1))
                    digests[(item["collection"], item["id"], name)] = "1220" + hashlib.sha256(body).hexdigest()
                    assert digests[(item["collection"], item["id"], name)] == a["file:checksum"]
        audit = inst.access.audit.verify()  # the chain as the target server checks it
        assert audit.ok, audit.problems
        acc, budget, orbits = inst.access.store, inst.budget.store, inst.orbits
        return {"searches": searches, "items": items, "assets": digests, "audit_records": audit.records,
                "access": {"orgs": sorted(map(repr, acc.orgs())), "keys": sorted(map(repr, acc.keys())),
                           "agreements": sorted(map(repr, acc.agreements())),
                           "activations": sorted(map(repr, acc.activations())),
                           "restricted": sorted(acc.restricted_collections())},
                "budget": {"years": sorted(map(repr, budget.years())), "lines": sorted(map(repr, budget.lines())),
                           "transactions": sorted(map(repr, budget.transactions()))},
                "jobs": sorted((r["id"], repr(r), repr(inst.jobs.store.get_result(r["lane"], r["id"])))
                               for r in inst.jobs.store.list()),
                "orbits": {"satellites": orbits.satellites(), "elements": orbits.elements(),
                           "orders": sorted(orbits.orders(), key=lambda o: o["id"])},
                "link verifies": _link_verifies(inst),
                "mosaic searches": {x: inst.mosaic_searches.get(x) for x in sorted(inst.mosaic_searches.ids())}}  # fmt: skip
    finally:
        inst.close()


@pytest.fixture(scope="module")
def reference(source: Path) -> dict[str, Any]:
    return _state(side_settings(source, None, "--source-env"))


@pytest.fixture(scope="module")
def stored(source: Path) -> dict[str, Any]:
    return _state(side_settings(source, None, "--source-env"), api=False)


def _nothing_visible_before_its_bytes(settings: Any) -> int:
    """Every item the target's catalog shows has all its assets in the target store, whole;
    returns how many items it shows."""
    from sathub.errors import NotFound

    inst = Installation.open(settings)
    n = 0
    try:
        for item in inst.catalog.iter_items():
            n += 1
            for a in item["assets"].values():
                if is_key(a["href"]):
                    try:
                        assert inst.objects.stat(a["href"]).size == a["file:size"], a["href"]
                    except NotFound:
                        raise AssertionError(f"{item['id']} is visible before its asset {a['href']}") from None
    finally:
        inst.close()
    return n


# ----------------------------------------------------------------------------- tests
def test_dry_run_counts_everything_and_writes_nothing(source: Path, tmp_path: Path) -> None:
    env = _pg_s3(tmp_path)
    target = tmp_path / "dst"
    r = _run(str(source), str(target), "--target-env", str(env), "--dry-run", "-f", "json")
    assert r.exit_code == 0, r.output
    import orjson

    doc = orjson.loads(r.stdout)
    rows = {k["kind"]: k for k in doc["kinds"]}
    files = [p for p in (source / "assets").rglob("*") if p.is_file()]
    expect = {"collections": 3, "items": _sqlite_count(source / "catalog.db", "items"),
              "assets": len(files), "asset bytes": sum(p.stat().st_size for p in files),
              "orgs": 1, "keys": 2, "agreements": 1, "audit records": _sqlite_count(source / "access.db", "audit"),
              "jobs": 1, "orders": 1, "console sessions": 1, "signing key": 1, "mosaic searches": 1, "satellites": len(json.loads((source / "orbits" / "registry.json").read_text())["satellites"])}  # fmt: skip
    assert {k: rows[k]["source"] for k in expect} == expect
    assert rows["budget rows"]["source"] > 0 and rows["element sets"]["source"] >= 1
    assert all(r["present"] == 0 and r["target"] is None for r in doc["kinds"] if r["kind"] not in ("audit records", "audit heads"))  # the blank target's own init record
    assert "not copied" in rows["console sessions"]["store"]  # ephemeral: said, not copied
    assert rows["orgs"]["store"] == rows["budget rows"]["store"] == "PostgreSQL (schema sathub)"
    assert not target.exists()  # nothing written


def test_to_postgres_and_s3_and_back(source: Path, reference: dict[str, Any], tmp_path: Path) -> None:
    env = _pg_s3(tmp_path)
    pg = tmp_path / "pg"
    r = _run(str(source), str(pg), "--target-env", str(env), "-f", "json")
    assert r.exit_code == 0, r.output
    settings = side_settings(pg, env, "--target-env")
    with Installation.open(settings) as inst:  # the target server's stores, all on PostgreSQL + S3
        assert type(inst.catalog).__name__ == "PgstacStore" and type(inst.objects).__name__ == "S3Store"
        assert [type(x).__name__ for x in (inst.access.store, inst.budget.store, inst.orbits, inst.jobs.store)] == [
            "PgAccessStore", "PgBudgetStore", "PgOrbitStore", "PgJobStore"]  # fmt: skip
    assert not any(p.is_file() for p in (pg / "assets").rglob("*"))  # the bytes are in the bucket
    for name in ("access.db", "budget.db", "orbits/registry.json", "orbits/orders.json"):
        assert not (pg / name).exists() or name == "access.db" and not _sqlite_count(pg / name, "orgs"), name
    assert _state(settings) == reference and reference["link verifies"]
    assert reference["mosaic searches"] and not (pg / "secrets" / "signing.key").exists()  # in PostgreSQL
    # a second run finds everything in place
    again = _run(str(source), str(pg), "--target-env", str(env), "-f", "json")
    assert again.exit_code == 0, again.output
    import orjson

    rows = {k["kind"]: k for k in orjson.loads(again.stdout)["kinds"]}
    assert rows["items"]["copied"] == 0 and rows["assets"]["copied"] == 0
    assert rows["items"]["present"] == rows["items"]["source"]
    # and back to an embedded installation
    back = tmp_path / "back"
    r = _run(str(pg), str(back), "--source-env", str(env))
    assert r.exit_code == 0, r.output
    assert _state(side_settings(back, None, "--target-env")) == reference
    # the target's PostgreSQL sequences follow the copied ids: new rows get new ids
    with Installation.open(settings) as inst:
        org = inst.access.add_org("test", "After the move", "company")
        _token, key = inst.access.issue_key("test", "partner", org.id, label="new")
        assert org.id > max(o.id for o in inst.access.store.orgs() if o.id != org.id)
        assert key.id > max(k.id for k in inst.access.store.keys() if k.id != key.id)
        assert inst.access.audit.verify().ok


def test_an_installation_that_never_used_its_budget_moves_and_back(tmp_path: Path) -> None:
    """A blank budget (no file in the embedded installation; the reference rows a new
    PostgreSQL store makes) is the same state on both sides, not a loss (bench_migrate stopped
    on "budget rows: the source has 0, the target 7")."""
    from sathub.config import Settings

    src = tmp_path / "src"
    Installation.create(Settings(data=src)).close()
    env = _pg_s3(tmp_path)
    r = _run(str(src), str(tmp_path / "pg"), "--target-env", str(env))
    assert r.exit_code == 0, r.output
    r = _run(str(tmp_path / "pg"), str(tmp_path / "back"), "--source-env", str(env))
    assert r.exit_code == 0, r.output


def test_bad_input_exits_2_naming_the_problem(source: Path, tmp_path: Path) -> None:
    r = _run(str(source), str(source))
    assert r.exit_code == 2 and "target" in r.output
    r = _run(str(tmp_path / "nothing"), str(tmp_path / "dst"))
    assert r.exit_code == 2 and "not a sathub data directory" in r.output
    bad = _env_file(tmp_path / "bad.env", {"no_such_setting": 1})
    r = _run(str(source), str(tmp_path / "dst"), "--target-env", str(bad))
    assert r.exit_code == 2 and "line 1" in r.output
    other = tmp_path / "other"
    CliRunner().invoke(cli, ["init", str(other)])
    r = _run(str(source), str(other))  # another installation's audit key
    assert r.exit_code == 2 and "audit key" in r.output


def test_rerun_follows_the_source_and_refuses_a_target_used_since(source: Path, tmp_path: Path) -> None:
    """A re-run replaces rows it wrote itself (the source moved on: a new organisation arrives);
    access rows the target's server changed since (not the migration's) are refused, exit 2."""
    from sathub.config import Settings

    src = tmp_path / "src"
    shutil.copytree(source, src)
    env, pg = _pg_s3(tmp_path), tmp_path / "pg"
    assert _run(str(src), str(pg), "--target-env", str(env)).exit_code == 0
    with Installation.open(Settings(data=src)) as inst:
        inst.access.add_org("test", "Late partner", "company")
    r = _run(str(src), str(pg), "--target-env", str(env))
    assert r.exit_code == 0, r.output
    settings = side_settings(pg, env, "--target-env")
    with Installation.open(settings) as inst:
        assert "Late partner" in {o.name for o in inst.access.store.orgs()}
        assert inst.access.audit.verify().ok
        inst.access.add_org("test", "Made on the target", "company")  # the new server in use
    r = _run(str(src), str(pg), "--target-env", str(env))
    assert r.exit_code == 2 and "access state holds other data" in r.output, r.output
    with Installation.open(settings) as inst:  # nothing was replaced
        assert "Made on the target" in {o.name for o in inst.access.store.orgs()}


def _cmd(source: Path, target: Path, env: Path) -> list[str]:
    return [sys.executable, "-m", "sathub.cli", "migrate", str(source), str(target),
            "--target-env", str(env), "--batch", "4"]  # fmt: skip


def test_kill_9_at_random_points_then_rerun(source: Path, stored: dict[str, Any], tmp_path: Path) -> None:
    """Ten runs killed with SIGKILL (half at a random checkpoint of the ~90 a run passes: an
    asset copied, a batch of 4 items committed, the access or budget rows inside their
    transaction, a job or an order written…; half after
    a random delay once the run has started), each followed by a re-run to completion: the
    target ends with the source's documents, asset bytes, state and a verifying chain."""
    rng = random.Random(int(os.environ.get("SATHUB_MIGRATE_SEED", "14")))
    killed, shown = 0, []
    for trial in range(10):
        tdir = tmp_path / f"t{trial}"
        tdir.mkdir()
        env, target = _pg_s3(tdir), tdir / "data"
        penv = dict(os.environ)
        if trial % 2 == 0:  # at a random checkpoint
            penv["SATHUB_MIGRATE_CRASH_AT"] = str(rng.randint(1, 90))
            proc = subprocess.run(_cmd(source, target, env), check=False, env=penv, capture_output=True, timeout=300)
            killed += proc.returncode == -signal.SIGKILL
        else:  # after a random delay once the target exists (the run has started)
            run = subprocess.Popen(_cmd(source, target, env), env=penv, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
            deadline = time.monotonic() + 60
            while not (target / "secrets").exists() and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 2.0))
            run.send_signal(signal.SIGKILL)
            killed += run.wait() == -signal.SIGKILL
        settings = side_settings(target, env, "--target-env")
        if (target / "secrets").exists():
            shown.append(_nothing_visible_before_its_bytes(settings))
        rerun = _run(str(source), str(target), "--target-env", str(env))  # in this process: faster
        assert rerun.exit_code == 0, rerun.output[-2000:]
        assert _state(settings, api=False) == stored, f"trial {trial}"
        shutil.rmtree(target, ignore_errors=True)
    assert killed >= 8, killed  # the runs really died mid-way
    assert len(set(shown)) >= 3, shown  # at different points (items visible at the kill)
