"""``sathub audit verify`` reads the log in pages (``audit_verify.PAGE`` records by keyset on
``seq``), not all at once: on PostgreSQL a client-side cursor held every record in memory
(tens of thousands of records: tens of MB). The paged pass gives exactly what one query over
the whole log gave, on intact and tampered chains, with page boundaries anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pg_support import pg_settings

from sathub.access import audit_verify
from sathub.access.audit_chain import FMT, GENESIS, RECORD, head_mac, record_digest
from sathub.app import Installation
from sathub.config import Settings


@contextmanager
def _installation(tmp: Path, backend: str) -> Iterator[tuple[Installation, Settings]]:
    settings = pg_settings(tmp / "data") if backend == "pgstac" else Settings(data=tmp / "data")
    with Installation.create(settings) as inst:
        inst.access.bootstrap()
        yield inst, settings


def _append(inst: Installation, n: int, detail_bytes: int = 100) -> None:
    """``n`` chained download records after the last one (the documented record format), and
    the signed head; written in one statement batch (appending one by one takes minutes)."""
    log = inst.access.audit
    cols = f"{', '.join(RECORD)}, fmt, prev, hash"
    with log.store.tx() as c:
        last = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
        rows = []
        for _ in range(n):
            seq += 1
            detail = json.dumps({"pad": f"{seq:08d}" * (detail_bytes // 8)}, sort_keys=True)
            record = (seq, 1.7e9 + seq, "key:1", "download", f"asset/{seq}", 1000, "ok",
                      None, None, detail, None)  # fmt: skip
            digest = record_digest(log.key, prev, record, FMT)
            rows.append((*record, FMT, prev, digest))
            prev = digest
        sql = f"INSERT INTO audit ({cols}) VALUES ({', '.join('?' * (len(RECORD) + 3))})"
        pg = getattr(c, "pg", None)
        if pg is not None:
            from sathub.access.pg_store import translate

            with pg.cursor() as cur:
                cur.executemany(translate(sql), rows)
        else:
            c.executemany(sql, rows)
        top = rows[-1]
        c.execute("UPDATE audit_head SET seq = ?, hash = ?, ts = ?, mac = ? WHERE id = 1",
                  (top[0], top[-1], top[1], head_mac(log.akey, top[0], top[-1], top[1])))  # fmt: skip


def _sql(inst: Installation, sql: str, *params: Any) -> None:
    """An attacker's statement on the audit table (outside the API)."""
    with inst.access.audit.store.tx() as c:
        c.execute(sql, params)


def _verify_both_ways(inst: Installation, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """verify read in pages of 7 records equals verify read in one query (the reference)."""
    log = inst.access.audit
    monkeypatch.setattr(audit_verify, "PAGE", 10**9)
    whole = log.verify().as_dict()
    monkeypatch.setattr(audit_verify, "PAGE", 7)
    paged = log.verify().as_dict()
    assert paged == whole
    return paged


TAMPERINGS = [
    ("intact", []),
    ("modified", ["UPDATE audit SET detail = '{}' WHERE seq = 15"]),
    ("deleted across a page", ["DELETE FROM audit WHERE seq BETWEEN 12 AND 23"]),
    ("moved to the end", ["UPDATE audit SET seq = 100000 WHERE seq = 30"]),
    ("inserted before the start", [f"INSERT INTO audit ({', '.join(RECORD)}, fmt, prev, hash) "
                                   f"SELECT 0, {', '.join(RECORD[1:])}, fmt, prev, hash "
                                   "FROM audit WHERE seq = 40"]),
    ("cut at the end", ["DELETE FROM audit WHERE seq > 50"]),
]  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "pgstac"])
@pytest.mark.parametrize("name,attack", TAMPERINGS, ids=[t[0] for t in TAMPERINGS])
def test_paged_verify_equals_one_query(backend: str, name: str, attack: list[str], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    with _installation(tmp_path, backend) as (inst, _):
        _append(inst, 60)
        for sql in attack:
            _sql(inst, sql)
        result = _verify_both_ways(inst, monkeypatch)
        assert result["ok"] is (name == "intact"), result["problems"]
        assert result["records"] > 60 - 13


MEASURE = """
import json, sys
from sathub.app import Installation
from sathub.config import Settings

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

with Installation.open(Settings(data=sys.argv[1], pg_dsn=sys.argv[2])) as inst:
    log = inst.access.audit
    with log.store.snapshot() as c:  # the connection and the modules verify uses, warmed up
        c.execute("SELECT seq FROM audit ORDER BY seq LIMIT 10").fetchall()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak RSS starts again from here
    before = status("VmRSS")
    result = log.verify()
    print(json.dumps({"ok": result.ok, "records": result.records,
                      "growth": status("VmHWM") - before}))
"""


def test_verify_memory_is_bounded_on_postgresql(tmp_path: Path) -> None:
    n, detail_bytes = 30_000, 1000
    with _installation(tmp_path, "pgstac") as (inst, settings):
        _append(inst, n, detail_bytes)
    data = n * detail_bytes  # the details alone: 30 MB
    out = subprocess.run([sys.executable, "-c", MEASURE, str(settings.data), str(settings.pg_dsn)],
                         capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["ok"] and got["records"] > n, got
    # measured: the whole log in memory grew by 117 MB (3.9x the data); pages of 500: 1.6 MB
    assert got["growth"] < data / 10, f"verify grew by {got['growth'] / 1e6:.1f} MB for {data / 1e6:.0f} MB of records"
