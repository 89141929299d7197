#!/usr/bin/env python3
"""``sathub migrate`` throughput: an embedded installation of N synthetic items (each with
``--assets`` objects of ``--kb`` KiB, checksums recorded) moved to PostgreSQL/pgstac + S3
(a throwaway cluster and moto's server, as the tests start them): items/s and MB/s of the
first run, the time of a re-run that finds everything in place, and of the way back.

Usage::

    .venv/bin/python bench/bench_migrate.py --items 2000 --assets 2 --kb 64
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT / "src"))

from common import Stopwatch  # noqa: E402

from sathub.app import Installation  # noqa: E402
from sathub.app.migrate import migrate  # noqa: E402
from sathub.cli.migrate import _target  # noqa: E402
from sathub.config import Settings  # noqa: E402

CID = "bench"


def collection() -> dict[str, Any]:
    return {"type": "Collection", "stac_version": "1.0.0", "id": CID, "description": "bench",
            "license": "CC-BY-4.0", "links": [],
            "extent": {"spatial": {"bbox": [[90, 10, 100, 25]]},
                       "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}}}  # fmt: skip


def build(data: Path, n: int, assets: int, kb: int) -> int:
    rnd = os.urandom(kb * 1024 + n + assets)
    total = 0
    with Installation.create(Settings(data=data)) as inst:
        inst.access.bootstrap()
        with inst.catalog.transaction() as tx:
            tx.put_collection(collection())
        items = []
        for i in range(n):
            x, y = 90 + (i % 100) / 10, 10 + (i // 100 % 150) / 10
            item: dict[str, Any] = {
                "type": "Feature", "stac_version": "1.0.0", "id": f"i{i:07d}", "collection": CID,
                "geometry": {"type": "Point", "coordinates": [x, y]}, "bbox": [x, y, x, y],
                "properties": {"datetime": f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z"},
                "links": [], "assets": {}}  # fmt: skip
            for a in range(assets):
                body = rnd[i + a : i + a + kb * 1024]
                key = f"{CID}/i{i:07d}/v1/a{a}.bin"
                inst.objects.put(key, io.BytesIO(body))
                item["assets"][f"a{a}"] = {"href": key, "file:size": len(body),
                                           "file:checksum": "1220" + hashlib.sha256(body).hexdigest()}  # fmt: skip
                total += len(body)
            items.append(item)
        inst.catalog.bulk_upsert(items)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--assets", type=int, default=2)
    ap.add_argument("--kb", type=int, default=64)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    from sathub.stack.postgres import PgCluster
    from sathub.stack.s3server import ACCESS_KEY, SECRET_KEY, S3Server

    tmp = Path(tempfile.mkdtemp(prefix="sathub-bench-migrate-"))
    try:
        with PgCluster(tmp / "pg") as pg, S3Server() as s3:
            s3.create_bucket("bench")
            import psycopg

            with psycopg.connect(pg.dsn(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            src_s = Settings(data=tmp / "src")
            nbytes = build(src_s.data, args.items, args.assets, args.kb)
            dst_s = Settings(data=tmp / "dst", pg_dsn=pg.dsn("bench"), s3_bucket="bench",
                             s3_endpoint=s3.endpoint, s3_access_key_id=ACCESS_KEY,
                             s3_secret_access_key=SECRET_KEY)  # fmt: skip
            with Installation.open(src_s) as src, _target(src_s, dst_s) as dst:
                with Stopwatch() as first:
                    report = migrate(src, dst, batch=args.batch)
                assert report.ok, report.problems
                with Stopwatch() as rerun:
                    again = migrate(src, dst, batch=args.batch)
                assert again.ok and again.row("items").copied == 0
            back_s = Settings(data=tmp / "back")
            with Installation.open(dst_s) as src, _target(dst_s, back_s) as dst:
                with Stopwatch() as back:
                    assert migrate(src, dst, batch=args.batch).ok
        mb = nbytes / 1e6
        print(f"{args.items} items, {args.items * args.assets} assets, {mb:.1f} MB "
              f"(batch {args.batch}; {time.strftime('%Y-%m-%d')})")
        print(f"  embedded -> pgstac+S3: {first.s:.1f} s  {args.items / first.s:,.0f} items/s  {mb / first.s:.1f} MB/s")
        print(f"  re-run (all in place): {rerun.s:.1f} s")
        print(f"  pgstac+S3 -> embedded: {back.s:.1f} s  {args.items / back.s:,.0f} items/s  {mb / back.s:.1f} MB/s")
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
