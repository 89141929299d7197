"""GDAL's block cache while and after ingest writes a COG (issue #17: the big-scene slow spot).

``GDAL_CONFIG["GDAL_CACHEMAX"]`` was ``256``: rasterio hands an integer to GDALSetCacheMax64,
which takes bytes, so COG writing ran with a 256-byte block cache, and — rasterio does not
restore it while a dataset is open — so did every later read in the process (statistics,
footprint, thumbnail): each block read decoded its whole pixel-interleaved tile again (an
8000 px scene: 213 CPU s in ``analyse`` instead of 0.3 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio._env import get_gdal_config
from rasterio.transform import from_origin

from sathub.ingest.cog import GDAL_CONFIG, write_cog
from sathub.ingest.rasterinfo import analyse

MB = 2**20


def _tif(path: Path, data: np.ndarray, nodata: float | None = None) -> None:
    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
        count=data.shape[0], dtype=data.dtype, crs="EPSG:32647", nodata=nodata,
        transform=from_origin(600000, 2400000, 10, 10),
    ) as d:  # fmt: skip
        d.write(data)


def test_the_cog_config_gives_gdal_a_cache_of_megabytes() -> None:
    with rasterio.Env(**GDAL_CONFIG):
        cache = int(get_gdal_config("GDAL_CACHEMAX"))
    assert 64 * MB <= cache <= 1024 * MB  # usable, and still bounds RAM on large scenes


def test_reads_after_write_cog_have_a_usable_cache(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(1, 4000, (4, 600, 700), dtype=np.uint16)
    data[:, :50, :] = 0
    _tif(tmp_path / "src.tif", data, nodata=0)
    res = write_cog(tmp_path / "src.tif", tmp_path / "cog.tif")
    with rasterio.open(res.path) as cog:  # the state ingest's later reads run in
        assert int(get_gdal_config("GDAL_CACHEMAX")) >= 64 * MB
        assert np.array_equal(cog.read(), data)  # still lossless
    # statistics (full resolution below MAX_SIZE) equal an independent numpy reference
    bands, mask, _ = analyse(res.path)
    valid = data != 0
    for i, band in enumerate(bands):
        v = data[i][valid[i]].astype(np.float64)
        st = band["statistics"]
        assert st["valid_percent"] == round(100 * v.size / data[i].size, 3)
        assert (st["minimum"], st["maximum"]) == (int(v.min()), int(v.max()))
        assert abs(st["mean"] - v.mean()) < 1e-6 and abs(st["stddev"] - v.std()) < 1e-6
    assert np.array_equal(mask, valid.any(axis=0))


def test_compression_threads_write_the_same_bytes(tmp_path: Path) -> None:
    """Ingest compresses with several GDAL threads when it has the CPUs; the COG (and so its
    checksum, the item's version directory, "unchanged" on re-ingest) must not depend on it."""
    rng = np.random.default_rng(5)
    base = rng.integers(500, 4000, (4, 20, 24)).repeat(64, axis=1).repeat(64, axis=2)
    data = (base + rng.integers(0, 200, base.shape)).astype(np.uint16)  # 1280 x 1536: 9+ tiles
    _tif(tmp_path / "src.tif", data, nodata=0)
    one = write_cog(tmp_path / "src.tif", tmp_path / "one.tif", threads=1)
    many = [write_cog(tmp_path / "src.tif", tmp_path / f"t{n}.tif", threads=n) for n in (2, 4)]
    assert {r.checksum for r in many} == {one.checksum}
    assert all(r.path.read_bytes() == one.path.read_bytes() for r in many)
    with rasterio.open(many[1].path) as cog:
        assert np.array_equal(cog.read(), data) and cog.overviews(1)


def test_the_pipeline_shares_the_cpus_among_scenes_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sathub.app import Installation
    from sathub.config import Settings
    from sathub.ingest import pipeline, prepare

    seen: list[int] = []
    real = prepare.write_cog

    def spy(*a: Any, **k: Any) -> Any:
        seen.append(k["threads"])
        return real(*a, **k)

    monkeypatch.setattr(prepare, "write_cog", spy)
    monkeypatch.setattr(pipeline, "cpus", lambda: 4)
    src = tmp_path / "in"
    src.mkdir()
    _tif(src / "a_20240101.tif", np.full((1, 40, 40), 7, np.uint16))
    with Installation.open(Settings(data=tmp_path / "data"), create=True) as inst:
        rep = pipeline.ingest_paths([src], "c", inst.settings, inst.catalog, inst.objects)
    assert rep.ok and seen == [4]  # one scene in flight: all the CPUs
