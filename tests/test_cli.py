"""The operator CLI: init (idempotent), load, search, stats; and every option is documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import STAC, need_shared
from typer.testing import CliRunner

from sathub.cli import app

runner = CliRunner()


def test_init_load_search_stats(tmp_path: Path) -> None:
    need_shared()
    data = tmp_path / "d"
    assert runner.invoke(app, ["init", str(data)]).exit_code == 0
    assert runner.invoke(app, ["init", str(data)]).exit_code == 0  # idempotent
    r = runner.invoke(app, ["load", "--data", str(data), str(STAC / "pgstac/pc_collections.ndjson"),
                            str(STAC / "rustac/pc_landsat-c2-l2_100_items.parquet")])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["stats", "--data", str(data), "--format", "json"])
    assert json.loads(r.stdout)["landsat-c2-l2"] == 100
    r = runner.invoke(app, ["search", "--data", str(data), "--collections", "landsat-c2-l2",
                            "--filter", "eo:cloud_cover < 5", "--limit", "3", "--format", "geojson"])  # fmt: skip
    assert r.exit_code == 0, r.output
    fc = json.loads(r.stdout)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) <= 3
    assert all(f["properties"]["eo:cloud_cover"] < 5 for f in fc["features"])


def test_failed_load_names_file_and_line_and_exits_nonzero(tmp_path: Path) -> None:
    data = tmp_path / "d"
    runner.invoke(app, ["init", str(data)])
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"type": "Collection", "id": "c", "description": "x", "extent": {}, "links": []}\n{oops\n')
    r = runner.invoke(app, ["load", "--data", str(data), str(bad)])
    assert r.exit_code == 1
    assert "bad.ndjson:2" in r.output
    r = runner.invoke(app, ["stats", "--data", str(data), "--format", "json"])
    assert json.loads(r.stdout) == {}  # the whole file was rolled back


def test_init_and_stats_refuse_what_is_not_a_data_directory(tmp_path: Path) -> None:
    """``init`` and the catalog commands open the installation through ``Installation``: a file
    in the way, or a directory that is not a data directory, is a clear error (exit 2)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = runner.invoke(app, ["init", str(blocker)])
    assert r.exit_code == 2 and "is not a directory" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["stats", "--data", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "not a sathub data directory" in r.output
    assert not (tmp_path / "nothing").exists()


def test_search_bad_filter_is_a_clean_error(tmp_path: Path) -> None:
    data = tmp_path / "d"
    runner.invoke(app, ["init", str(data)])
    r = runner.invoke(app, ["search", "--data", str(data), "--filter", "eo:cloud_cover <"])
    assert r.exit_code == 2 and "invalid CQL2" in r.output and "Traceback" not in r.output


def test_every_setting_is_documented() -> None:
    from sathub.config import Settings

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"SATHUB_{name.upper()}" in doc, name


# ------------------------------------------------------------------ housekeeping (issue 12, 13)
def test_version() -> None:
    from importlib.metadata import version

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"sathub {version('sathub')}"


def test_init_on_a_file_or_where_it_cannot_write_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "a-file"
    f.write_text("x")
    for target in (f, f / "sub", Path("/proc/sathub-cannot-write-here/data")):
        r = runner.invoke(app, ["init", str(target)])
        assert r.exit_code == 2, (target, r.output)
        assert r.stderr.startswith("error: ") and "Traceback" not in r.output, r.output
    assert f.read_text() == "x"


def _dummy_args(cmd, tmp_path: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """A value for every required argument and option (their content does not matter)."""
    from typer._click.core import Context

    dummy = tmp_path / "dummy.json"
    dummy.write_text("{}")
    args: list[str] = []
    for p in cmd.params:
        if not p.required:
            continue
        kind = str(p.display_type(Context(cmd))).strip("<>")
        value = (str(dummy) if "path" in kind.lower() else "1" if kind.startswith(("int", "float"))
                 else kind.split("|")[0] if "|" in kind else "x")  # fmt: skip
        args += [value] if p.param_type_name == "argument" else [p.opts[0], value]
    return args


def test_no_command_accepts_or_creates_a_non_data_directory(tmp_path: Path) -> None:
    """`verify` and `ingest` used to create the directory and print "archive OK"."""
    import typer.main

    def leaves(group, path=()):  # type: ignore[no-untyped-def]
        for name, cmd in group.commands.items():
            if getattr(cmd, "commands", None):
                yield from leaves(cmd, (*path, name))
            else:
                yield (*path, name), cmd

    missing = tmp_path / "no-such-dir"
    empty = tmp_path / "empty"
    empty.mkdir()
    checked = 0
    for path, cmd in leaves(typer.main.get_command(app)):
        if path in (("init",), ("demo",)) or not any("--data" in p.opts for p in cmd.params):
            continue
        for target in (missing, empty):
            r = runner.invoke(app, [*path, *_dummy_args(cmd, tmp_path), "--data", str(target)])
            assert r.exit_code == 2, (path, r.output)
            assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
        assert not missing.exists() and list(empty.iterdir()) == [], path
        checked += 1
    assert checked > 50
    for args in (["verify"], ["stats"], ["ingest", str(tmp_path), "-c", "c"], ["search"]):
        r = runner.invoke(app, [*args, "--data", str(missing)])
        assert r.exit_code == 2 and "not a sathub data directory" in r.stderr, r.output
        assert "archive OK" not in r.output


def test_search_takes_dates_as_whole_days(tmp_path: Path) -> None:
    """`search --datetime 2019-01-01/2019-12-31` was refused; a date alone is the whole day
    (first instant at the start, last at the end), a datetime without zone is UTC. Checked
    against a brute-force filter of the items' own datetimes."""
    from datetime import UTC, date, datetime, time, timedelta, timezone

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from test_access_fixtures import box, collection, item

    from sathub.catalog.sqlite import SQLiteStore

    data = tmp_path / "d"
    assert runner.invoke(app, ["init", str(data)]).exit_code == 0
    day0 = datetime(2018, 12, 30, tzinfo=UTC)
    instants = [day0 + timedelta(days=d, seconds=s) for d in range(6)
                for s in (0, 1, 43_200, 86_399, 86_399.5)]  # fmt: skip
    items = [item(f"i{k}", "c", box(0, 0, 1, 1), t.timestamp()) for k, t in enumerate(instants)]
    stored = {it["id"]: datetime.fromisoformat(it["properties"]["datetime"]) for it in items}
    store = SQLiteStore(data / "catalog.db")
    store.create_collection(collection("c"))
    store.bulk_upsert(items)
    store.close()
    days = st.dates(min_value=date(2018, 12, 29), max_value=date(2019, 1, 5))

    @settings(max_examples=25, deadline=None)
    @given(days, days, st.sampled_from(["date", "naive", "zoned"]))
    def check(a: date, b: date, form: str) -> None:
        lo, hi = datetime.combine(a, time.min, UTC), datetime.combine(b, time.max, UTC)
        text = {"date": f"{a}/{b}", "naive": f"{lo:%Y-%m-%dT%H:%M:%S}/{hi:%Y-%m-%dT%H:%M:%S.%f}",
                "zoned": f"{lo.astimezone(timezone(timedelta(hours=6, minutes=30))).isoformat()}/"
                         f"{hi.isoformat()}"}[form]  # fmt: skip
        r = runner.invoke(app, ["search", "--data", str(data), "--datetime", text, "--limit", "100",
                                "--format", "ids"])  # fmt: skip
        if b < a:
            assert r.exit_code == 2 and "ends before it starts" in r.stderr
            return
        assert r.exit_code == 0, r.output
        want = {iid for iid, t in stored.items() if lo <= t <= hi}
        assert set(r.stdout.split()) == want, (text, sorted(want))

    check()


def test_listings_are_tables_json_and_csv_without_python_reprs(tmp_path: Path) -> None:
    import csv
    import io

    from sathub.catalog.sqlite import SQLiteStore
    from test_access_fixtures import box, collection, item

    data = tmp_path / "d"
    runner.invoke(app, ["init", str(data)])
    long_id = "S2B_MSIL2A_20240904T040531_N0511_R004_T47QKF_" + "x" * 120
    store = SQLiteStore(data / "catalog.db")
    for cid in ("alpha", "beta"):
        store.create_collection(collection(cid))
    store.bulk_upsert([item(long_id, "alpha", box(0, 0, 1, 1), 1.7e9)])
    store.close()
    d = ["--data", str(data)]
    assert runner.invoke(app, ["orgs", "add", "Uni", "--kind", "university", *d]).exit_code == 0
    r = runner.invoke(app, ["agreements", "add", "--org", "Uni", "--collections", "alpha,beta", *d])
    assert r.exit_code == 0, r.output
    table = runner.invoke(app, ["agreements", "list", *d], env={"COLUMNS": "40"}).stdout
    assert "alpha, beta" in table and "[" not in table and "'" not in table
    rows = json.loads(runner.invoke(app, ["agreements", "list", *d, "--format", "json"]).stdout)
    assert rows[0]["collections"] == ["alpha", "beta"]
    got = list(csv.DictReader(io.StringIO(runner.invoke(app, ["agreements", "list", *d, "-f", "csv"]).stdout)))
    assert json.loads(got[0]["collections"]) == ["alpha", "beta"] and got[0]["aoi"] == ""
    r = runner.invoke(app, ["search", *d], env={"COLUMNS": "40"})  # a narrow terminal
    assert r.exit_code == 0 and long_id in r.stdout  # whole, on one line
    for fmt in ("json", "csv", "ids", "geojson"):
        r = runner.invoke(app, ["search", *d, "--format", fmt])
        assert r.exit_code == 0 and long_id in r.stdout, fmt
    assert json.loads(runner.invoke(app, ["search", *d, "-f", "json"]).stdout)[0]["id"] == long_id


@pytest.mark.parametrize("args", [
    ["search", "--collections", "nope"],
    ["agreements", "add", "--org", "nobody", "--collections", "alpha"],
    ["agreements", "add", "--org", "Uni", "--collections", "alpha,nope"],
    ["agreements", "suspend", "999"],
    ["agreements", "list", "--org", "nobody"],
    ["keys", "issue", "--role", "partner", "--org", "nobody"],
    ["keys", "revoke", "999"],
    ["collections", "restrict", "nope"],
    ["activations", "close", "999"],
    ["usage", "--agreement", "999"],
    ["orders", "status", "nope", "planned"],
])  # fmt: skip
def test_unknown_names_are_errors(tmp_path: Path, args: list[str]) -> None:
    from sathub.catalog.sqlite import SQLiteStore
    from test_access_fixtures import collection

    data = tmp_path / "d"
    runner.invoke(app, ["init", str(data)])
    store = SQLiteStore(data / "catalog.db")
    store.create_collection(collection("alpha"))
    store.close()
    runner.invoke(app, ["orgs", "add", "Uni", "--kind", "university", "--data", str(data)])
    r = runner.invoke(app, [*args, "--data", str(data)])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and ("not found" in r.stderr or "unknown" in r.stderr), r.stderr


def test_learn_knows_a_data_directory_on_either_catalog_backend(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`sathub learn` asks the installation what a data directory is: with the catalog in
    PostgreSQL there is no catalog.db, and the directory (its secrets) is still an archive."""
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["learn", "--data", str(empty), "--render", "--only", "nope"])
    assert r.exit_code == 2 and "no archive" in r.output
    pg = tmp_path / "pg"
    (pg / "secrets").mkdir(parents=True)
    monkeypatch.setenv("SATHUB_PG_DSN", "postgresql://nobody@127.0.0.1:1/none")
    r = runner.invoke(app, ["learn", "--data", str(pg), "--render", "--only", "nope"])
    assert r.exit_code == 2 and "no archive" not in r.output and "no such tutorial" in r.output, r.output
