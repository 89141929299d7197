#!/usr/bin/env python3
# ruff: noqa: SIM115, PLW1510, ISC004, S110  (a benchmark script: long-lived Popen logs, best-effort cleanup)
"""Catalog benchmark: sathub's embedded SQLite STAC API against stac-fastapi-pgstac.

What it does, in one run, everything on 127.0.0.1, bounded, cleaning up after itself:

1. writes N synthetic Sentinel-2-L2A-like items (~3 KB of JSON each: 110 km MGRS-ish tiles
   over land between latitudes -60 and 70, dates over 2018..2024, eo:cloud_cover, platform,
   instruments, proj:epsg, a dozen assets) to an .ndjson file (cached under .bench/);
2. bulk-loads it into a fresh sathub data directory with ``load_file`` (items/s), measures
   the database bytes per item;
3. starts ``sathub serve`` on a free port and times, through HTTP, the query mix
   (a) bbox + datetime, limit 10; (b) CQL2 ``eo:cloud_cover < x``, limit 10; (c) intersects a
   polygon, limit 10; (d) page 10 of a search (next link followed 9 times, the 10th timed);
   p50/p99 per query, server RSS (psutil), and requests/s with a few concurrent clients;
4. unless ``--no-peer``: installs what the peer needs if missing (apt: postgresql +
   postgis; pip into a separate venv: pypgstac[psycopg], stac-fastapi-pgstac), initialises a
   throwaway PostgreSQL cluster in a temp dir (as the ``postgres`` user when run as root),
   ``pypgstac migrate``, ``pypgstac load`` of the same collection and items, starts
   ``uvicorn stac_fastapi.pgstac.app:app`` and runs the same queries;
5. prints a table with the ratios sathub/peer, and with ``--out FILE`` writes the results
   into the ``## Catalog`` section of that Markdown file (other sections left alone).

Usage::

    .venv/bin/python bench/bench_catalog.py --items 100000
    .venv/bin/python bench/bench_catalog.py --items 1000000 --no-peer --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench_common  # noqa: E402  (bench/common.py)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
PEER_VENV = BENCH_DIR / "peer-venv"
COLLECTION = "sentinel-2-l2a"
HOST = "127.0.0.1"

# Issue targets (at 1M items, one server process).
TARGET_LOAD = 20_000.0  # items/s
TARGET_BBOX_P50 = 10.0  # ms
TARGET_BBOX_P99 = 40.0  # ms
TARGET_RSS = 300.0  # MB
TARGET_TPUT_RATIO = 1.5  # sathub / peer


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- synthetic data
# Rough land boxes (west, south, east, north): tiles are kept when their centre is in one.
LAND = [
    (-125, 25, -67, 50), (-165, 55, -100, 70), (-100, 50, -60, 62), (-117, 15, -87, 25),
    (-81, -55, -35, 10), (-10, 36, 30, 60), (5, 60, 30, 70), (30, 40, 60, 70),
    (60, 40, 140, 70), (-17, 5, 50, 35), (10, -35, 40, 5), (45, 10, 60, 30),
    (68, 8, 90, 35), (90, 10, 122, 40), (95, -8, 140, 8), (113, -39, 153, -12),
    (166, -47, 178, -34), (-73, 60, -20, 70),
]  # fmt: skip


def make_tiles() -> list[tuple[str, int, float, float, float, float]]:
    """(tile name, EPSG, west, south, east, north): ~1 deg high, ~110 km wide tiles."""
    tiles = []
    bands = "CDEFGHJKLMNPQRSTUVWX"
    for lat in range(-60, 70):
        s, n = float(lat), float(lat + 1)
        width = 1.0 / max(math.cos(math.radians(lat + 0.5)), 0.2)
        ncols = int(360 / width)
        step = 360.0 / ncols
        for j in range(ncols):
            w = -180.0 + j * step
            e = w + step
            cx, cy = (w + e) / 2, (s + n) / 2
            if not any(a <= cx <= c and b <= cy <= d for a, b, c, d in LAND):
                continue
            zone = min(int((cx + 180) // 6) + 1, 60)
            band = bands[min(int((cy + 80) // 8), len(bands) - 1)]
            sq = "ABCDEFGHJKLMNPQRSTUVWXYZ"
            name = f"{zone:02d}{band}{sq[j % 24]}{sq[(lat + 60) % 20]}"
            epsg = (32600 if cy >= 0 else 32700) + zone
            tiles.append((name, epsg, w, s, e, n))
    return tiles


BANDS = [
    ("B02", "blue", 10), ("B03", "green", 10), ("B04", "red", 10), ("B08", "nir", 10),
    ("B11", "swir16", 20), ("B12", "swir22", 20),
]  # fmt: skip
START = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
SPAN_S = int((dt.datetime(2025, 1, 1, tzinfo=dt.UTC) - START).total_seconds())


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_item(i: int, rng: random.Random, tiles: list[Any]) -> dict[str, Any]:
    name, epsg, w, s, e, n = tiles[rng.randrange(len(tiles))]
    t = START + dt.timedelta(seconds=rng.randrange(SPAN_S))
    sat = rng.choice(("A", "B"))
    orbit = rng.randrange(1, 144)
    ts = t.strftime("%Y%m%dT%H%M%S")
    pid = f"S2{sat}_MSIL2A_{ts}_N0509_R{orbit:03d}_T{name}_{ts}"
    iid = f"{pid}_{i:07d}"
    # a footprint: the tile, clipped on one side by the swath edge half the time
    cut = rng.random()
    if cut < 0.5:
        x = w + (e - w) * (0.2 + 0.6 * rng.random())
        ring = [[w, s], [x, s], [x + 0.05, n], [w, n], [w, s]]
    else:
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    ring = [[round(a, 6), round(b, 6)] for a, b in ring]
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    base = f"https://example-bucket.s3.eu-central-1.amazonaws.com/sentinel-2-l2a/{name}/{t:%Y/%m}/{pid}"
    assets: dict[str, Any] = {}
    for code, common, gsd in BANDS:
        assets[common] = {
            "href": f"{base}/{code}.tif",
            "type": "image/tiff; application=geotiff",
            "roles": ["data"],
            "gsd": gsd,
        }
    assets["visual"] = {"href": f"{base}/TCI.tif", "type": "image/tiff; application=geotiff",
                        "title": "True color image", "roles": ["visual"]}  # fmt: skip
    assets["scl"] = {"href": f"{base}/SCL.tif", "type": "image/tiff; application=geotiff",
                     "title": "Scene classification map", "roles": ["data"]}  # fmt: skip
    assets["thumbnail"] = {"href": f"{base}/thumbnail.jpg", "type": "image/jpeg",
                           "title": "Thumbnail", "roles": ["thumbnail"]}  # fmt: skip
    assets["granule_metadata"] = {"href": f"{base}/metadata.xml", "type": "application/xml",
                                  "roles": ["metadata"]}  # fmt: skip
    cloud = round(min(100.0, rng.expovariate(1 / 30.0)), 2)
    created = t + dt.timedelta(hours=rng.randint(2, 48))
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/view/v1.0.0/schema.json",
            "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
        ],
        "id": iid,
        "collection": COLLECTION,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(xs), min(ys), max(xs), max(ys)],
        "properties": {
            "datetime": iso(t),
            "created": iso(created),
            "updated": iso(created),
            "platform": f"sentinel-2{sat.lower()}",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "gsd": 10,
            "eo:cloud_cover": cloud,
            "proj:epsg": epsg,
            "mgrs:utm_zone": int(name[:2]),
            "mgrs:latitude_band": name[2],
            "mgrs:grid_square": name[3:],
            "sat:relative_orbit": orbit,
            "sat:orbit_state": "descending",
            "view:sun_azimuth": round(rng.uniform(100, 170), 3),
            "view:sun_elevation": round(rng.uniform(10, 70), 3),
            "s2:processing_baseline": "05.09",
            "s2:product_uri": f"{pid}.SAFE",
        },
        "links": [
            {"rel": "license", "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"},
        ],
        "assets": assets,
    }


def collection_doc() -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": COLLECTION,
        "title": "Sentinel-2 Level-2A (synthetic)",
        "description": "Synthetic Sentinel-2 L2A-like items for benchmarking.",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180.0, -60.0, 180.0, 70.0]]},
            "temporal": {"interval": [["2018-01-01T00:00:00Z", "2025-01-01T00:00:00Z"]]},
        },
        "links": [],
    }


def write_items(n: int, seed: int) -> Path:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"items-{n}-s{seed}.ndjson"
    if path.exists() and path.stat().st_size > 0:
        return path
    log(f"writing {n:,} synthetic items to {path}")
    rng = random.Random(seed)
    tiles = make_tiles()
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        for i in range(n):
            f.write(orjson.dumps(make_item(i, rng, tiles)) + b"\n")
    tmp.rename(path)
    return path


# --------------------------------------------------------------------------- query mix
def land_point(rng: random.Random) -> tuple[float, float]:
    w, s, e, n = LAND[rng.randrange(len(LAND))]
    return rng.uniform(w, e), rng.uniform(max(s, -59), min(n, 69))


def rand_interval(rng: random.Random, days: int) -> str:
    t0 = START + dt.timedelta(seconds=rng.randrange(SPAN_S - days * 86400))
    t1 = t0 + dt.timedelta(days=days)
    return f"{t0:%Y-%m-%dT%H:%M:%SZ}/{t1:%Y-%m-%dT%H:%M:%SZ}"


def box(x: float, y: float, r: float) -> list[float]:
    return [round(max(x - r, -180), 4), round(max(y - r, -90), 4),
            round(min(x + r, 180), 4), round(min(y + r, 90), 4)]  # fmt: skip


def q_bbox(rng: random.Random) -> dict[str, Any]:
    x, y = land_point(rng)
    return {"collections": [COLLECTION], "bbox": box(x, y, 1.0),
            "datetime": rand_interval(rng, 90), "limit": 10}  # fmt: skip


def q_cql2(rng: random.Random) -> dict[str, Any]:
    return {"collections": [COLLECTION], "filter-lang": "cql2-json",
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, rng.choice((5, 10, 15))]},
            "limit": 10}  # fmt: skip


def q_intersects(rng: random.Random) -> dict[str, Any]:
    x, y = land_point(rng)
    r = 1.0
    ring = [[x + r * math.cos(a) * (0.7 + 0.3 * math.sin(3 * a)),
             y + r * math.sin(a) * (0.7 + 0.3 * math.cos(2 * a))]
            for a in (2 * math.pi * k / 12 for k in range(12))]  # fmt: skip
    ring = [[round(a, 5), round(b, 5)] for a, b in ring]
    ring.append(ring[0])
    return {"collections": [COLLECTION], "intersects": {"type": "Polygon", "coordinates": [ring]},
            "limit": 10}  # fmt: skip


def q_paged(rng: random.Random) -> dict[str, Any]:
    x, y = land_point(rng)
    return {"collections": [COLLECTION], "bbox": box(x, y, 5),
            "datetime": rand_interval(rng, 365), "limit": 10}  # fmt: skip


QUERIES: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "a bbox+datetime": q_bbox,
    "b cql2 cloud<x": q_cql2,
    "c intersects": q_intersects,
}


def post_search(client: httpx.Client, base: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"{base}/search", json=body)
    if r.status_code != 200:
        raise RuntimeError(f"POST /search {r.status_code}: {r.text[:300]} (body {body})")
    out: dict[str, Any] = r.json()
    return out


def next_request(page: dict[str, Any]) -> tuple[str, str, Any] | None:
    for link in page.get("links", []):
        if link.get("rel") == "next":
            method = link.get("method", "GET").upper()
            return method, link["href"], link.get("body")
    return None


def follow(client: httpx.Client, req: tuple[str, str, Any]) -> dict[str, Any]:
    method, href, body = req
    r = client.post(href, json=body) if method == "POST" else client.get(href)
    if r.status_code != 200:
        raise RuntimeError(f"{method} {href} {r.status_code}: {r.text[:300]}")
    out: dict[str, Any] = r.json()
    return out


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    f = math.floor(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def run_queries(base: str, reps: int, seed: int, max_s: float, results: dict[str, Any],
                headers: dict[str, str] | None = None) -> None:  # fmt: skip
    """Sequential latencies per query type (ms); ``headers`` on every request (e.g. a key)."""
    with httpx.Client(timeout=60.0, headers=headers) as client:
        for name, make in QUERIES.items():
            rng = random.Random(seed)
            for _ in range(5):  # warm-up
                post_search(client, base, make(rng))
            rng = random.Random(seed + 1)
            lat: list[float] = []
            returned = 0
            deadline = time.monotonic() + max_s
            while len(lat) < reps and time.monotonic() < deadline:
                body = make(rng)
                t0 = time.perf_counter()
                page = post_search(client, base, body)
                lat.append((time.perf_counter() - t0) * 1000)
                returned += len(page.get("features", []))
            results[name] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "n": len(lat),
                             "avg_returned": returned / max(len(lat), 1)}  # fmt: skip
            log(f"  {name}: p50 {results[name]['p50']:.1f} ms, p99 {results[name]['p99']:.1f} ms "
                f"({len(lat)} requests, {results[name]['avg_returned']:.1f} items/page)")
        # (d) the 10th page of a search: follow next 9 times, time the 10th request
        rng = random.Random(seed + 2)
        lat = []
        short = 0
        deadline = time.monotonic() + max_s
        while len(lat) < max(reps // 5, 20) and time.monotonic() < deadline:
            page = post_search(client, base, q_paged(rng))
            req = next_request(page)
            for _ in range(8):
                if req is None:
                    break
                req = next_request(follow(client, req))
            if req is None:
                short += 1
                if short > 200:
                    break
                continue
            t0 = time.perf_counter()
            follow(client, req)
            lat.append((time.perf_counter() - t0) * 1000)
        name = "d page 10"
        results[name] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "n": len(lat),
                         "avg_returned": 10.0}  # fmt: skip
        log(f"  {name}: p50 {results[name]['p50']:.1f} ms, p99 {results[name]['p99']:.1f} ms "
            f"({len(lat)} requests)")


def throughput(base: str, clients: int, seconds: float, seed: int,
               headers: dict[str, str] | None = None) -> tuple[float, int]:  # fmt: skip
    """Requests/s of the (a)(b)(c) mix from ``clients`` threads for ``seconds``."""
    counts = [0] * clients
    errors = [0] * clients
    stop = time.monotonic() + seconds
    makers = list(QUERIES.values())

    def worker(k: int) -> None:
        rng = random.Random(seed * 100 + k)
        with httpx.Client(timeout=60.0, headers=headers) as client:
            i = k
            while time.monotonic() < stop:
                r = client.post(f"{base}/search", json=makers[i % len(makers)](rng))
                i += 1
                if r.status_code == 200:
                    counts[k] += 1
                else:
                    errors[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0), sum(errors)


# --------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop_proc(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def rss_mb(pids: list[int], anon: bool = False) -> float:
    """Resident set size; ``anon``: without file-backed pages (e.g. SQLite's mmap of the db)."""
    total = 0
    for pid in pids:
        try:
            m = psutil.Process(pid).memory_info()
            total += m.rss - (getattr(m, "shared", 0) if anon else 0)
        except psutil.Error:
            pass
    return total / 2**20


def tree_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    try:
        p = psutil.Process(proc.pid)
        return [p.pid] + [c.pid for c in p.children(recursive=True)]
    except psutil.Error:
        return []


def server_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    """The Python server process(es) only (the deepest python in the tree)."""
    pids = tree_pids(proc)
    out = []
    for pid in pids:
        try:
            if "python" in psutil.Process(pid).name().lower() or "sathub" in psutil.Process(pid).name():
                out.append(pid)
        except psutil.Error:
            pass
    return out[-1:] or pids[:1]


def measure_server(
    label: str, base: str, pids_fn: Callable[[], list[int]], args: argparse.Namespace
) -> dict[str, Any]:
    res: dict[str, Any] = {"queries": {}, "loadavg_before": os.getloadavg()[0]}
    log(f"{label}: latencies ({args.reps} requests per query), load average "
        f"{res['loadavg_before']:.2f}")
    run_queries(base, args.reps, args.seed, args.max_seconds, res["queries"])
    res["rss_mb"] = rss_mb(pids_fn())
    res["anon_mb"] = rss_mb(pids_fn(), anon=True)
    log(f"{label}: throughput, {args.clients} clients for {args.duration:.0f} s")
    rps, errs = throughput(base, args.clients, args.duration, args.seed)
    res["rps"], res["errors"] = rps, errs
    res["rss_mb_after"] = rss_mb(pids_fn())
    res["anon_mb_after"] = rss_mb(pids_fn(), anon=True)
    res["loadavg_after"] = os.getloadavg()[0]
    log(f"{label}: {rps:.1f} req/s ({errs} errors), RSS {res['rss_mb']:.0f} -> "
        f"{res['rss_mb_after']:.0f} MB (without file-backed pages: {res['anon_mb']:.0f} -> "
        f"{res['anon_mb_after']:.0f} MB)")
    return res


# --------------------------------------------------------------------------- sathub
def bench_sathub(items: Path, n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from sathub.app import Installation
    from sathub.catalog.loader import load_file
    from sathub.config import Settings

    data = work / "sathub-data"
    settings = Settings(data=data)
    coll_file = work / "collection.json"
    coll_file.write_bytes(orjson.dumps(collection_doc()))
    inst = Installation.create(settings)
    store = inst.catalog
    load_file(store, coll_file)
    log(f"sathub: loading {n:,} items")
    la0 = os.getloadavg()[0]
    cpu0 = (_rusage(resource.RUSAGE_SELF), _rusage(resource.RUSAGE_CHILDREN))
    t0 = time.perf_counter()
    stats = load_file(store, items)
    load_s = time.perf_counter() - t0
    la1 = os.getloadavg()[0]
    # CPU of this (writing) process and of the parse workers (reaped when the load ends)
    cpu = (_rusage(resource.RUSAGE_SELF) - cpu0[0], _rusage(resource.RUSAGE_CHILDREN) - cpu0[1])
    assert stats.items == n, stats
    conn = store._conn()  # type: ignore[attr-defined]  # the SQLite store: measure its file
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    inst.close()
    db_bytes = sum(p.stat().st_size for p in data.glob("catalog.db*"))
    res: dict[str, Any] = {"load_s": load_s, "load_rate": n / load_s, "load_loadavg": (la0, la1),
                           "db_bytes": db_bytes, "bytes_per_item": db_bytes / n,
                           "cpu_us": (cpu[0] / n * 1e6, cpu[1] / n * 1e6)}  # fmt: skip
    log(f"sathub: loaded in {load_s:.1f} s = {n / load_s:,.0f} items/s; "
        f"{db_bytes / 2**20:.0f} MB = {db_bytes / n:,.0f} B/item; CPU per item "
        f"{res['cpu_us'][0]:.0f} µs writer + {res['cpu_us'][1]:.0f} µs workers")
    if args.load_only:
        return res

    port = free_port()
    sathub_bin = Path(sys.executable).parent / "sathub"
    cmd = [str(sathub_bin), "serve", "--data", str(data), "--port", str(port)]
    env = {**os.environ, **dict(kv.split("=", 1) for kv in args.sathub_env)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=open(work / "sathub-serve.log", "wb"))  # fmt: skip
    try:
        base = f"http://{HOST}:{port}"
        wait_http(f"{base}/", proc)
        res.update(measure_server("sathub", base, lambda: server_pids(proc), args))
    finally:
        stop_proc(proc)
    return res


# --------------------------------------------------------------------------- peer
def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, check=True, **kw)


def pg_bin() -> Path:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists():
            return d
    raise RuntimeError("no PostgreSQL server found")


def ensure_peer() -> Path:
    """Install PostgreSQL + PostGIS (apt) and the peer's venv (pip) when missing."""
    have_pg = any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    have_postgis = any(Path("/usr/share/postgresql").glob("*/extension/postgis.control"))
    if not (have_pg and have_postgis):
        if os.geteuid() != 0:
            raise RuntimeError("PostgreSQL/PostGIS missing; install postgresql + postgis (root)")
        log("installing postgresql + postgis with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        run(["apt-get", "install", "-y", "-q", "postgresql", "postgis"], env=env,
            stdout=subprocess.DEVNULL)  # fmt: skip
    py = PEER_VENV / "bin" / "python"
    ok = py.exists() and subprocess.run(
        [str(py), "-c", "import stac_fastapi.pgstac, pypgstac, psycopg, uvicorn"],
        capture_output=True,
    ).returncode == 0
    if not ok:
        log(f"creating the peer venv {PEER_VENV}")
        run([sys.executable, "-m", "venv", str(PEER_VENV)])
        run([str(py), "-m", "pip", "install", "-q", "pypgstac[psycopg]", "stac-fastapi-pgstac",
             "uvicorn"])  # fmt: skip
    return py


def as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _rusage(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _pg_cpu(pgdir: Path) -> float:
    """CPU seconds of a PostgreSQL cluster so far: its live processes, and the backends that
    have ended (reaped by the postmaster: its cutime and cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        pm = int((pgdir / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        f = text[text.rindex(")") + 2:].split()  # fields from the 3rd (state)
        pid, ppid = int(stat.parent.name), int(f[1])
        if pid == pm or ppid == pm:
            total += (int(f[11]) + int(f[12])) / tick  # utime, stime
            if pid == pm:
                total += (int(f[13]) + int(f[14])) / tick  # cutime, cstime
    return total


def bench_peer(items: Path, n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    py = ensure_peer()
    venv_bin = py.parent
    pgdir = work / "pg"
    pgdir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
        shutil.chown(pgdir, "postgres")
    bindir = pg_bin()
    port = free_port()
    run(as_pg_user([str(bindir / "initdb"), "-D", str(pgdir / "data"), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--no-locale"]),
        stdout=subprocess.DEVNULL)  # fmt: skip
    conf = (
        f"\nlisten_addresses = '{HOST}'\nport = {port}\nunix_socket_directories = '{pgdir}'\n"
        f"shared_buffers = '{args.pg_shared_buffers}'\nwork_mem = '32MB'\n"
        "maintenance_work_mem = '512MB'\nmax_wal_size = '4GB'\nsynchronous_commit = off\n"
        "effective_cache_size = '8GB'\nrandom_page_cost = 1.1\nfsync = on\n"
    )
    with open(pgdir / "data" / "postgresql.conf", "a") as f:
        f.write(conf)
    pg_ctl = str(bindir / "pg_ctl")
    run(as_pg_user([pg_ctl, "-D", str(pgdir / "data"), "-l", str(pgdir / "pg.log"), "-w",
                    "start"]), stdout=subprocess.DEVNULL)  # fmt: skip
    api: subprocess.Popen[bytes] | None = None
    try:
        dsn = f"postgresql://postgres@{HOST}:{port}/postgres"
        env = {**os.environ, "PGHOST": HOST, "PGPORT": str(port), "PGUSER": "postgres",
               "PGDATABASE": "postgres", "PGPASSWORD": "x"}  # fmt: skip
        log("peer: pypgstac migrate")
        run([str(venv_bin / "pypgstac"), "migrate", "--dsn", dsn], env=env,
            stdout=subprocess.DEVNULL)  # fmt: skip
        coll_file = work / "peer-collection.ndjson"
        coll_file.write_bytes(orjson.dumps(collection_doc()) + b"\n")
        run([str(venv_bin / "pypgstac"), "load", "collections", str(coll_file), "--dsn", dsn,
             "--method", "insert_ignore"], env=env, stdout=subprocess.DEVNULL)  # fmt: skip
        log(f"peer: pypgstac load items ({n:,})")
        la0 = os.getloadavg()[0]
        cpu0 = (_rusage(resource.RUSAGE_CHILDREN), _pg_cpu(pgdir))
        t0 = time.perf_counter()
        run([str(venv_bin / "pypgstac"), "load", "items", str(items), "--dsn", dsn,
             "--method", "insert"], env=env, stdout=subprocess.DEVNULL)  # fmt: skip
        load_s = time.perf_counter() - t0
        cpu = (_rusage(resource.RUSAGE_CHILDREN) - cpu0[0], _pg_cpu(pgdir) - cpu0[1])
        psql = ["psql", "-X", "-q", "-t", "-A", dsn, "-c"]
        subprocess.run([*psql, "VACUUM ANALYZE"], check=True, stdout=subprocess.DEVNULL)
        db_bytes = int(subprocess.run([*psql, "SELECT pg_database_size('postgres')"],
                                      check=True, capture_output=True).stdout.strip())  # fmt: skip
        count = int(subprocess.run([*psql, "SELECT count(*) FROM pgstac.items"], check=True,
                                   capture_output=True).stdout.strip())  # fmt: skip
        assert count == n, (count, n)
        res: dict[str, Any] = {"load_s": load_s, "load_rate": n / load_s,
                               "load_loadavg": (la0, os.getloadavg()[0]),
                               "db_bytes": db_bytes, "bytes_per_item": db_bytes / n,
                               "cpu_us": (cpu[0] / n * 1e6, cpu[1] / n * 1e6)}  # fmt: skip
        log(f"peer: loaded in {load_s:.1f} s = {n / load_s:,.0f} items/s; "
            f"{db_bytes / 2**20:.0f} MB = {db_bytes / n:,.0f} B/item; CPU per item "
            f"{res['cpu_us'][0]:.0f} µs pypgstac + {res['cpu_us'][1]:.0f} µs PostgreSQL")
        if args.load_only:
            return res

        api_port = free_port()
        api_env = {**env, "POSTGRES_USER": "postgres", "POSTGRES_PASS": "x",
                   "POSTGRES_DBNAME": "postgres", "POSTGRES_HOST_READER": HOST,
                   "POSTGRES_HOST_WRITER": HOST, "POSTGRES_PORT": str(port),
                   "POSTGRES_HOST": HOST, "ENABLE_TRANSACTIONS_EXTENSIONS": "false",
                   "WEB_CONCURRENCY": "1"}  # fmt: skip
        if args.peer_context != "default":
            subprocess.run([*psql, "INSERT INTO pgstac.pgstac_settings (name, value) VALUES "
                            f"('context', '{args.peer_context}') ON CONFLICT (name) DO UPDATE "
                            "SET value = excluded.value"], check=True)  # fmt: skip
        # stac-fastapi-pgstac >= 6 exposes a factory (create_app), older ones a module-level app
        factory = subprocess.run(
            [str(py), "-c", "import stac_fastapi.pgstac.app as m; print(hasattr(m, 'create_app'))"],
            env=api_env, capture_output=True, text=True,
        ).stdout.strip() == "True"  # fmt: skip
        target = ["stac_fastapi.pgstac.app:create_app", "--factory"] if factory else [
            "stac_fastapi.pgstac.app:app"]  # fmt: skip
        api = subprocess.Popen(
            [str(venv_bin / "uvicorn"), *target, "--host", HOST,
             "--port", str(api_port), "--log-level", "warning", "--no-access-log"],
            env=api_env, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=open(work / "peer-api.log", "wb"),
        )  # fmt: skip
        base = f"http://{HOST}:{api_port}"
        wait_http(f"{base}/", api)

        def pids() -> list[int]:
            return tree_pids(api)

        res.update(measure_server("peer", base, pids, args))
        # the peer's memory includes its PostgreSQL processes
        pg_pids = [p.pid for p in psutil.process_iter(["username", "cmdline"])
                   if p.info["username"] == "postgres" and str(pgdir) in " ".join(
                       p.info["cmdline"] or [])]  # fmt: skip
        postmaster = [p for p in pg_pids]
        kids: list[int] = []
        for pid in postmaster:
            try:
                kids += [c.pid for c in psutil.Process(pid).children(recursive=True)]
            except psutil.Error:
                pass
        res["pg_rss_mb"] = rss_mb(sorted(set(postmaster + kids)))
        return res
    finally:
        stop_proc(api)
        subprocess.run(as_pg_user([pg_ctl, "-D", str(pgdir / "data"), "-m", "fast", "-w",
                                   "stop"]), stdout=subprocess.DEVNULL)  # fmt: skip


# --------------------------------------------------------------------------- report
def fmt_table(n: int, s: dict[str, Any], p: dict[str, Any] | None) -> list[str]:
    rows: list[tuple[str, str, str, str]] = []

    def add(metric: str, sv: float, pv: float | None, unit: str, nd: int = 1) -> None:
        ratio = f"{sv / pv:.2f}" if pv else "-"
        rows.append((f"{metric} ({unit})", f"{sv:,.{nd}f}",
                     "-" if pv is None else f"{pv:,.{nd}f}", ratio))  # fmt: skip

    add("bulk load", s["load_rate"], p and p["load_rate"], "items/s", 0)
    add("database size per item", s["bytes_per_item"], p and p["bytes_per_item"], "bytes", 0)
    for name in s["queries"]:
        sq, pq = s["queries"][name], p["queries"][name] if p else None
        add(f"{name} p50", sq["p50"], pq and pq["p50"], "ms")
        add(f"{name} p99", sq["p99"], pq and pq["p99"], "ms")
    add("server RSS after latencies", s["rss_mb"], p and p["rss_mb"], "MB", 0)
    add("server RSS after throughput", s["rss_mb_after"], p and p["rss_mb_after"], "MB", 0)
    add("  of which not file-backed", s["anon_mb_after"], p and p["anon_mb_after"], "MB", 0)
    add("throughput a+b+c mix", s["rps"], p and p["rps"], "req/s")
    head = ("metric", "sathub", "stac-fastapi-pgstac" if p else "peer (skipped)",
            "sathub/peer")  # fmt: skip
    out = ["| " + " | ".join(head) + " |", "|---|---:|---:|---:|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def targets(n: int, s: dict[str, Any], p: dict[str, Any] | None) -> list[str]:
    bb = s["queries"]["a bbox+datetime"]
    note = "" if n >= 1_000_000 else f" (measured at {n:,} items; the targets are for 1,000,000)"
    lines = [f"Targets from the issue{note}:", ""]

    def line(ok: bool | None, text: str) -> None:
        mark = "n/a" if ok is None else ("met" if ok else "NOT met")
        lines.append(f"- {text}: **{mark}**")

    line(s["load_rate"] >= TARGET_LOAD, f"load >= {TARGET_LOAD:,.0f} items/s "
         f"(got {s['load_rate']:,.0f})")  # fmt: skip
    line(bb["p50"] <= TARGET_BBOX_P50, f"bbox+datetime p50 <= {TARGET_BBOX_P50:.0f} ms "
         f"(got {bb['p50']:.1f})")  # fmt: skip
    line(bb["p99"] <= TARGET_BBOX_P99, f"bbox+datetime p99 <= {TARGET_BBOX_P99:.0f} ms "
         f"(got {bb['p99']:.1f})")  # fmt: skip
    rss = max(s["rss_mb"], s["rss_mb_after"])
    line(rss <= TARGET_RSS, f"server RSS <= {TARGET_RSS:.0f} MB (got {rss:.0f})")
    if p:
        r = s["rps"] / p["rps"]
        line(r >= TARGET_TPUT_RATIO, f"throughput >= {TARGET_TPUT_RATIO}x the peer (got {r:.2f}x)")
    else:
        line(None, f"throughput >= {TARGET_TPUT_RATIO}x the peer (peer skipped)")
    return lines


def load_table(cmd: str, n: int, loads: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> str:
    """The bulk-load rows of every round (sathub, then the peer, on the same items file)."""
    out = [f"`{cmd}` — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {n:,} items, {machine_note()}", "",
           "| round | sathub items/s | load avg | pypgstac items/s | load avg | sathub/peer | "
           "sathub B/item | peer B/item | sathub CPU µs/item (writer + workers) | "
           "peer CPU µs/item (pypgstac + PostgreSQL) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    ratios = []
    for k, (s, p) in enumerate(loads, start=1):
        la = "{:.1f}→{:.1f}".format(*s["load_loadavg"])
        if p is None:
            out.append(f"| {k} | {s['load_rate']:,.0f} | {la} | - | - | - | {s['bytes_per_item']:,.0f} | - | "
                       "{:.0f} + {:.0f} | - |".format(*s["cpu_us"]))
            continue
        ratios.append(s["load_rate"] / p["load_rate"])
        pla = "{:.1f}→{:.1f}".format(*p["load_loadavg"])
        out.append(f"| {k} | {s['load_rate']:,.0f} | {la} | {p['load_rate']:,.0f} | {pla} | "
                   f"{ratios[-1]:.2f} | {s['bytes_per_item']:,.0f} | {p['bytes_per_item']:,.0f} | "
                   "{:.0f} + {:.0f} | ".format(*s["cpu_us"]) + "{:.0f} + {:.0f} |".format(*p["cpu_us"]))  # fmt: skip
    if ratios:
        out += ["", f"median sathub/peer load rate: {statistics.median(ratios):.2f}"]
    return "\n".join(out)


def machine_note() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return (f"{os.cpu_count()} shared cores ({cpu}), {mem:.0f} GB RAM, Python "
            f"{platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}")


def section(args: argparse.Namespace, cmd: str, s: dict[str, Any], p: dict[str, Any] | None,
            extra: dict[str, Any]) -> str:  # fmt: skip
    n = args.items
    out = [
        f"### {n:,} items" + ("" if p else ", sathub only"),
        "",
        f"`{cmd}` — {dt.date.today().isoformat()}, {n:,} items "
        f"(~{extra['item_bytes']:,.0f} B of JSON each), machine: {machine_note()}.",
        "",
        ("One server process each: " if p else "One server process: ")
        + "`sathub serve` (SQLite)"
        + (f" with {' '.join(args.sathub_env)}" if args.sathub_env else "")
        + (" and `uvicorn stac_fastapi.pgstac.app:create_app --factory` "
           f"({extra.get('peer_versions', '')}) on PostgreSQL {extra.get('pg_version', '')} "
           f"(shared_buffers {args.pg_shared_buffers}, same machine)" if p else "")
        + f". Latencies: {args.reps} sequential POST /search per query, random parameters, "
        f"after 5 warm-ups; (d) times the 10th page after following `next` 9 "
        f"times. Throughput: {args.clients} client threads for {args.duration:.0f} s on the "
        "a+b+c mix. Ratios are sathub/peer (lower is better for ms, bytes, MB; higher for /s).",
        "",
        *fmt_table(n, s, p),
        "",
    ]
    sl, pl = s["load_loadavg"], p and p["load_loadavg"]
    out += [f"1-minute load average of the machine (other users' jobs included) when sathub's "
            f"load started/ended: {sl[0]:.1f}/{sl[1]:.1f}, its queries started/ended: "
            f"{s['loadavg_before']:.1f}/{s['loadavg_after']:.1f}"
            + (f"; peer: load {pl[0]:.1f}/{pl[1]:.1f}, queries "
               f"{p['loadavg_before']:.1f}/{p['loadavg_after']:.1f}" if p else "")
            + ". Numbers above 2 mean the 2 cores were shared with other work.", ""]
    if p:
        out += [f"Peer PostgreSQL processes' RSS (not in the peer's row above): "
                f"{p['pg_rss_mb']:,.0f} MB.", ""]  # fmt: skip
    out += targets(n, s, p)
    out += [""]
    if extra.get("notes"):
        out += [*extra["notes"], ""]
    return "\n".join(out)


INTRO = [
    "## Catalog",
    "",
    "Written by `bench/bench_catalog.py --out docs/benchmarks.md` (see bench/README.md); one",
    "subsection per item count, the latest run of each count replacing the previous one.",
    "",
]


def write_section(path: Path, text: str, n: int) -> None:
    """Put ``text`` (a ``### N items`` subsection) into the ``## Catalog`` section of ``path``,
    replacing the subsection for the same N; other sections and subsections are kept."""
    bench_common.write_count_subsection(path, INTRO, text, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100_000, help="number of items (<= 1,000,000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reps", type=int, default=200, help="requests per query for latencies")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="time cap per query type")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (throughput)")
    ap.add_argument("--duration", type=float, default=15.0, help="throughput run, seconds")
    ap.add_argument("--no-peer", action="store_true", help="skip stac-fastapi-pgstac")
    ap.add_argument("--sathub-env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment of `sathub serve`, e.g. SATHUB_COUNT_CAP=0 (no counts)")
    ap.add_argument("--pg-shared-buffers", default="1GB")
    ap.add_argument("--peer-context", choices=("default", "on", "off", "auto"), default="default",
                    help="pgstac 'context' setting (numberMatched); default: pgstac's own (off)")
    ap.add_argument("--out", type=Path, help="write the ## Catalog section of this Markdown file")
    ap.add_argument("--json", type=Path, help="also write raw results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    ap.add_argument("--load-only", action="store_true",
                    help="only the bulk loads (sathub, then pypgstac on the same items): no servers")
    ap.add_argument("--rounds", type=int, default=1,
                    help="with --load-only: load both this many times, alternating (median)")
    args = ap.parse_args()
    if not 1 <= args.items <= 1_000_000:
        ap.error("--items must be within 1..1,000,000")

    cmd = "python bench/bench_catalog.py " + " ".join(
        a if " " not in a else repr(a) for a in sys.argv[1:])  # fmt: skip
    items = write_items(args.items, args.seed)
    item_bytes = items.stat().st_size / args.items
    log(f"items file: {items} ({items.stat().st_size / 2**20:,.0f} MB, {item_bytes:,.0f} B/item)")
    work = Path(tempfile.mkdtemp(prefix="sathub-bench-", dir=os.environ.get("BENCH_TMP")))
    work.chmod(0o755)
    extra: dict[str, Any] = {"item_bytes": item_bytes, "notes": []}
    peer: dict[str, Any] | None = None
    loads: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    try:
        for _ in range(args.rounds if args.load_only else 1):
            s = bench_sathub(items, args.items, args, work)
            shutil.rmtree(work / "sathub-data", ignore_errors=True)
            if not args.no_peer:
                items.chmod(0o644)
                peer = bench_peer(items, args.items, args, work)
                shutil.rmtree(work / "pg", ignore_errors=True)
            loads.append((s, peer))
        if not args.no_peer:
            try:
                pyv = PEER_VENV / "bin" / "python"
                vers = subprocess.run(
                    [str(pyv), "-c", "import importlib.metadata as m; print("
                     "'stac-fastapi-pgstac ' + m.version('stac-fastapi-pgstac') + ', pypgstac '"
                     " + m.version('pypgstac'))"], capture_output=True, text=True,
                ).stdout.strip()  # fmt: skip
                extra["peer_versions"] = vers
                extra["pg_version"] = pg_bin().parent.name
            except Exception:  # noqa: BLE001 - versions are decoration only
                pass
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")

    if args.load_only:
        print(load_table(cmd, args.items, loads))
        return
    text = section(args, cmd, s, peer, extra)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "sathub": s, "peer": peer}, indent=2))  # fmt: skip
    if args.out:
        write_section(args.out, text, args.items)
        log(f"wrote the ## Catalog section of {args.out}")


if __name__ == "__main__":
    main()
