"""Ingest throughput vs plain ``rio cogeo create`` on the same files, in the same run.

    python bench/bench_ingest.py [--scenes 8] [--size 1500] [--big [--big-size 20000]]
                                 [--big-only]

Prints source MB/s for: ``rio cogeo create`` (CLI, deflate + predictor, one process per
file as an operator would run it), sathub ``ingest`` with 1 and 2 workers; the overhead
ratio; the 2-worker speed-up; and with ``--big`` one ``--big-size`` px square 4-band uint16
scene (default 20,000) through both ``rio cogeo create`` (same profile) and sathub ingest
(1 worker), in the same run: MB/s of each, their ratio, CPU seconds of each (user + system
of the child process tree), and sathub's peak RSS (``big_children_peak_rss_mb`` is the
largest child process of the run, the peer included). ``--big-only`` skips the small scenes.
Synthetic inputs (smooth fields + noise, so they compress like real imagery) are generated
into a temporary directory first.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from common import Stopwatch, control_speedup
from rasterio.transform import from_origin
from rasterio.windows import Window

INGEST = """
import sys, json, resource
from pathlib import Path
from sathub.config import Settings
from sathub.app import Installation
from sathub.ingest.pipeline import ingest_paths
s = Settings(data=Path(sys.argv[1]))
inst = Installation.open(s, create=True)
rep = ingest_paths([Path(p) for p in sys.argv[3:]], "bench", s, inst.catalog, inst.objects,
                   workers=int(sys.argv[2]))
assert rep.ok, [o.message for o in rep.failed]
print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_scene(path: Path, size: int, seed: int, bands: int = 4) -> None:
    rng = np.random.default_rng(seed)
    block = 1024
    coarse = rng.integers(500, 4000, (bands, size // 64 + 2, size // 64 + 2))
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=bands,
        dtype="uint16",
        nodata=0,
        crs="EPSG:32647",
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        BIGTIFF="YES",
        transform=from_origin(600000, 2400000, 10, 10),
    ) as ds:
        for r in range(0, size, block):
            for c in range(0, size, block):
                h, w = min(block, size - r), min(block, size - c)
                yy = (np.arange(r, r + h) // 64)[:, None]
                xx = (np.arange(c, c + w) // 64)[None, :]
                base = coarse[:, yy, xx]
                noise = rng.integers(0, 200, (bands, h, w))
                ds.write((base + noise).astype(np.uint16), window=Window(c, r, w, h))


def timed(cmd: list[str]) -> tuple[float, str]:
    return timed_cpu(cmd)[:2]


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed_cpu(cmd: list[str]) -> tuple[float, str, float]:
    """(wall s, stdout, CPU s of the child and its waited-for descendants)."""
    cpu0 = _children_cpu()
    with Stopwatch() as sw:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return sw.s, out.stdout, _children_cpu() - cpu0


def rio_cmd(rio: str, src: Path, dst: Path) -> list[str]:
    """The peer: ``rio cogeo create`` with the deflate profile and the integer predictor."""
    return [rio, "cogeo", "create", str(src), str(dst), "--cog-profile", "deflate",
            "--co", "PREDICTOR=2", "--quiet"]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--size", type=int, default=1500)
    ap.add_argument("--big", action="store_true", help="also the big-scene run (vs the peer)")
    ap.add_argument("--big-size", type=int, default=20000, help="side of the big scene, px")
    ap.add_argument("--big-only", action="store_true", help="only the big-scene run")
    args = ap.parse_args()
    if args.big_only:
        args.big, args.scenes = True, 0
    tmp = Path(tempfile.mkdtemp(prefix="sathub-bench-"))
    rio = str(Path(sys.executable).with_name("rio"))
    res: dict[str, object] = {}
    try:
        srcs = []
        for i in range(args.scenes):
            p = tmp / f"scene{i}.tif"
            make_scene(p, args.size, i)
            p.with_name(p.name + ".sathub.json").write_text(
                json.dumps({"datetime": f"2024-01-{i + 1:02d}T04:00:00Z"})
            )
            srcs.append(p)
        if srcs:
            mb = sum(p.stat().st_size for p in srcs) / 1e6
            t_rio = 0.0
            for p in srcs:
                dt, _ = timed(rio_cmd(rio, p, tmp / f"{p.stem}.cog.tif"))
                t_rio += dt
            t1, _ = timed([sys.executable, "-c", INGEST, str(tmp / "d1"), "1", *map(str, srcs)])
            t2, _ = timed([sys.executable, "-c", INGEST, str(tmp / "d2"), "2", *map(str, srcs)])
            res = {
                "source_mb": round(mb, 1),
                "scenes": args.scenes,
                "size_px": args.size,
                "rio_cogeo_mb_s": round(mb / t_rio, 2),
                "sathub_1w_mb_s": round(mb / t1, 2),
                "sathub_2w_mb_s": round(mb / t2, 2),
                "overhead_pct": round(100 * (t1 / t_rio - 1), 1),
                "speedup_2w": round(t1 / t2, 2),
                "machine_2proc_speedup_control": round(control_speedup(), 2),
            }
        if args.big:
            for p in srcs:
                p.unlink()
            big = tmp / "big.tif"
            with Stopwatch() as gen:
                make_scene(big, args.big_size, 99)
                big.with_name(big.name + ".sathub.json").write_text(
                    json.dumps({"datetime": "2024-01-01T04:00:00Z"})
                )
            big_mb = big.stat().st_size / 1e6
            peer_cog = tmp / "big.cog.tif"
            t_peer, _, cpu_peer = timed_cpu(rio_cmd(rio, big, peer_cog))
            peer_cog.unlink()
            dt, out, cpu = timed_cpu(
                [sys.executable, "-c", INGEST, str(tmp / "dbig"), "1", str(big)]
            )
            res.update(
                big_size_px=args.big_size,
                big_source_mb=round(big_mb, 1),
                big_generate_s=round(gen.s, 1),
                big_rio_cogeo_s=round(t_peer, 1),
                big_rio_cogeo_cpu_s=round(cpu_peer, 1),
                big_rio_cogeo_mb_s=round(big_mb / t_peer, 2),
                big_ingest_s=round(dt, 1),
                big_ingest_cpu_s=round(cpu, 1),
                big_sathub_mb_s=round(big_mb / dt, 2),
                big_ratio_vs_rio=round(t_peer / dt, 2),
                big_cpu_ratio_vs_rio=round(cpu_peer / cpu, 2),
                big_peak_rss_mb=round(
                    json.loads(out.strip().splitlines()[-1])["maxrss_kb"] / 1024, 1
                ),
                big_children_peak_rss_mb=round(
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
                ),
            )
        print(json.dumps(res, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
