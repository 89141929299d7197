#!/usr/bin/env python3
# ruff: noqa: SIM115, PLW1510, S110  (a benchmark script: long-lived Popen logs, best-effort cleanup)
"""Catalog benchmark on PostgreSQL: sathub's pgstac backend against stac-fastapi-pgstac, on the
same database and the same items, in the same run.

What it does, everything on 127.0.0.1, cleaning up after itself:

1. starts a throwaway PostgreSQL cluster (``sathub.stack.postgres.PgCluster``), makes a sathub
   installation on it (``pypgstac migrate`` + sathub's tables) and a partner: the collection
   restricted, one organisation with one agreement (the whole globe, acquired since 2018, no
   embargo: the partner sees every item, so both servers return the same pages) and its key;
2. loads the collection and the N items (``bench_catalog.py``'s synthetic Sentinel-2 L2A
   items, or ``--items-file``) with pypgstac's loader (``pypgstac load items``), then
   ``VACUUM ANALYZE``;
3. starts ``sathub serve`` (SATHUB_PG_DSN) and ``uvicorn stac_fastapi.pgstac.app`` (the
   ``bench`` extra installs it, with the same pypgstac) on that one database, one process each;
4. checks the two return the same items for a sample of each query, then times the query mix
   of ``bench_catalog.py`` (a bbox+datetime, b CQL2 cloud<x, c intersects, d page 10):
   sathub with the partner's key (so every search also evaluates its access filter, ANDed in
   pgstac's query), the peer without; latencies p50/p99, then ``--rounds`` throughput runs
   alternating sathub/peer (median and per-round ratios) with the CPU seconds used by each
   server and by PostgreSQL, and the machine's load average;
5. ``EXPLAIN (ANALYZE, BUFFERS)`` of pgstac's query for one sample of each kind as sathub
   sends it (with the partner's filter): where the time goes;
6. with ``--out FILE`` writes the ``### N items`` subsection of the ``## Catalog on
   PostgreSQL`` section of that Markdown file.

The peer counts matches like sathub does (pgstac's ``context`` set to ``on``; ``--peer-context``).
At 10^6 items use ``--peer-context auto``: pgstac then estimates large counts from the planner,
as sathub does past ``SATHUB_COUNT_CAP`` (an exact count of 10^6 rows per page outlasts any client).

Usage::

    .venv/bin/python bench/bench_pgstac.py --items 100000 --out docs/benchmarks.md
    .venv/bin/python bench/bench_pgstac.py --items 1000000 --items-file .bench/items-1000000-s42.ndjson
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_catalog as bc  # noqa: E402  (the query mix, item generator and helpers)
import common  # noqa: E402  (bench/common.py)

HOST = bc.HOST
SECTION = "## Catalog on PostgreSQL"
TARGET_RATIO = 1.0  # sathub (partner) / stac-fastapi-pgstac throughput, issue 14


def log(msg: str) -> None:
    bc.log(msg)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def postgres_pids(pg_root: Path) -> list[int]:
    """The cluster's postmaster and its backends."""
    pidfile = pg_root / "data" / "postmaster.pid"
    try:
        main = psutil.Process(int(pidfile.read_text().split()[0]))
        return [main.pid] + [c.pid for c in main.children(recursive=True)]
    except (OSError, ValueError, psutil.Error):
        return []


def setup_installation(data: Path, dsn: str) -> str:
    """A sathub installation on ``dsn`` and a partner key that sees the whole collection."""
    from sathub.access import keys
    from sathub.app import Installation
    from sathub.config import Settings

    inst = Installation.create(Settings(data=data, pg_dsn=dsn))
    s = inst.access.store
    s.set_collection_level(bc.COLLECTION, "restricted")
    org = s.add_org("Benchmark partner", "university").id
    world = {"type": "Polygon", "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]}
    s.add_agreement(org, title="whole archive", collections=(bc.COLLECTION,), aoi=world,
                    acquired_from=bc.START.timestamp(), embargo_days=0)  # fmt: skip
    token = keys.issue(s, "partner", org)[0]
    inst.close()
    return token


def pypgstac_load(dsn: str, items: Path, work: Path) -> float:
    exe = Path(sys.executable).parent / "pypgstac"
    coll = work / "collection.ndjson"
    coll.write_bytes(orjson.dumps(bc.collection_doc()) + b"\n")
    subprocess.run([str(exe), "load", "collections", str(coll), "--dsn", dsn, "--method",
                    "insert_ignore"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run([str(exe), "load", "items", str(items), "--dsn", dsn, "--method", "insert"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - t0


def psql(dsn: str, sql: str) -> str:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        if cur.description is None:
            return ""
        return "\n".join(str(r[0]) for r in cur.fetchall())


def start_sathub(data: Path, dsn: str, port: int, work: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "sathub"
    env = {**os.environ, "SATHUB_PG_DSN": dsn}
    proc = subprocess.Popen([str(exe), "serve", "--data", str(data), "--host", HOST, "--port", str(port)],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=open(work / "sathub.log", "wb"))  # fmt: skip
    bc.wait_http(f"http://{HOST}:{port}/", proc)
    return proc


def start_peer(pg_port: int, port: int, work: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PGUSER": "postgres", "PGPASSWORD": "x", "PGDATABASE": "postgres",
           "PGHOST": HOST, "PGPORT": str(pg_port), "POSTGRES_USER": "postgres",
           "POSTGRES_PASS": "x", "POSTGRES_DBNAME": "postgres", "POSTGRES_HOST_READER": HOST,
           "POSTGRES_HOST_WRITER": HOST, "POSTGRES_PORT": str(pg_port), "POSTGRES_HOST": HOST,
           "ENABLE_TRANSACTIONS_EXTENSIONS": "false", "WEB_CONCURRENCY": "1"}  # fmt: skip
    import stac_fastapi.pgstac.app as peer_app

    target = ["stac_fastapi.pgstac.app:create_app", "--factory"] if hasattr(peer_app, "create_app") \
        else ["stac_fastapi.pgstac.app:app"]  # fmt: skip
    proc = subprocess.Popen([str(Path(sys.executable).parent / "uvicorn"), *target, "--host", HOST,
                             "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=open(work / "peer.log", "wb"))  # fmt: skip
    bc.wait_http(f"http://{HOST}:{port}/", proc)
    return proc


def same_results(s_base: str, p_base: str, headers: dict[str, str], seed: int) -> dict[str, bool]:
    """For 5 samples of each query: the same item ids, in the same order, from both servers."""
    out = {}
    with httpx.Client(timeout=900) as c:  # a peer counting 10^6 rows takes minutes
        for name, make in bc.QUERIES.items():
            rng = random.Random(seed + 7)
            ok = True
            for _ in range(5):
                body = make(rng)
                ra, rb = c.post(f"{s_base}/search", json=body, headers=headers), c.post(f"{p_base}/search", json=body)
                for who, r in (("sathub", ra), ("peer", rb)):
                    if r.status_code != 200:
                        raise RuntimeError(f"{who}: POST /search {r.status_code}: {r.text[:500]} (body {body})")
                a, b = ra.json(), rb.json()
                ok &= [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]]
            out[name] = ok
    return out


def explain(dsn: str, data: Path, token: str, seed: int) -> dict[str, str]:
    """EXPLAIN ANALYZE of pgstac's items query for one sample of each kind, as sathub builds
    it for the partner (the WHERE clause of catalog/pgstac/guarded.py)."""
    import psycopg

    from sathub.access.policy import grants_filter
    from sathub.app import Installation
    from sathub.catalog.params import build_query
    from sathub.catalog.pgstac.guarded import clauses
    from sathub.catalog.pgstac.store import run
    from sathub.config import Settings

    inst = Installation.open(Settings(data=data, pg_dsn=dsn))
    extra = grants_filter(inst.access.actor(f"Bearer {token}"), time.time())
    store: Any = inst.catalog
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        for name, make in bc.QUERIES.items():
            body = make(random.Random(seed + 1))
            q = build_query(body, default_limit=10, max_limit=10_000)
            sbody, plain = store._body(q, extra)
            where = clauses(conn, run, sbody, plain).page_where
            plan = conn.execute(
                f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM items WHERE {where} "
                "ORDER BY datetime DESC, id DESC LIMIT 11").fetchall()  # fmt: skip
            out[name] = "\n".join(r[0] for r in plan)
    inst.close()
    return out


def measure_throughput(base: str, pids: list[int], pg_pids: list[int], args: argparse.Namespace,
                       headers: dict[str, str] | None, k: int) -> dict[str, float]:  # fmt: skip
    la0 = os.getloadavg()[0]
    c0, p0 = cpu_seconds(pids), cpu_seconds(pg_pids)
    rps, errors = bc.throughput(base, args.clients, args.duration, args.seed + k, headers=headers)
    cpu, pgcpu = cpu_seconds(pids) - c0, cpu_seconds(pg_pids) - p0
    n = max(rps * args.duration, 1)
    return {"rps": rps, "errors": errors, "loadavg": (la0 + os.getloadavg()[0]) / 2,
            "server_cpu_ms_per_req": cpu / n * 1000, "pg_cpu_ms_per_req": pgcpu / n * 1000}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--items-file", type=Path, help="an NDJSON of bench_catalog.py's items (not copied)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reps", type=int, default=100, help="sequential requests per query")
    ap.add_argument("--max-seconds", type=float, default=30.0, help="time cap per query type")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per throughput run")
    ap.add_argument("--rounds", type=int, default=3, help="throughput runs per server, alternating")
    ap.add_argument("--pg-shared-buffers", default="1GB")
    ap.add_argument("--peer-context", choices=("on", "off", "auto"), default="on",
                    help="pgstac's context (numberMatched) for the peer; sathub counts exactly up to "
                         "SATHUB_COUNT_CAP, then estimates: 'auto' is pgstac's like of it")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    try:  # before a load of minutes: the peer must be there (`pip install -e .[bench]`)
        import stac_fastapi.pgstac.app  # noqa: F401
    except ImportError as exc:
        sys.exit(f"the peer is not installed ({exc}): pip install -e '.[bench]'")

    from sathub.stack.postgres import PgCluster

    cmd = "python bench/bench_pgstac.py " + " ".join(sys.argv[1:])
    items = args.items_file or bc.write_items(args.items, args.seed)
    work = Path(tempfile.mkdtemp(prefix="sathub-bench-pg-", dir=os.environ.get("BENCH_TMP")))
    work.chmod(0o755)
    pg = PgCluster(work / "pg", shared_buffers=args.pg_shared_buffers)
    procs: list[subprocess.Popen[bytes]] = []
    res: dict[str, Any] = {"cmd": cmd, "items": args.items, "started": dt.datetime.now(dt.UTC).isoformat()}
    try:
        pg.start()
        dsn = pg.dsn()
        data = work / "data"
        token = setup_installation(data, dsn)
        headers = {"Authorization": f"Bearer {token}"}
        log(f"pypgstac load of {items} ({args.items:,} items)")
        la0 = os.getloadavg()[0]
        load_s = pypgstac_load(dsn, items, work)
        res["load"] = {"s": load_s, "rate": args.items / load_s, "loadavg": (la0, os.getloadavg()[0])}
        count = int(psql(dsn, "SELECT count(*) FROM pgstac.items"))
        assert count == args.items, (count, args.items)
        log(f"loaded in {load_s:.0f} s ({args.items / load_s:,.0f} items/s); VACUUM ANALYZE")
        psql(dsn, "VACUUM ANALYZE")
        psql(dsn, "INSERT INTO pgstac.pgstac_settings (name, value) VALUES ('context', "
                  f"'{args.peer_context}') ON CONFLICT (name) DO UPDATE SET value = excluded.value")  # fmt: skip
        res["pg_version"] = psql(dsn, "SHOW server_version")
        res["pgstac_version"] = psql(dsn, "SELECT pgstac.get_version()")
        sp, pp = bc.free_port(), bc.free_port()
        sathub = start_sathub(data, dsn, sp, work)
        procs.append(sathub)
        peer = start_peer(pg.port, pp, work)
        procs.append(peer)
        s_base, p_base = f"http://{HOST}:{sp}", f"http://{HOST}:{pp}"
        res["same_results"] = same_results(s_base, p_base, headers, args.seed)
        log(f"same items from both: {res['same_results']}")
        for label, base, hdr in (("sathub", s_base, headers), ("peer", p_base, None)):
            q: dict[str, Any] = {}
            log(f"{label}: latencies, load average {os.getloadavg()[0]:.2f}")
            bc.run_queries(base, args.reps, args.seed, args.max_seconds, q, headers=hdr)
            res[f"{label}_queries"] = q
        pg_pids = postgres_pids(work / "pg")
        runs: dict[str, list[dict[str, float]]] = {"sathub": [], "peer": []}
        for k in range(args.rounds):
            for label, base, hdr, proc in (("sathub", s_base, headers, sathub), ("peer", p_base, None, peer)):
                r = measure_throughput(base, bc.tree_pids(proc), pg_pids, args, hdr, k)
                runs[label].append(r)
                log(f"round {k + 1} {label}: {r['rps']:.1f} req/s ({r['errors']} errors), server "
                    f"{r['server_cpu_ms_per_req']:.1f} ms CPU/req, PostgreSQL "
                    f"{r['pg_cpu_ms_per_req']:.1f} ms CPU/req, load {r['loadavg']:.1f}")
        res["runs"] = runs
        res["explain"] = explain(dsn, data, token, args.seed)
    finally:
        for p in procs:
            bc.stop_proc(p)
        try:
            pg.stop()
        except Exception:
            pass
        shutil.rmtree(work, ignore_errors=True)
    text = report(res, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    if args.out:
        write_section(args.out, text, args.items)
    return 0


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    runs = res["runs"]
    s_rps = [r["rps"] for r in runs["sathub"]]
    p_rps = [r["rps"] for r in runs["peer"]]
    ratios = [a / b for a, b in zip(s_rps, p_rps, strict=True)]
    ratio = statistics.median(s_rps) / statistics.median(p_rps)
    med = statistics.median
    lines = [
        f"### {res['items']:,} items", "",
        f"`{res['cmd']}` — {res['started'][:16].replace('T', ' ')} UTC, {bc.machine_note()}; "
        f"PostgreSQL {res['pg_version']}, pgstac {res['pgstac_version']}, one database.", "",
        f"Loaded with `pypgstac load items` in {res['load']['s']:.0f} s "
        f"({res['load']['rate']:,.0f} items/s, load average {res['load']['loadavg'][0]:.1f}→"
        f"{res['load']['loadavg'][1]:.1f}). One server process each: `sathub serve` "
        "(SATHUB_PG_DSN) queried **as a partner** (a restricted collection, one agreement "
        "covering it all: every search also evaluates the partner's access filter inside "
        "pgstac's query), `uvicorn stac_fastapi.pgstac.app` (stac-fastapi-pgstac, pgstac "
        f"context `{args.peer_context}`) anonymous. Same item ids in the same order for 5 samples "
        f"of each query: {res['same_results']}.", "",
        "| query | sathub p50 / p99 ms | stac-fastapi-pgstac p50 / p99 ms | p50 ratio sathub/peer |",
        "|---|---:|---:|---:|",
    ]  # fmt: skip
    for name, sq in res["sathub_queries"].items():
        pq = res["peer_queries"][name]
        lines.append(f"| {name} | {sq['p50']:.1f} / {sq['p99']:.1f} | {pq['p50']:.1f} / {pq['p99']:.1f} | "
                     f"{sq['p50'] / pq['p50']:.2f} |")  # fmt: skip
    lines += [
        "", f"Throughput, a+b+c mix, {args.clients} clients × {args.duration:.0f} s, {args.rounds} rounds "
        "alternating (sathub first):", "",
        "| round | sathub req/s | peer req/s | ratio | sathub CPU ms/req (server / PostgreSQL) | "
        "peer CPU ms/req (server / PostgreSQL) | load avg |", "|---|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for k, (a, b) in enumerate(zip(runs["sathub"], runs["peer"], strict=True), start=1):
        lines.append(f"| {k} | {a['rps']:.1f} | {b['rps']:.1f} | {a['rps'] / b['rps']:.2f} | "
                     f"{a['server_cpu_ms_per_req']:.1f} / {a['pg_cpu_ms_per_req']:.1f} | "
                     f"{b['server_cpu_ms_per_req']:.1f} / {b['pg_cpu_ms_per_req']:.1f} | "
                     f"{(a['loadavg'] + b['loadavg']) / 2:.1f} |")  # fmt: skip
    met = "met" if ratio >= TARGET_RATIO else "NOT met"
    lines += ["", f"Median throughput: sathub {med(s_rps):.1f} req/s, peer {med(p_rps):.1f} req/s: "
              f"**{ratio:.2f}×** (per-round ratios {', '.join(f'{r:.2f}' for r in ratios)}); target "
              f"≥ {TARGET_RATIO:.1f}× at 1,000,000 items: **{met}**"
              + ("" if res["items"] >= 1_000_000 else f" (measured at {res['items']:,} items)") + ".", "",
              "pgstac's query plans for one sample of each kind, as sathub sends it for the partner "
              "(`EXPLAIN (ANALYZE, BUFFERS)` of the items query with the WHERE clause of `catalog/pgstac/guarded.py`):", ""]  # fmt: skip
    for name, plan in res["explain"].items():
        top = [ln for ln in plan.splitlines() if "Execution Time" in ln or "Planning Time" in ln]
        first = plan.splitlines()[:6]
        lines += [f"<details><summary>{name}: {'; '.join(t.strip() for t in top)}</summary>", "",
                  "```", *first, "```", "</details>", ""]  # fmt: skip
    return "\n".join(lines)


def write_section(path: Path, text: str, n: int) -> None:
    """Put ``text`` into the ``## Catalog on PostgreSQL`` section of ``path`` (replacing the
    subsection for the same N; other sections kept)."""
    intro = [SECTION, "", "Written by `bench/bench_pgstac.py --out docs/benchmarks.md`; one subsection "
             "per item count, the latest run replacing the previous one.", ""]  # fmt: skip
    common.write_count_subsection(path, intro, text, n)


if __name__ == "__main__":
    sys.exit(main())
