#!/usr/bin/env python3
"""Console benchmark: the agreements list (N agreements of 10 organisations, this month's use
read per agreement) and the dashboard, rendered for an admin through the whole app in-process
(session cookie, access middleware, gate, the admin routes' reads, Jinja2). Reports p50/p90 per
page and query string. docs/console.md says 1,000 agreements page and sort in well under a
second; this is the measurement.

Usage::

    .venv/bin/python bench/bench_console.py --agreements 1000 --reps 20
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import Stopwatch
from fastapi.testclient import TestClient

from sathub.access import keys
from sathub.api.app import create_app
from sathub.app import Installation
from sathub.config import Settings

BASE = "http://testserver"
SAME = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
QUERIES = {
    "agreements, first page": "/console/agreements",
    "agreements, by title desc, page 2": "/console/agreements?sort=title&dir=desc&page=2",
    "agreements, status filter, 100 a page": "/console/agreements?f_status=draft&per=100",
    "agreements, text search": "/console/agreements?q=017",
    "dashboard": "/console",
}


def build(data: Path, n: int) -> tuple[Installation, str]:
    inst = Installation.open(Settings(data=data), create=True)
    store = inst.access.store
    now = time.time()
    for o in range(10):
        org = store.add_org(f"Bench partner {o:02d}", "company")
        for k in range(n // 10):
            a = store.add_agreement(org.id, title=f"Agreement {o:02d}-{k:04d}", collections=("c",),
                                    status="active" if k % 3 else "draft",
                                    quota_bytes=(k + 1) * 1_000_000)  # fmt: skip
            if k % 4 == 0:
                inst.access.audit.append("key:bench", "download", "c/i/a", nbytes=1000 * k,
                                         agreement_id=a.id, quota=a, ts=now - 60)  # fmt: skip
    token = keys.issue(store, "admin", None, label="bench")[0]
    return inst, token


def sign_in(client: TestClient, key: str) -> None:
    page = client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/console/login", data={"key": key, "login_token": token, "next": "/console"},
                    headers=SAME)  # fmt: skip
    assert r.status_code == 303, r.text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agreements", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sathub-bench-console-") as tmp:
        with Stopwatch() as sw:
            inst, key = build(Path(tmp) / "data", args.agreements)
        print(f"built {args.agreements} agreements in {sw.s:.1f} s")
        client = TestClient(create_app(inst), base_url=BASE, follow_redirects=False)
        sign_in(client, key)
        print(f"\n{args.agreements} agreements, {args.reps} requests each (after 2 warm-up)\n")
        print("| page | p50 ms | p90 ms | HTML kB |\n|---|---:|---:|---:|")
        for name, url in QUERIES.items():
            for _ in range(2):
                assert client.get(url, headers=SAME).status_code == 200, url
            times = []
            size = 0
            for _ in range(args.reps):
                with Stopwatch() as sw:
                    r = client.get(url, headers=SAME)
                times.append(sw.s * 1000)
                size = len(r.content)
            q = statistics.quantiles(times, n=10)
            print(f"| {name} | {statistics.median(times):.0f} | {q[-1]:.0f} | {size / 1000:.0f} |")


if __name__ == "__main__":
    main()
