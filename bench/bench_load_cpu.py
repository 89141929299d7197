"""CPU seconds per item of a bulk load, per process, and the bytes it wrote.

``python bench/bench_load_cpu.py ITEMS.ndjson [--workers N] [--keep DIR]``: loads the file
(after the benchmark collection of bench_catalog.py) into a fresh embedded catalog with
``load_file`` and prints wall time, the loading (writer) process's CPU, the worker
processes' CPU (reaped children), the bytes the writer process wrote to disk
(``/proc/self/io``), the largest WAL size seen and the final database size. The machine is
shared: CPU per item is the figure to compare between versions, not the wall-clock rate.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from bench_catalog import collection_doc  # noqa: E402


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _written() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("items", type=Path)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    from sathub.catalog.loader import load_file
    from sathub.catalog.sqlite import SQLiteStore

    work = args.keep or Path(tempfile.mkdtemp(prefix="loadcpu-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "catalog.db"
    coll = work / "collection.json"
    coll.write_bytes(orjson.dumps(collection_doc()))
    store = SQLiteStore(db)
    load_file(store, coll)
    wal = Path(str(db) + "-wal")
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            try:
                peak[0] = max(peak[0], wal.stat().st_size)
            except FileNotFoundError:
                pass

    threading.Thread(target=watch, daemon=True).start()
    la0 = os.getloadavg()[0]
    c0, k0, w0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), _written(), time.perf_counter()
    stats = load_file(store, args.items, workers=args.workers)
    wall = time.perf_counter() - t0
    c1, k1, w1 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), _written()
    done.set()
    store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    size = sum(p.stat().st_size for p in work.glob("catalog.db*"))
    n = stats.items
    print(f"items {n:,}  wall {wall:.1f} s = {n / wall:,.0f} items/s  load avg {la0:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"CPU writer {c1 - c0:.1f} s = {(c1 - c0) / n * 1e6:.1f} us/item; "
          f"workers {k1 - k0:.1f} s = {(k1 - k0) / n * 1e6:.1f} us/item; "
          f"total {(c1 - c0 + k1 - k0) / n * 1e6:.1f} us/item")
    print(f"writer wrote {(w1 - w0) / 2**20:,.0f} MB = {(w1 - w0) / n:,.0f} B/item; WAL peak "
          f"{peak[0] / 2**20:,.0f} MB; database {size / 2**20:,.0f} MB = {size / n:,.0f} B/item")


if __name__ == "__main__":
    main()
