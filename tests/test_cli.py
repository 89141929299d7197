"""The operator CLI: init (idempotent), load, search, stats; and every option is documented."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from conftest import STAC, need_shared
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
