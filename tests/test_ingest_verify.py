"""``verify`` finds missing, corrupt and orphan files; ``--repair`` deletes only orphans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

from sathub.config import Settings


def _scene(d: Path, name: str, seed: int) -> Path:
    p = d / f"{name}.tif"
    with rasterio.open(
        p,
        "w",
        driver="GTiff",
        width=50,
        height=50,
        count=1,
        dtype="uint8",
        nodata=0,
        crs="EPSG:32646",
        transform=from_origin(300000, 1800000, 20, 20),
    ) as ds:
        ds.write(np.random.default_rng(seed).integers(1, 255, (1, 50, 50)).astype(np.uint8))
    p.with_name(p.name + ".sathub.json").write_text(
        json.dumps({"datetime": "2024-08-09T04:11:00Z"})
    )
    return p


def test_verify_and_repair(tmp_path: Path) -> None:
    from sathub.cli import app

    run = CliRunner().invoke
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        _scene(src, f"s{i}", i)
    data = ["--data", str(tmp_path / "data")]
    assert run(app, ["init", str(tmp_path / "data")]).exit_code == 0
    assert run(app, ["ingest", str(src), "-c", "v", *data]).exit_code == 0
    res = run(app, ["verify", *data, "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["checked_assets"] == 9
    assets = Settings(data=tmp_path / "data").layout.assets
    cogs = sorted(assets.rglob("data.tif"))
    cogs[0].unlink()  # missing
    with cogs[1].open("r+b") as f:  # corrupt, same size
        f.seek(-10, 2)
        f.write(b"0123456789")
    orphan = assets / "v" / "stray.tif"
    orphan.write_bytes(b"x")
    res = run(app, ["verify", *data, "--format", "json"])
    assert res.exit_code == 1
    kinds = sorted((p["kind"], Path(p["path"]).name) for p in json.loads(res.stdout)["problems"])
    assert kinds == [("corrupt", "data.tif"), ("missing", "data.tif"), ("orphan", "stray.tif")]
    res = run(app, ["verify", *data, "--repair", "--format", "json"])
    assert not orphan.exists() and cogs[1].exists()  # never deletes referenced files
    assert res.exit_code == 1  # missing and corrupt remain
    res = run(app, ["verify", *data, "--no-checksums", "--format", "json"])
    assert [p["kind"] for p in json.loads(res.stdout)["problems"]] == ["missing"]
