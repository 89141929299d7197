#!/usr/bin/env python3
"""Audit append cost: records/s of ``AuditLog.append`` (plain, charged against a quota, with a
file anchor), of ``record_tile``, of several writer processes at once, and the time of a full
verification. Runs against whatever ``sathub`` is importable, so the same script measures the
code before the anchored audit (modes it lacks are reported as such).

Usage::

    .venv/bin/python bench/bench_audit.py --records 5000 --processes 4
    PYTHONPATH=/path/to/older/src .venv/bin/python bench/bench_audit.py   # an older checkout
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT / "src"))

from common import Stopwatch, print_table, rate, run_processes  # noqa: E402

from sathub.access.service import AccessService  # noqa: E402
from sathub.config import Settings  # noqa: E402

try:  # the anchored audit
    from sathub.access.audit_config import AuditConfig  # noqa: E402, F401

    ANCHORED = True
except ImportError:
    ANCHORED = False


def service(data: Path, anchor: str = "") -> AccessService:
    settings = Settings(data=data, **({"audit_anchor": anchor} if anchor else {}))
    settings.layout.create()
    if ANCHORED:
        return AccessService.for_settings(settings)
    return AccessService.for_layout(settings.layout)


def writer(data: str, anchor: str, n: int, tag: int, ready: Any) -> None:
    svc = service(Path(data), anchor)
    ready.wait()  # timing starts when every process is up
    for i in range(n):
        svc.audit.append(f"key:{tag}", "download", f"c/i{i}/data", nbytes=i)
    svc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--processes", type=int, default=4)
    args = ap.parse_args()
    n = args.records
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="sathub-bench-audit-") as tmp:
        svc = service(Path(tmp) / "plain")
        rows.append(("append", f"{rate(n, lambda i: svc.audit.append('key:1', 'download', 'c/i/data', nbytes=i)):,.0f}"))
        org = svc.store.add_org("Acme", "company")
        agreement = svc.store.add_agreement(org.id, title="t", collections=("c",), quota_bytes=None)
        if ANCHORED:
            r = rate(n, lambda i: svc.audit.append("key:1", "download", "c/i/data", nbytes=i, quota=agreement))
            rows.append(("append + quota charge (one transaction)", f"{r:,.0f}"))
        else:
            from sathub.access import quotas

            def charged(i: int) -> None:
                quotas.charge(svc.store, agreement, i)  # type: ignore[attr-defined]
                svc.audit.append("key:1", "download", "c/i/data", nbytes=i, agreement_id=agreement.id)

            rows.append(("append + quota charge (two transactions)", f"{rate(n, charged):,.0f}"))
        now = time.time()
        r = rate(n, lambda i: svc.audit.record_tile("key:1", f"c/i{i % 50}", nbytes=100, agreement_id=None,
                                                    activation_id=None, now=now))  # fmt: skip
        rows.append(("record_tile (same hour)", f"{r:,.0f}"))
        with Stopwatch() as sw:
            result = svc.audit.verify()
        assert result.ok, result.problems
        rows.append((f"verify ({result.records:,} records)", f"{sw.s:.2f} s"))
        if ANCHORED:
            anchor = str(Path(tmp) / "anchor.log")
            a = service(Path(tmp) / "anchored", anchor)
            r = rate(n, lambda i: a.audit.append("key:1", "download", "c/i/data", nbytes=i))
            rows.append(("append, file anchor every record", f"{r:,.0f}"))
            with Stopwatch() as sw:
                result = a.audit.verify()
            assert result.ok, result.problems
            rows.append((f"verify with the anchor ({result.records:,} records)", f"{sw.s:.2f} s"))
        else:
            rows.append(("append, file anchor every record", "n/a (no anchors)"))
            anchor = ""
        data = Path(tmp) / "multi"
        service(data, anchor).close()
        per = n // args.processes
        elapsed = run_processes(writer, [(str(data), anchor, per, k) for k in range(args.processes)])
        check = service(data, anchor).audit.verify()
        assert check.ok, check.problems
        label = f"{args.processes} processes × {per:,} appends" + (", file anchor" if anchor else "")
        rows.append((label, f"{args.processes * per / elapsed:,.0f}"))
    print(f"sathub audit bench — {'anchored audit' if ANCHORED else 'first-format audit'}, "
          f"{n:,} records, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    print_table(("operation", "records/s"), rows)


if __name__ == "__main__":
    main()
