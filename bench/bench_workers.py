#!/usr/bin/env python3
"""API workers benchmark (issue 14): throughput of two API workers against one, behind nginx,
on the pgstac catalog, on this machine, with the CPU share of each process group.

1. Starts a throwaway PostgreSQL (pgstac) and loads the real STAC items of ../shared/data
   (tests/conftest.py's REAL_FILES, ~1,300 items); ingests the Landsat 8 TOA scene and the
   Aberystwyth Sentinel-2 scene (assets on local disk: the S3 server of the tests is a Python
   process whose CPU would be measured as the archive's);
2. for 1 and then 2 workers: starts ``sathub serve --workers N`` behind nginx (the stack's
   configuration), warms up, then runs the load generator (this process: ``--clients``
   threads with keep-alive) for ``--seconds`` on a fixed mix: 50 % ``POST /search`` (a
   random bbox and date range over the loaded items, limit 10), 30 % item reads, 20 % 256 px
   PNG tiles of the ingested scenes at zooms 10-13;
3. reports requests/s, p50/p99 latency, errors, and the CPU each group used during the run
   (from /proc: the API processes, PostgreSQL's processes, nginx, the load generator) in
   cores, with the machine's load average and core count;
4. ``--out docs/benchmarks.md`` writes the ``## API workers`` section (others left alone).

Usage::

    .venv/bin/python bench/bench_workers.py [--seconds 30] [--clients 8] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import morecantile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
WM = morecantile.tms.get("WebMercatorQuad")
TICK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and its descendants, as they are now."""
    kids, todo, total = _children(), [root], 0.0
    while todo:
        pid = todo.pop()
        try:
            f = (Path(f"/proc/{pid}/stat")).read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / TICK
        except (OSError, IndexError, ValueError):
            pass
        todo += kids.get(pid, [])
    return total


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def build(root: Path) -> dict[str, Any]:
    from conftest import REAL_FILES, SFEOS_COLLECTION, SFEOS_ITEMS, STAC
    from test_ingest_support import copy_real_imagery

    from sathub.app import Installation
    from sathub.catalog.loader import load_file
    from sathub.catalog.pgstac.db import migrate
    from sathub.config import Settings
    from sathub.ingest.pipeline import ingest_paths
    from sathub.stack.nginx import PROXY_BIND
    from sathub.stack.postgres import PgCluster

    pg = PgCluster(root / "pg").start()
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE sathub")
    migrate(pg.dsn("sathub"))
    settings = Settings(data=root / "data", pg_dsn=pg.dsn("sathub"), trusted_proxies=PROXY_BIND)
    with Installation.create(settings) as inst:
        for rel in REAL_FILES:
            load_file(inst.catalog, STAC / rel)
        load_file(inst.catalog, STAC / SFEOS_ITEMS, collection=SFEOS_COLLECTION)
        src = copy_real_imagery(root / "in")
        ingest_paths([src / "landsat8", src / "aber"], "scenes", settings, inst.catalog, inst.objects)
        items = [(it["collection"], it["id"], it["bbox"], it["properties"].get("datetime"))
                 for c in inst.catalog.list_collections() for it in inst.catalog.iter_items(c["id"])]
    return {"pg": pg, "settings": settings, "items": items}


def requests_mix(items: list[tuple[str, str, list[float], str | None]], n: int, seed: int = 7) -> list[tuple[str, str, Any]]:
    rng = random.Random(seed)
    scenes = [i for i in items if i[0] == "scenes" and not i[1].endswith("_ndvi_ref")]  # ≥ 3 bands
    dated = [i for i in items if i[3]]
    out: list[tuple[str, str, Any]] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            c, _, (w, s, e, nn), when = rng.choice(dated)
            cx, cy, d = (w + e) / 2, (s + nn) / 2, rng.uniform(0.2, 3)
            end = dt.date.fromisoformat(str(when)[:10])
            span = f"{end - dt.timedelta(days=365)}T00:00:00Z/{end}T23:59:59Z"
            bbox = [max(-180, cx - d), max(-90, cy - d), min(180, cx + d), min(90, cy + d)]
            out.append(("POST", "/search", {"bbox": bbox, "limit": 10,
                                            "datetime": span}))
        elif r < 0.8:
            c, i, _, _ = rng.choice(items)
            out.append(("GET", f"/collections/{c}/items/{i}", None))
        else:
            c, i, (w, s, e, nn), _ = rng.choice(scenes)
            z = rng.randint(10, 13)
            t = WM.tile(rng.uniform(w, e), rng.uniform(s, nn), z)
            query = ("asset=B4&bidx=1&rescale=0,1" if i.startswith("LC8")  # one file per band
                     else "bidx=1&bidx=2&bidx=3&rescale=0,3000")
            out.append(("GET", f"/collections/{c}/items/{i}/tiles/WebMercatorQuad/{z}/{t.x}/{t.y}.png?{query}", None))
    return out


def run_load(base: str, mix: list[tuple[str, str, Any]], clients: int, seconds: float) -> dict[str, Any]:
    lat: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(k: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            n = k * 997
            while time.perf_counter() < stop:
                method, path, body = mix[n % len(mix)]
                n += 1
                t0 = time.perf_counter()
                try:
                    r = c.request(method, path, json=body)
                    key = None if r.status_code in (200, 204) else f"{r.status_code} {path[:60]}"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                dt_ = time.perf_counter() - t0
                with lock:
                    lat.append(dt_)
                    if key:
                        errors[key] = errors.get(key, 0) + 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"requests": len(lat), "rps": len(lat) / wall, "wall": wall, "errors": errors,
            "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))]}


def measure(root: Path, built: dict[str, Any], workers: int, mix: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    from sathub.stack.nginx import Nginx
    from sathub.stack.procs import ApiServer

    s = built["settings"]
    env = {"SATHUB_DATA": str(s.data), "SATHUB_PG_DSN": str(s.pg_dsn), "SATHUB_TRUSTED_PROXIES": s.trusted_proxies}
    api = ApiServer(root, env, workers=workers, name=f"api-{workers}").start(600)
    try:
        with Nginx(root / f"nginx-{workers}", [api.address]) as ng:
            run_load(ng.url, mix, args.clients, args.warmup)  # warm caches, pools, GDAL
            pg_pid = int((built["pg"].datadir / "postmaster.pid").read_text().split()[0])
            groups = {"api": api.proc.pid, "postgresql": pg_pid, "nginx": ng.proc.pid}  # type: ignore[union-attr]
            before = {k: tree_cpu(p) for k, p in groups.items()}
            me0, load0 = self_cpu(), os.getloadavg()[0]
            res = run_load(ng.url, mix, args.clients, args.seconds)
            res["cpu"] = {k: (tree_cpu(p) - before[k]) / res["wall"] for k, p in groups.items()}
            res["cpu"]["load generator"] = (self_cpu() - me0) / res["wall"]
            res["load"] = (load0, os.getloadavg()[0])
    finally:
        api.stop()
    return res


def report(results: dict[int, dict[str, Any]], args: argparse.Namespace, n_items: int) -> str:
    one, two = results[1], results[2]
    ratio = two["rps"] / one["rps"]
    lines = [
        "## API workers", "",
        f"`{' '.join(['.venv/bin/python', 'bench/bench_workers.py', *sys.argv[1:]])}` on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()} ({os.cpu_count()} cores, "
        f"shared with other sessions), pgstac with {n_items} real items, nginx in front of "
        f"`sathub serve --workers N`; {args.clients} client threads for {args.seconds:.0f} s after "
        f"{args.warmup:.0f} s of warm-up; mix: 50 % searches, 30 % item reads, 20 % tiles.", "",
        "| workers | req/s | p50 ms | p99 ms | errors | CPU api | CPU postgresql | CPU nginx | CPU load generator | load avg (start → end) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w, r in results.items():
        c = r["cpu"]
        lines.append(f"| {w} | {r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                     f"{sum(r['errors'].values())} | {c['api']:.2f} | {c['postgresql']:.2f} | "
                     f"{c['nginx']:.2f} | {c['load generator']:.2f} | {r['load'][0]:.1f} → {r['load'][1]:.1f} |")
    busy = sum(two["cpu"].values())
    lines += ["", f"Two workers against one: **{ratio:.2f}×** (target ≥ 1.3×). CPU in cores "
              f"(1.00 = one core busy for the whole run). With two workers the measured groups used "
              f"{busy:.2f} of the machine's {os.cpu_count()} cores; the load average shows how much "
              "the other sessions took.", ""]
    return "\n".join(lines)


def write_section(path: Path, text: str, title: str = "## API workers") -> None:
    lines = path.read_text().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip() == title), None)
    if start is None:
        lines += [""] + text.splitlines()
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = text.splitlines() + [""]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--out", type=Path, help="write the ## API workers section of this Markdown file")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sathub-bench-workers-"))
    built = build(root)
    try:
        mix = requests_mix(built["items"], 5000)
        results = {w: measure(root, built, w, mix, args) for w in (1, 2)}
    finally:
        built["pg"].stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
    text = report(results, args, len(built["items"]))
    print(text)
    for w, r in results.items():
        print(w, r["errors"])
    if args.out:
        write_section(args.out, text)


if __name__ == "__main__":
    main()
