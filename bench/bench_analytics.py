"""Analytics benchmarks, each against its peer in the same run.

    python bench/bench_analytics.py [--data /tmp/ad] [--polygons 10000] [--scenes 100]
                                    [--composite-scenes 20] [--skip-rasterstats]

1. Zonal statistics (mean, median, std, min, max, count) of 10,000 field polygons on one
   2000 × 2000 px float32 NDVI raster (10 m, UTM; fields ~180 m, rotated 7°, so no polygon
   is pixel-aligned): sathub (``sathub.analytics.zonal.zonal_stats``, raster read from the
   file), exactextract called directly on the file with the polygons as GeoJSON features, rasterstats
   (``zonal_stats`` on the file, ``all_touched=False``). Ratios: sathub vs each.
2. NDVI series of one field over 100 scenes: a catalog of 100 items pointing at the demo
   archive's rice scenes (cycled, new ids and dates), ``run_zonal`` on an embedded Dask
   cluster (2 workers, threads); the time excludes cluster start-up (printed apart).
3. Dask scaling: a 20-scene median composite (red, green, blue, nir; 800 × 800 px) on a
   LocalCluster of 1 process × 1 thread vs 2 processes × 1 thread.

Needs the demo archive (``sathub demo --data DIR --no-serve``) for 2 and 3.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely import affinity
from shapely.geometry import box, mapping

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import Stopwatch, control_speedup

from sathub.analytics.bands import Grid


def bench_zonal(n_polygons: int, skip_rasterstats: bool) -> dict[str, float]:
    from exactextract import exact_extract

    from sathub.analytics.zonal import zonal_stats

    size, res = 2000, 10.0
    crs = CRS.from_epsg(32647)
    tr = from_origin(600_000.0, 2_400_000.0, res, res)
    rng = np.random.default_rng(1)
    ndvi = np.clip(rng.normal(0.5, 0.2, (size, size)), -1, 1).astype(np.float32)
    ndvi[rng.random((size, size)) < 0.05] = np.nan
    side = int(np.ceil(np.sqrt(n_polygons)))
    step = size * res / side
    polys = []
    for i in range(n_polygons):
        r, c = divmod(i, side)
        x0, y1 = 600_000.0 + c * step, 2_400_000.0 - r * step
        b = box(x0 + 0.1 * step, y1 - 0.9 * step, x0 + 0.9 * step, y1 - 0.1 * step)
        polys.append(affinity.rotate(b, 7, origin="centroid"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ndvi.tif"
        with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1,
                           dtype="float32", crs=crs, transform=tr, nodata=np.nan, tiled=True,
                           compress="deflate") as dst:  # fmt: skip
            dst.write(ndvi, 1)
        feats = [{"type": "Feature", "properties": {"pid": i}, "geometry": mapping(p)}
                 for i, p in enumerate(polys)]  # fmt: skip
        out: dict[str, float] = {"polygons": float(n_polygons)}

        with Stopwatch() as sw:
            direct = exact_extract(str(path), feats, ["mean", "median", "stdev", "min", "max", "count"],
                                   include_cols=["pid"], output="pandas")  # fmt: skip
        out["exactextract_s"] = sw.s

        with Stopwatch() as sw:
            with rasterio.open(path) as src:
                values = src.read(1)
                grid = Grid(src.crs, src.transform, src.width, src.height)
            rows = zonal_stats(values, grid, polys)
        out["sathub_s"] = sw.s
        assert np.allclose([r["mean"] for r in rows], direct["mean"], rtol=1e-9, equal_nan=True)

        if not skip_rasterstats:
            from rasterstats import zonal_stats as rs_zonal

            with Stopwatch() as sw:
                rs_zonal(polys, str(path), stats=["mean", "median", "std", "min", "max", "count"],
                         nodata=np.nan)  # fmt: skip
            out["rasterstats_s"] = sw.s
    out["x_vs_exactextract"] = out["exactextract_s"] / out["sathub_s"]
    if "rasterstats_s" in out:
        out["x_vs_rasterstats"] = out["rasterstats_s"] / out["sathub_s"]
    return out


def _clone_catalog(data: Path, tmp: Path, n: int, collection: str = "demo-mandalay-rice") -> Path:
    """A data dir whose catalog holds ``n`` items pointing at the demo scenes (absolute hrefs)."""
    from sathub.app import Installation
    from sathub.config import Settings
    from sathub.ingest.collections import new_collection

    with Installation.open(Settings(data=data)) as src:
        items = list(src.catalog.iter_items(collection))
    inst = Installation.create(Settings(data=tmp))
    store = inst.catalog
    start = datetime(2020, 1, 1, 4, 5, 31, tzinfo=UTC)
    out = []
    for k in range(n):
        it = copy.deepcopy(items[k % len(items)])
        it["id"] = f"bench-{k:04d}"
        it["collection"] = "bench"
        it["properties"]["datetime"] = (
            (start + timedelta(days=5 * k)).isoformat().replace("+00:00", "Z")
        )
        for a in it["assets"].values():
            if "://" not in a["href"] and not a["href"].startswith("/"):
                a["href"] = str(Settings(data=data).layout.assets / a["href"])
        out.append(it)
    with store.transaction() as tx:
        tx.put_collection(new_collection("bench"), mode="insert")
        for it in out:
            tx.put_item(it, mode="insert")
    inst.close()
    return tmp


def bench_series(data: Path, n_scenes: int, processes: bool = False) -> dict[str, float]:
    from sathub.analytics.executor import Executor
    from sathub.analytics.select import load_zones
    from sathub.analytics.zonal_job import run_zonal
    from sathub.app import Installation
    from sathub.config import Settings

    fc = json.loads((data / "demo" / "fields.geojson").read_text())
    rice = [f for f in fc["features"] if f["properties"]["crop"] == "rice"]
    rice.sort(key=lambda f: f["geometry"]["coordinates"][0][0][0])  # west → east
    field = rice[int(0.75 * len(rice))]  # east of the swath-edge wedges
    zones = load_zones(field)
    with tempfile.TemporaryDirectory() as tmp:
        d = _clone_catalog(data, Path(tmp) / "data", n_scenes)
        settings = Settings(data=d)
        inst = Installation.open(settings)
        with Stopwatch() as sw, Executor(n_workers=2, processes=processes) as ex:
            startup = sw.now()
            res = run_zonal(settings, inst.catalog, ex, collection="bench", zones=zones,
                            index="ndvi", objects=inst.objects)  # fmt: skip
            elapsed = sw.now() - startup
        inst.close()
    assert len(res["rows"]) == n_scenes, len(res["rows"])
    return {"scenes": float(n_scenes), "series_s": elapsed, "cluster_startup_s": startup}


def bench_dask(data: Path, n_scenes: int) -> dict[str, float]:
    from sathub.analytics.composite import median_composite
    from sathub.analytics.executor import Executor
    from sathub.analytics.select import find_items
    from sathub.app import Installation
    from sathub.config import Settings

    out: dict[str, float] = {"scenes": float(n_scenes)}
    with tempfile.TemporaryDirectory() as tmp:
        d = _clone_catalog(data, Path(tmp) / "data", n_scenes)
        settings = Settings(data=d)
        inst = Installation.open(settings)
        items = find_items(inst.catalog, "bench", box(-180, -90, 180, 90))
        for workers in (1, 2):
            with Executor(n_workers=workers, threads_per_worker=1, processes=True) as ex:
                median_composite(items[:2], inst.objects, None, ("red",), ex)  # warm
                with Stopwatch() as sw:
                    median_composite(items, inst.objects, None,
                                     ("red", "green", "blue", "nir"), ex, tile_px=256)  # fmt: skip
                out[f"workers{workers}_s"] = sw.s
        inst.close()
    out["speedup"] = out["workers1_s"] / out["workers2_s"]
    out["control_2_cpu_procs"] = control_speedup()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SATHUB_DATA", "/tmp/ad")))
    ap.add_argument("--polygons", type=int, default=10_000)
    ap.add_argument("--scenes", type=int, default=100)
    ap.add_argument("--composite-scenes", type=int, default=20)
    ap.add_argument("--skip-rasterstats", action="store_true")
    ap.add_argument("--only", choices=["zonal", "series", "dask"], default=None)
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    if args.only in (None, "zonal"):
        results["zonal"] = bench_zonal(args.polygons, args.skip_rasterstats)
        print(json.dumps({"zonal": results["zonal"]}), flush=True)
    if args.only in (None, "series"):
        results["series"] = bench_series(args.data, args.scenes)
        print(json.dumps({"series": results["series"]}), flush=True)
    if args.only in (None, "dask"):
        results["dask"] = bench_dask(args.data, args.composite_scenes)
        print(json.dumps({"dask": results["dask"]}), flush=True)
    print(f"machine: {os.cpu_count()} cores", flush=True)


if __name__ == "__main__":
    main()
