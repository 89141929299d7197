"""Bad input: each failure names the file and the reason, nothing is half-written, and the
rest of the batch is still ingested."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from typer.testing import CliRunner

from sathub.config import Settings

DT = {"datetime": "2024-03-01T04:05:00Z"}


def write_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: object = "EPSG:32647",
    transform: object = None,
    nodata: float | None = 0,
    sidecar: dict | None = DT,
) -> Path:
    transform = transform if transform is not None else from_origin(500000, 2400000, 20, 20)
    kw = {"crs": crs, "transform": transform} if crs is not None else {}
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype,
        nodata=nodata,
        **kw,
    ) as d:
        d.write(data)
    if sidecar is not None:
        path.with_name(path.name + ".sathub.json").write_text(json.dumps(sidecar))
    return path


def good(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 5000, (3, n, n)).astype(np.uint16)


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    write_tif(d / "good.tif", good())
    big = write_tif(tmp_path / "big.tif", good(300, seed=1))
    (d / "truncated.tif").write_bytes(big.read_bytes()[: big.stat().st_size // 3])
    (d / "truncated.tif.sathub.json").write_text(json.dumps(DT))
    (d / "notraster.tif").write_text("this is not an image\n")
    write_tif(d / "nogeo.tif", good(), crs=None)
    engineering = CRS.from_wkt('LOCAL_CS["mine",UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]')
    write_tif(d / "localcrs.tif", good(), crs=engineering)
    write_tif(d / "bandcount.tif", good(), sidecar={**DT, "bands": [{"name": "a"}, {"name": "b"}]})
    write_tif(d / "allnodata.tif", np.zeros((3, 64, 64), np.uint16))
    write_tif(d / "dup.tif", good(seed=3))
    return d


def _ingest(settings: Settings, paths: list[Path], collection: str):
    from sathub.app import Installation
    from sathub.ingest.pipeline import ingest_paths

    with Installation.open(settings, create=True) as inst:
        return ingest_paths(paths, collection, settings, inst.catalog, inst.objects)


def test_bad_inputs_fail_alone_with_reasons(tmp_path: Path, batch: Path) -> None:
    from sathub.app import Installation
    from sathub.ingest.verify import verify_archive

    settings = Settings(data=tmp_path / "data")
    settings.layout.create()
    first = _ingest(settings, [batch / "dup.tif"], "other")
    assert first.ok
    rep = _ingest(settings, [batch], "main")
    by_name = {Path(o.source).name: o for o in rep.outcomes}
    assert by_name["good.tif"].status == "ingested"
    reasons = {
        "truncated.tif": "cannot read",
        "notraster.tif": "not a raster",
        "nogeo.tif": "no georeferencing",
        "localcrs.tif": "CRS",
        "bandcount.tif": "3 band(s) but sidecar",
        "allnodata.tif": "all pixels are nodata",
        "dup.tif": "already exists in collection 'other'",
    }
    for name, reason in reasons.items():
        o = by_name[name]
        assert o.status == "failed", name
        assert name in (o.message or "") and reason in (o.message or ""), (name, o.message)
    with Installation.open(settings) as inst:
        assert [i["id"] for i in inst.catalog.iter_items("main")] == ["good"]
        v = verify_archive(settings, inst.catalog, inst.objects)
    assert v.ok, v.problems  # no orphan, no stale staging: nothing half-written
    assert not list(settings.layout.staging.iterdir())


def test_cli_reports_failures_and_exits_nonzero(tmp_path: Path, batch: Path) -> None:
    from sathub.cli import app

    assert CliRunner().invoke(app, ["init", str(tmp_path / "data")]).exit_code == 0
    res = CliRunner().invoke(
        app, ["ingest", str(batch), "-c", "main", "--data", str(tmp_path / "data")]
    )
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert "notraster.tif: not a raster" in res.output and "6 failed, 2 ingested" in res.output
    res = CliRunner().invoke(app, ["verify", "--data", str(tmp_path / "data")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "nope"), "-c", "main", "--data", str(tmp_path / "data")]
    )
    assert res.exit_code == 2 and "no such file" in res.output and "Traceback" not in res.output  # bad input


_DISK_FULL = """
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
from sathub.config import Settings
from sathub.app import Installation
from sathub.ingest.pipeline import ingest_paths
s = Settings(data=Path(sys.argv[1]))
inst = Installation.open(s)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
rep = ingest_paths([Path(p) for p in sys.argv[2].split(",")], "c", s, inst.catalog, inst.objects)
for o in rep.outcomes:
    print(o.status, o.message)
"""


def test_disk_full_mid_ingest(tmp_path: Path) -> None:
    """A file-size limit makes every write past 4 MB fail, as a full disk would."""
    from sathub.app import Installation
    from sathub.ingest.verify import verify_archive

    small = write_tif(tmp_path / "small.tif", good(64))
    noise = np.random.default_rng(5).integers(1, 60000, (3, 1200, 1200)).astype(np.uint16)
    large = write_tif(tmp_path / "large.tif", noise)  # ~8.6 MB of incompressible pixels
    data = tmp_path / "data"
    Installation.create(Settings(data=data)).close()
    out = subprocess.run(
        [sys.executable, "-c", _DISK_FULL, str(data), f"{large},{small}", str(4_000_000)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = out.stdout.splitlines()
    assert lines[0].startswith("failed") and "large.tif" in lines[0], out.stdout + out.stderr
    assert lines[1].startswith("ingested"), out.stdout + out.stderr
    settings = Settings(data=data)
    with Installation.open(settings) as inst:
        assert [i["id"] for i in inst.catalog.iter_items("c")] == ["small"]
        assert verify_archive(settings, inst.catalog, inst.objects).ok
    assert not os.listdir(settings.layout.staging)


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_ingest_same_outcomes_in_the_same_order(tmp_path: Path, batch: Path,
                                                         workers: int) -> None:  # fmt: skip
    """The parallel path (this process and ``workers - 1`` processes) reports the same
    per-file outcomes as the serial path, in input order."""
    from sathub.app import Installation
    from sathub.ingest.pipeline import ingest_paths
    from sathub.ingest.verify import verify_archive

    outcomes = []
    for n in (1, workers):
        settings = Settings(data=tmp_path / f"data{n}")
        with Installation.create(settings) as inst:
            rep = ingest_paths([batch], "main", settings, inst.catalog, inst.objects, workers=n)
            assert rep.counts() == {"ingested": 2, "failed": 6}
            assert verify_archive(settings, inst.catalog, inst.objects).ok
        assert not os.listdir(settings.layout.staging)
        outcomes.append([(o.source, o.status, o.message) for o in rep.outcomes])
    assert outcomes[0] == outcomes[1]
