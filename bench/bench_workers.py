#!/usr/bin/env python3
# ruff: noqa: ISC004  (a benchmark script: a Markdown report)
"""API workers benchmark (issue 14): throughput of two API workers against one, behind nginx,
on the pgstac catalog, on this machine, with the CPU each process group used.

1. Starts the stack with :class:`sathub.stack.up.Stack` (throwaway PostgreSQL with pgstac, one
   ``sathub serve`` behind nginx; no Dask cluster and no S3 server: the assets stay on local
   disk, so no Python S3 server's CPU is counted as the archive's), loads the real STAC items
   of ../shared/data (tests/conftest.py's REAL_FILES, ~2,200 items) and ingests the Landsat 8
   TOA scene and the Aberystwyth Sentinel-2 scene;
2. builds a fixed list of requests (``--mix`` of them, seeded): 50 % ``POST /search`` (a random
   bbox and a year before an item's date, limit 10), 30 % item reads, 20 % 256 px PNG tiles of
   the ingested scenes at zooms 10-13; every one is sent once and must answer 200 (a mix of
   cheap refusals would measure nothing);
3. alternates ``--rounds`` rounds of 1 and of 2 workers (``Stack.restart_apis``: ``sathub serve
   --workers N`` behind nginx, restarted for each round); each round warms up for ``--warmup``
   seconds, then runs the load generator for ``--seconds``. The load generator is ``wrk``
   (C, one thread, ``--clients`` keep-alive connections) with a Lua script that sends the
   list in the same order in every round; it reports requests/s, p50/p99 latency and
   non-2xx/socket errors;
4. over each measured interval, the CPU seconds of each group, read with psutil (user + system
   of each process and of its reaped children): the API processes (uvicorn's supervisor and
   workers), PostgreSQL (postmaster and backends), nginx (master and worker), the load
   generator (wrk's rusage, plus this script), and "other" (the machine's busy CPU time minus
   the groups: the other sessions on this machine), with the idle CPU time and the 1-minute
   load average at the start and end;
5. then, with 2 workers, each kind of request alone for ``--by-kind`` seconds: the CPU per
   search, item read and tile of each group (where the CPU of the mix goes);
6. reports each round, the median req/s of each configuration, the median of the ratios of
   adjacent rounds, the CPU per request and the ceiling of the ratio it implies on this
   machine; ``--out docs/benchmarks.md`` writes the ``## API workers`` section.

Needs ``wrk`` (Debian: ``apt-get install -y wrk``; no test uses it, so .ci/run does not
install it).

Usage::

    .venv/bin/python bench/bench_workers.py [--rounds 3] [--seconds 20] [--warmup 6]
        [--clients 8] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import morecantile
import psutil
from common import log, machine_cpu, publish, tree_cpu

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
WM = morecantile.tms.get("WebMercatorQuad")
GROUPS = ("api", "postgresql", "nginx", "load generator", "other")



# ---------------------------------------------------------------------------------- the data
def load_data(stack: Any) -> list[tuple[str, str, list[float], str | None]]:
    from conftest import REAL_FILES, SFEOS_COLLECTION, SFEOS_ITEMS, STAC
    from test_ingest_support import copy_real_imagery

    from sathub.app import Installation
    from sathub.catalog.loader import load_file
    from sathub.ingest.pipeline import ingest_paths

    settings = stack.settings()
    with Installation.open(settings) as inst:
        for rel in REAL_FILES:
            load_file(inst.catalog, STAC / rel)
        load_file(inst.catalog, STAC / SFEOS_ITEMS, collection=SFEOS_COLLECTION)
        src = copy_real_imagery(stack.root / "in")
        ingest_paths([src / "landsat8", src / "aber"], "scenes", settings, inst.catalog, inst.objects)
        return [(it["collection"], it["id"], it["bbox"], it["properties"].get("datetime"))
                for c in inst.catalog.list_collections() for it in inst.catalog.iter_items(c["id"])]  # fmt: skip


def requests_mix(items: list[tuple[str, str, list[float], str | None]], n: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """``n`` requests (method, path, JSON body or ""): 50 % searches, 30 % items, 20 % tiles."""
    rng = random.Random(seed)
    scenes = [i for i in items if i[0] == "scenes" and not i[1].endswith("_ndvi_ref")]  # ≥ 3 bands
    dated = [i for i in items if i[3]]
    out: list[tuple[str, str, str]] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            _, _, (w, s, e, nn), when = rng.choice(dated)
            cx, cy, d = (w + e) / 2, (s + nn) / 2, rng.uniform(0.2, 3)
            end = dt.date.fromisoformat(str(when)[:10])
            span = f"{end - dt.timedelta(days=365)}T00:00:00Z/{end}T23:59:59Z"
            bbox = [max(-180, cx - d), max(-90, cy - d), min(180, cx + d), min(90, cy + d)]
            out.append(("POST", "/search", json.dumps({"bbox": bbox, "limit": 10, "datetime": span})))
        elif r < 0.8:
            c, i, _, _ = rng.choice(items)
            out.append(("GET", f"/collections/{c}/items/{i}", ""))
        else:
            c, i, (w, s, e, nn), _ = rng.choice(scenes)
            z = rng.randint(10, 13)
            t = WM.tile(rng.uniform(w, e), rng.uniform(s, nn), z)
            query = ("asset=B4&bidx=1&rescale=0,1" if i.startswith("LC8")  # one file per band
                     else "bidx=1&bidx=2&bidx=3&rescale=0,3000")
            out.append(("GET", f"/collections/{c}/items/{i}/tiles/WebMercatorQuad/{z}/{t.x}/{t.y}.png?{query}", ""))
    return out


def check_mix(base: str, mix: list[tuple[str, str, str]]) -> None:
    """Every distinct request answers 200 (else the benchmark would time refusals)."""
    def one(req: tuple[str, str, str]) -> str | None:
        method, path, body = req
        r = client.request(method, path, content=body or None,
                           headers={"Content-Type": "application/json"} if body else None)  # fmt: skip
        return None if r.status_code == 200 else f"{r.status_code} {method} {path[:90]}"

    with httpx.Client(base_url=base, timeout=120) as client, ThreadPoolExecutor(4) as pool:
        bad = [b for b in pool.map(one, sorted(set(mix))) if b]
    if bad:
        raise SystemExit(f"{len(bad)} requests of the mix do not answer 200, e.g. {bad[:5]}")


# ---------------------------------------------------------------------------------- wrk
def lua_script(mix: list[tuple[str, str, str]], path: Path) -> Path:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    rows = ",\n".join(f"  {{{q(m)}, {q(p)}, {q(b)}}}" for m, p, b in mix)
    path.write_text(f"""-- written by bench/bench_workers.py: the same requests in the same order
local reqs = {{
{rows}
}}
local formatted, n = {{}}, 0
function init(args)
  for i, r in ipairs(reqs) do
    local headers, body = {{}}, nil
    if r[3] ~= "" then headers["Content-Type"] = "application/json"; body = r[3] end
    formatted[i] = wrk.format(r[1], r[2], headers, body)
  end
end
function request()
  n = n + 1
  return formatted[(n - 1) % #formatted + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
""")
    return path


def run_wrk(url: str, script: Path, clients: int, seconds: float) -> dict[str, Any]:
    """wrk's results, and its CPU seconds (its rusage: the only child reaped meanwhile)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--timeout", "120s",
                          "-s", str(script), url],
                         capture_output=True, text=True, check=True)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON "))
    res: dict[str, Any] = json.loads(line[len("WRKJSON "):])
    res["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return res


# ---------------------------------------------------------------------------------- CPU
def measure(stack: Any, workers: int, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    stack.restart_apis(workers)
    run_wrk(stack.nginx.url, script, args.clients, args.warmup)  # warm every worker: imports, pools, GDAL
    return interval(stack, workers, script, args.clients, args.seconds)


def interval(stack: Any, workers: int, script: Path, clients: int, seconds: float) -> dict[str, Any]:
    """One measured run of wrk with the CPU of each group over it."""
    url = stack.nginx.url
    pg_pid = int((stack.pg.datadir / "postmaster.pid").read_text().split()[0])
    pids = {"api": stack.apis[0].proc.pid, "postgresql": pg_pid, "nginx": stack.nginx.proc.pid}
    me = psutil.Process()
    before = {k: tree_cpu(p) for k, p in pids.items()}
    me0, (busy0, idle0), load0 = sum(me.cpu_times()[:2]), machine_cpu(), os.getloadavg()[0]
    res = run_wrk(url, script, clients, seconds)
    (busy1, idle1), load1 = machine_cpu(), os.getloadavg()[0]
    cpu = {k: tree_cpu(p) - before[k] for k, p in pids.items()}
    cpu["load generator"] = res["cpu_s"] + sum(me.cpu_times()[:2]) - me0
    cpu["other"] = max(0.0, busy1 - busy0 - sum(cpu.values()))
    wall = res["duration_us"] / 1e6
    return {"workers": workers, "rps": res["requests"] / wall, "requests": res["requests"],
            "wall": wall, "p50_ms": res["p50_us"] / 1000, "p99_ms": res["p99_us"] / 1000,
            "errors": res["status"] + res["connect"] + res["read"] + res["write"] + res["timeout"],
            "cpu": cpu, "idle": idle1 - idle0, "load": (load0, load1)}  # fmt: skip


KINDS = {"search": lambda m, p: m == "POST", "item read": lambda m, p: m == "GET" and "/tiles/" not in p,
         "tile": lambda m, p: "/tiles/" in p}  # fmt: skip


def by_kind(stack: Any, mix: list[tuple[str, str, str]], root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """With the current (2-worker) servers: each kind of request alone, its CPU per request."""
    out = {}
    for kind, test in KINDS.items():
        script = lua_script([r for r in mix if test(r[0], r[1])], root / f"mix-{kind.replace(' ', '-')}.lua")
        run_wrk(stack.nginx.url, script, args.clients, 3)
        out[kind] = interval(stack, 2, script, args.clients, args.by_kind)
        r = out[kind]
        log(f"{kind} alone: {r['rps']:.1f} req/s, CPU ms/req " + ", ".join(
            f"{g} {1000 * r['cpu'][g] / max(1, r['requests']):.1f}" for g in GROUPS[:4]))
    return out


# ---------------------------------------------------------------------------------- report
def report(rounds: list[dict[str, Any]], kinds: dict[str, Any], args: argparse.Namespace, n_items: int,
           started: dt.datetime) -> str:  # fmt: skip
    one = [r for r in rounds if r["workers"] == 1]
    two = [r for r in rounds if r["workers"] == 2]
    pair_ratios = [b["rps"] / a["rps"] for a, b in zip(one, two, strict=False)]
    ratio = statistics.median(pair_ratios)
    cmd = " ".join([".venv/bin/python", "bench/bench_workers.py", *sys.argv[1:]])
    lines = [
        "## API workers", "",
        f"`{cmd}` on {started:%Y-%m-%d %H:%M} UTC, {platform.node()} ({os.cpu_count()} cores, "
        f"shared with other sessions), Python {platform.python_version()}; pgstac with {n_items} "
        f"real items, nginx in front of `sathub serve --workers N` (`sathub.stack.up.Stack`, "
        "assets on local disk). Load generator: `wrk -t1` (C, one thread; Debian: `apt-get install -y wrk`) with "
        f"{args.clients} keep-alive connections and a Lua script sending the same {args.mix} "
        "requests in the same order in every round (50 % searches, 30 % item reads, 20 % "
        f"tiles; each checked to answer 200 first). {args.rounds} rounds of each configuration, "
        f"alternating, each {args.seconds:.0f} s after {args.warmup:.0f} s of warm-up.", "",
        "CPU columns: seconds of CPU each group used in the measured interval, read with psutil "
        "(API = uvicorn's supervisor and workers; PostgreSQL = postmaster and backends; load "
        "generator = wrk and this script; other = the machine's busy time minus the groups, i.e. "
        "the other sessions; idle = unused CPU time). The machine offers "
        f"{os.cpu_count()} × {args.seconds:.0f} = {os.cpu_count() * args.seconds:.0f} CPU s per round.", "",  # type: ignore[operator]
        "| round | workers | req/s | p50 ms | p99 ms | errors | CPU s API | PostgreSQL | nginx | "
        "load generator | other | idle | CPU ms/req API / PostgreSQL | load avg (start → end) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for k, r in enumerate(rounds, 1):
        c = r["cpu"]
        lines.append(f"| {k} | {r['workers']} | {r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                     f"{r['errors']} | {c['api']:.1f} | {c['postgresql']:.1f} | {c['nginx']:.2f} | "
                     f"{c['load generator']:.2f} | {c['other']:.1f} | {r['idle']:.1f} | "
                     f"{1000 * c['api'] / max(1, r['requests']):.0f} / "
                     f"{1000 * c['postgresql'] / max(1, r['requests']):.0f} | "
                     f"{r['load'][0]:.1f} → {r['load'][1]:.1f} |")  # fmt: skip

    def med(rs: list[dict[str, Any]], f: Any) -> float:
        return statistics.median(f(r) for r in rs)

    own = ("api", "postgresql", "nginx", "load generator")
    per_req = {g: med(rounds, lambda r, g=g: 1000 * r["cpu"][g] / max(1, r["requests"])) for g in own}
    cores = os.cpu_count() or 1
    total = sum(per_req.values())
    two_max = cores * 1000 / total
    one_max = min(1000 / per_req["api"], two_max)
    lines += [
        "",
        f"Median req/s: 1 worker **{med(one, lambda r: r['rps']):.1f}**, 2 workers "
        f"**{med(two, lambda r: r['rps']):.1f}**; median p50/p99: {med(one, lambda r: r['p50_ms']):.0f}/"
        f"{med(one, lambda r: r['p99_ms']):.0f} ms → {med(two, lambda r: r['p50_ms']):.0f}/"
        f"{med(two, lambda r: r['p99_ms']):.0f} ms. Two workers against one, median of the "
        f"round-pair ratios ({', '.join(f'{x:.2f}' for x in pair_ratios)}): **{ratio:.2f}×** "
        "(target ≥ 1.3×).",
        "",
        "Median CPU share of the measured interval (cores; 1.00 = one core for the whole "
        "interval): " + "; ".join(
            f"{w} worker{'s' if w == 2 else ''}: " + ", ".join(
                f"{g} {med(rs, lambda r, g=g: r['cpu'][g] / r['wall']):.2f}" for g in GROUPS)
            + f", idle {med(rs, lambda r: r['idle'] / r['wall']):.2f}"
            for w, rs in ((1, one), (2, two))) + ".",
        "",
        "CPU per request of the mix (median of all rounds): "
        + ", ".join(f"{g} {v:.1f} ms" for g, v in per_req.items()) + f"; {total:.0f} ms in all. "
        f"Ceiling on {cores} otherwise idle cores: one worker is at most one core (one Python "
        f"process), {1000 / per_req['api']:.1f} req/s, and all groups together at most "
        f"{two_max:.1f} req/s, so 1 worker ≤ {one_max:.1f} req/s, 2 workers ≤ {two_max:.1f} req/s: "
        f"a ratio of at most **{two_max / one_max:.2f}×** for this mix on this machine.",
        "",
    ]
    if kinds:
        lines += [
            f"Each kind of request alone (2 workers, {args.by_kind:.0f} s each after 3 s of warm-up), "
            "CPU per request:", "",
            "| kind | req/s | p50 ms | CPU ms/req API | PostgreSQL | nginx | load generator |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for kind, r in kinds.items():
            n = max(1, r["requests"])
            lines.append(f"| {kind} | {r['rps']:.1f} | {r['p50_ms']:.0f} | "
                         + " | ".join(f"{1000 * r['cpu'][g] / n:.1f}" for g in own) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds of each configuration")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=6)
    ap.add_argument("--clients", type=int, default=8, help="wrk's keep-alive connections")
    ap.add_argument("--by-kind", type=float, default=8, help="seconds of each kind alone (0: skip)")
    ap.add_argument("--mix", type=int, default=1500, help="requests in the fixed list")
    ap.add_argument("--out", type=Path, help="write the ## API workers section of this Markdown file")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    from sathub.stack.up import Stack

    started = dt.datetime.now(dt.UTC)
    root = Path(tempfile.mkdtemp(prefix="sathub-bench-workers-"))
    stack = Stack(root, api_servers=1, workers_per_server=2, dask_workers=0, local_assets=True)
    try:
        stack.start(say=log)
        log("loading the items and ingesting the scenes")
        items = load_data(stack)
        mix = requests_mix(items, args.mix)
        log(f"checking the {len(set(mix))} distinct requests of the mix")
        check_mix(stack.nginx.url, mix)
        script = lua_script(mix, root / "mix.lua")
        rounds = []
        for k in range(args.rounds):
            for workers in (1, 2):
                rounds.append(measure(stack, workers, script, args))
                r = rounds[-1]
                log(f"round {k + 1}, {workers} worker(s): {r['rps']:.1f} req/s, p50 {r['p50_ms']:.0f} ms, "
                    f"p99 {r['p99_ms']:.0f} ms, errors {r['errors']}, CPU s "
                    + ", ".join(f"{g} {r['cpu'][g]:.1f}" for g in GROUPS)
                    + f", idle {r['idle']:.1f}, load {r['load'][0]:.1f} → {r['load'][1]:.1f}")
        kinds = by_kind(stack, mix, root, args) if args.by_kind > 0 else {}
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
    publish(report(rounds, kinds, args, len(items), started), args.out, "## API workers")


if __name__ == "__main__":
    main()
