"""The anchored audit: several writer processes keep one valid chain and one consistent anchor;
syslog anchors; crashes between anchoring and commit; forged anchor lines; settings that
cannot be used; a wrong key or an unwritable anchor refuses to serve (fail closed); logs of
the first format are upgraded; HEAD and 304 answers; quota counters equal the chained charges."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from audit_support import Attacker, outside_key
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from typer.testing import CliRunner

from sathub.access import quotas, reports
from sathub.access.audit import NOT_MODIFIED
from sathub.access.audit_anchor import FileAnchor, make_line, read_lines
from sathub.access.audit_config import AuditConfig
from sathub.access.dates import month_of
from sathub.access.service import AccessService
from sathub.cli import app as cli_app
from sathub.config import Settings
from sathub.errors import AuditUnavailable, QuotaExceeded

HOUR = 3600.0


def _settings(data: Path, **audit: Any) -> Settings:
    s = Settings(data=data, **audit)
    s.layout.create()
    return s


def _anchored(tmp_path: Path, **extra: Any) -> Settings:
    safe = tmp_path / "outside"
    safe.mkdir(exist_ok=True)
    return _settings(tmp_path / "data", audit_key_file=outside_key(safe),
                     audit_anchor=str(safe / "anchor.log"), **extra)  # fmt: skip


def _lines(path: Path) -> list[Any]:
    return list(read_lines(path))


# ------------------------------------------------------------------ several processes
def _writer(data: str, key_file: str, anchor: str, tag: int, n: int, t0: float) -> None:
    svc = AccessService.for_settings(Settings(data=Path(data), audit_key_file=Path(key_file),
                                              audit_anchor=anchor))  # fmt: skip
    agreement = svc.store.agreement(1)
    for i in range(n):
        if i % 2:
            svc.audit.append(f"key:{tag}", "download", f"c/i{i}/data", nbytes=i, quota=agreement)
        else:
            svc.audit.append(f"key:{tag}", "search", "/search", outcome="200")
        if i % 4 == 0:  # tiles of an hour that is over, counted by every process at once
            svc.audit.record_tile(f"key:{tag % 2}", "c/i", nbytes=3, agreement_id=None,
                                  activation_id=None, now=t0 + i, quota=agreement)  # fmt: skip
    svc.close()


def test_four_processes_keep_one_valid_chain_and_anchor(tmp_path: Path) -> None:
    s = _anchored(tmp_path)
    svc = AccessService.for_settings(s)
    org = svc.store.add_org("Acme", "company")
    agreement = svc.store.add_agreement(org.id, title="t", collections=("c",), quota_bytes=10**9)
    assert agreement.id == 1
    t0 = time.time() - 3 * HOUR
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(s.data), str(s.audit_key_file), s.audit_anchor,
                                                tag, 200, t0)) for tag in range(4)]  # fmt: skip
    for p in procs:
        p.start()
    checks = 0
    while any(p.is_alive() for p in procs):  # verification never sees a half-written state
        r = svc.audit.verify()
        assert r.ok, r.problems
        checks += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    svc.audit.flush_tiles(everything=True)
    r = svc.audit.verify()
    assert r.ok, r.problems
    records = svc.audit.records()
    assert len(records) == r.records and [x["seq"] for x in records] == list(range(1, r.records + 1))
    assert sum(1 for x in records if x["action"] in ("download", "search")) == 800
    # the anchor: one line per record, in sequence order, each with the record's hash
    lines = _lines(Path(s.audit_anchor))
    chain = dict(svc.store.conn().execute("SELECT seq, hash FROM audit").fetchall())
    assert [ln.seq for ln in lines] == sorted(chain) and all(chain[ln.seq] == ln.hash for ln in lines)
    # tiles: every hour written once, counts exact across processes
    tiles = [x for x in records if x["action"] == "tiles"]
    assert sum(x["detail"]["requests"] for x in tiles) == 4 * 50
    assert len({(x["detail"]["hour"], x["actor"]) for x in tiles}) == len(tiles)
    # quota counters equal an independent sum of what the processes charged
    charged = 4 * (sum(i for i in range(200) if i % 2) + 3 * len(range(0, 200, 4)))
    row = svc.store.conn().execute("SELECT sum(bytes), sum(requests) FROM usage").fetchone()
    assert tuple(row) == (charged, 4 * (100 + 50))
    assert checks > 0


# ----------------------------------------------------------------------------- syslog
@pytest.mark.parametrize("transport", ["udp", "unix"])
def test_syslog_anchor_checked_from_an_export(tmp_path: Path, transport: str) -> None:
    if transport == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        target = f"syslog:127.0.0.1:{sock.getsockname()[1]}"
    else:
        path = tempfile.mktemp(prefix="sathub-syslog-", dir="/tmp")  # short: AF_UNIX path limit
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        target = f"syslog:{path}"
    sock.settimeout(10)
    try:
        s = _settings(tmp_path / "data", audit_anchor=target)
        svc = AccessService.for_settings(s)
        for i in range(5):
            svc.audit.append("key:1", "download", f"c/i{i}/data", nbytes=i)
        received = [sock.recv(65536).decode() for _ in range(6)]  # the baseline and five records
    finally:
        sock.close()
        if transport == "unix":
            os.unlink(path)
    assert all(m.startswith("<14>") for m in received)  # facility user, priority info
    export = tmp_path / "messages"
    export.write_text("".join(f"Dec  1 12:00:0{i} ground-1 {m[4:]}\n" for i, m in enumerate(received)))
    r = svc.audit.verify()
    assert r.ok and any("cannot be read from here" in x for x in r.not_checked)
    r = svc.audit.verify([export])
    assert r.ok and any("6 lines, up to record 6" in x for x in r.checked), r.checked
    Attacker(s.data).truncate(4)  # with the key from the data directory: a valid signed head
    assert svc.audit.verify().ok  # without the anchor nothing tells
    r = svc.audit.verify([export])
    assert not r.ok and any("records 5..6 were removed" in p for p in r.problems), r.problems


# ----------------------------------------------------------------- anchor line faults
class _Failing:
    def write(self, line: str) -> None:
        raise OSError("disk full")

    def describe(self) -> str:
        return "failing"


def test_crash_between_anchoring_and_commit(tmp_path: Path) -> None:
    """A line written for a transaction that then rolled back: reported until a later record
    takes that sequence number (the later line supersedes it)."""
    s = _anchored(tmp_path)
    svc = AccessService.for_settings(s)
    svc.audit.append("key:1", "download", "c/i/data", nbytes=5)
    good = svc.audit.config
    anchor = good.anchors[0]
    svc.audit.config = AuditConfig(good.key, (anchor, _Failing()), 1, good.data_root)
    with pytest.raises(AuditUnavailable, match="failing cannot be written"):
        svc.audit.append("key:1", "download", "c/i/data", nbytes=7)
    assert [r["bytes"] for r in svc.audit.records() if r["action"] == "download"] == [5]
    assert _lines(anchor.path)[-1].seq == 3  # anchored, then rolled back
    r = svc.audit.verify()
    assert not r.ok and any("died between anchoring and committing" in p for p in r.problems)
    svc.audit.config = good
    svc.audit.append("key:1", "download", "c/i/data", nbytes=9)
    assert svc.audit.verify().ok


def test_forged_malformed_and_foreign_anchor_lines(tmp_path: Path) -> None:
    s = _anchored(tmp_path)
    svc = AccessService.for_settings(s)
    svc.audit.append("key:1", "download", "c/i/data", nbytes=5)
    anchor = Path(s.audit_anchor)
    other = AuditConfig.from_settings(_settings(tmp_path / "other"))  # another installation's key
    with anchor.open("a") as fh:
        fh.write(make_line(other.key, 99, "a" * 64, 0.0) + "\n")
    r = svc.audit.verify()
    assert r.ok and any("1 lines of other keys ignored" in x for x in r.checked), r.checked
    line = json.loads(_lines_text(anchor)[-2].split(" ", 1)[1])
    line.update(seq=99)  # a later record claimed, without the key
    with anchor.open("a") as fh:
        fh.write("sathub-audit-anchor " + json.dumps(line) + "\n" + "sathub-audit-anchor {oops\n")
    r = svc.audit.verify()
    assert any("signature does not match (forged)" in p for p in r.problems)
    assert any("not a valid anchor line" in p for p in r.problems)


def _lines_text(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_anchoring_every_n_records(tmp_path: Path) -> None:
    s = _anchored(tmp_path, audit_anchor_every=3)
    svc = AccessService.for_settings(s)
    for i in range(10):
        svc.audit.append("key:1", "search", "/search")
    assert [ln.seq for ln in _lines(Path(s.audit_anchor))] == [3, 6, 9]
    r = svc.audit.verify()
    assert r.ok and any("anchoring every 3 records" in x for x in r.not_checked)
    assert any("records 10..11 come after the last line" in x for x in r.not_checked)


# ------------------------------------------------------------------------ fail closed
def test_unwritable_anchor_refuses_to_record_and_to_change(tmp_path: Path) -> None:
    s = _anchored(tmp_path)
    svc = AccessService.for_settings(s)
    n = len(svc.audit.records())
    Path(s.audit_anchor).unlink(missing_ok=True)
    Path(s.audit_anchor).parent.rename(tmp_path / "moved")
    with pytest.raises(AuditUnavailable, match="cannot be written"):
        svc.audit.append("key:1", "download", "c/i/data", nbytes=5)
    with pytest.raises(AuditUnavailable):
        svc.store.add_org("Acme", "company")
    assert svc.store.orgs() == [] and len(svc.audit.records()) == n


def test_wrong_key_refuses_to_write_and_verify_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    runner = CliRunner()
    monkeypatch.setenv("SATHUB_AUDIT_KEY_FILE", str(outside_key(tmp_path)))
    assert runner.invoke(cli_app, ["init", str(data)]).exit_code == 0
    assert runner.invoke(cli_app, ["orgs", "add", "Acme", "--kind", "company", "--data", str(data)]).exit_code == 0
    right = AccessService.for_settings(Settings(data=data))  # a tile of a finished hour, pending
    right.audit.record_tile("key:1", "c/i", nbytes=1, agreement_id=None, activation_id=None,
                            now=time.time() - 2 * HOUR)  # fmt: skip
    monkeypatch.delenv("SATHUB_AUDIT_KEY_FILE")  # an operator's shell without the setting
    r = runner.invoke(cli_app, ["orgs", "add", "Beta", "--kind", "company", "--data", str(data)])
    assert r.exit_code == 1 and "SATHUB_AUDIT_KEY_FILE" in r.stderr, r.stderr  # the audit cannot record
    assert [o.name for o in AccessService(data, data / "secrets").store.orgs()] == ["Acme"]
    r = runner.invoke(cli_app, ["audit", "verify", "--data", str(data)])  # cannot flush, still checks
    assert r.exit_code == 1 and "modified" in r.stderr and "tile_pending row" in r.stderr, r.stderr


def test_problems_are_capped(tmp_path: Path) -> None:
    """A wrong key fails every record: the report stays readable."""
    from sathub.access.audit import AuditLog
    from sathub.access.audit_config import AuditKey

    svc = AccessService(tmp_path, tmp_path / "secrets")
    for i in range(300):
        svc.audit.append("key:1", "search", "/search")
    other = AuditLog(svc.store, tmp_path / "secrets", AuditConfig(AuditKey(os.urandom(32), "test", False)))
    r = other.verify()
    assert not r.ok and len(r.problems) == 201 and r.problems[-1].startswith("… and ")


@pytest.mark.parametrize("env, message", [
    ({"SATHUB_AUDIT_KEY_FILE": "/nonexistent/audit.key"}, "SATHUB_AUDIT_KEY_FILE=/nonexistent/audit.key: no such file"),
    ({"SATHUB_AUDIT_KEY": "not hex"}, "SATHUB_AUDIT_KEY: the audit key must be hexadecimal"),
    ({"SATHUB_AUDIT_KEY": "ab" * 8}, "at least 32 bytes"),
    ({"SATHUB_AUDIT_KEY": "ab" * 32, "SATHUB_AUDIT_KEY_FILE": "/etc/hosts"}, "not both"),
    ({"SATHUB_AUDIT_ANCHOR": "relative/anchor.log"}, "SATHUB_AUDIT_ANCHOR: 'relative/anchor.log'"),
    ({"SATHUB_AUDIT_ANCHOR": "/nonexistent/dir/anchor.log"}, "does not exist"),
    ({"SATHUB_AUDIT_ANCHOR": "syslog:loghost:port"}, "syslog:HOST:PORT"),
    ({"SATHUB_AUDIT_ANCHOR_EVERY": "0"}, "SATHUB_AUDIT_ANCHOR_EVERY"),
])  # fmt: skip
def test_unusable_settings_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     env: dict[str, str], message: str) -> None:  # fmt: skip
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(cli_app, ["init", str(data)]).exit_code == 0
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for args in (["audit", "verify", "--data", str(data)], ["init", str(data)]):
        r = runner.invoke(cli_app, args)
        assert r.exit_code == 2 and message in " ".join(r.stderr.split()), (args, r.stderr)


def test_records_removed_while_serving_leave_evidence(tmp_path: Path) -> None:
    svc = AccessService.for_settings(_settings(tmp_path / "data"))
    svc.audit.append("key:1", "download", "c/i/data", nbytes=5)
    a = Attacker(tmp_path / "data")
    a.sql("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    svc.audit.append("key:1", "download", "c/i/data", nbytes=6)  # the service goes on …
    actions = [r["action"] for r in svc.audit.records()]
    assert actions[-2:] == ["audit.head.mismatch", "download"]
    r = svc.audit.verify()  # … and the gap stays on record
    assert not r.ok and any("a writer found the head at" in p for p in r.problems)


# ------------------------------------------------------------------------ the log itself
def test_head_and_304_answers_are_records(tmp_path: Path) -> None:
    svc = AccessService.for_settings(_settings(tmp_path / "data"))
    org = svc.store.add_org("Acme", "company")
    a = svc.store.add_agreement(org.id, title="t", collections=("c",), quota_bytes=100)
    svc.audit.append("key:1", "download", "c/i/data", nbytes=0, detail={"method": "HEAD"}, quota=a)
    svc.audit.append("key:1", "download", "c/i/data", nbytes=0, outcome=NOT_MODIFIED, agreement_id=a.id)
    svc.audit.append("key:1", "download", "c/i/data", nbytes=60, quota=a)
    report = reports.usage(svc.store, svc.audit, a.id, month_of(time.time()))
    assert report["requests"] == 3 and report["bytes"] == 60
    assert [r["outcome"] for r in report["records"] if r["action"] == "download"] == ["ok", NOT_MODIFIED, "ok"]
    with pytest.raises(QuotaExceeded):
        svc.audit.append("key:1", "download", "c/i/data", nbytes=41, quota=a)
    with pytest.raises(QuotaExceeded):
        quotas.check(svc.store, a, 41)
    assert quotas.used(svc.store, a.id, month_of(time.time())) == (60, 2)
    assert svc.audit.verify().ok


FIRST_FORMAT = """
CREATE TABLE orgs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE agreements (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id), content TEXT NOT NULL);
CREATE TABLE usage (agreement_id INTEGER NOT NULL, month TEXT NOT NULL, bytes INTEGER NOT NULL,
    requests INTEGER NOT NULL, PRIMARY KEY (agreement_id, month)) WITHOUT ROWID;
CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    resource TEXT NOT NULL, bytes INTEGER NOT NULL, outcome TEXT NOT NULL, agreement_id INTEGER,
    activation_id INTEGER, detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE tile_pending (hour INTEGER NOT NULL, actor TEXT NOT NULL, resource TEXT NOT NULL,
    agreement_id INTEGER, activation_id INTEGER, requests INTEGER NOT NULL, bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, actor, resource)) WITHOUT ROWID;
"""


def test_a_log_of_the_first_format_is_upgraded(tmp_path: Path) -> None:
    """Records hashed over ten columns, the head in secrets/audit.head, pending tiles without
    MAC: they verify after the upgrade, and what follows is checked fully."""
    import hashlib
    import hmac

    data, secrets = tmp_path / "data", tmp_path / "data" / "secrets"
    secrets.mkdir(parents=True)
    key = os.urandom(32)
    (secrets / "audit.key").write_text(key.hex() + "\n")
    c = sqlite3.connect(data / "access.db")
    c.executescript(FIRST_FORMAT)
    c.execute("INSERT INTO orgs VALUES (1, 'Acme', 'company', 0)")
    c.execute("""INSERT INTO agreements VALUES (1, 1, '{"title":"t","collections":["c"]}')""")
    c.execute("INSERT INTO usage VALUES (1, '2024-05', 1500, 2)")
    prev = "0" * 64
    for seq in range(1, 4):
        record = [seq, 1.7e9 + seq, "key:1", "download", "c/i/data", 500 * seq, "ok", 1, None, "{}"]
        digest = hmac.new(key, prev.encode() + b"\n" + orjson.dumps(record), hashlib.sha256).hexdigest()
        c.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*record, prev, digest))
        prev = digest
    c.execute("INSERT INTO tile_pending VALUES (470000, 'key:1', 'c/i', NULL, NULL, 4, 40)")
    c.commit()
    c.close()
    (secrets / "audit.head").write_text(f"3 {prev}\n")
    svc = AccessService(data, secrets)
    records = svc.audit.records()
    assert [r["action"] for r in records] == ["download"] * 3 + ["state.baseline", "tiles"]
    assert records[3]["detail"]["reason"] == "upgrade" and records[4]["detail"]["requests"] == 4
    r = svc.audit.verify()
    assert r.ok, r.problems
    assert any("3 records of the first format" in x for x in r.not_checked)
    assert any("head file of the first format: record 3" in x for x in r.checked)
    a = Attacker(data)
    a.sql("UPDATE usage SET bytes = 1")  # counters of before the upgrade are in the baseline
    assert any("usage of agreement 1 in 2024-05" in p for p in svc.audit.verify().problems)
    a.sql("UPDATE usage SET bytes = 1500")
    a.sql("UPDATE audit SET bytes = 1 WHERE seq = 2")
    assert any("record 2: content does not match" in p for p in svc.audit.verify().problems)


# --------------------------------------------------------------- quota counters, property
charge = st.tuples(st.sampled_from(["download", "tile", "search", "refused"]),
                   st.integers(0, 5_000), st.integers(0, 1), st.integers(-40 * 24, 0))  # fmt: skip


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(charge, min_size=1, max_size=25), tamper=st.integers(-3, 3).filter(bool))
def test_quota_counters_equal_the_chained_charges(ops: list[tuple[str, int, int, int]], tamper: int) -> None:
    """Any sequence of charged downloads and tiles (across months), uncharged records and
    refusals: the counters equal an independent sum and verify agrees; any edit is named."""
    with tempfile.TemporaryDirectory() as tmp:
        svc = AccessService(Path(tmp), Path(tmp) / "secrets")
        org = svc.store.add_org("Acme", "company")
        agreements = [svc.store.add_agreement(org.id, title=f"t{i}", collections=("c",),
                                              quota_bytes=20_000) for i in range(2)]  # fmt: skip
        expected: dict[tuple[int, str], list[int]] = {}
        now = time.time()
        for kind, nbytes, which, hours in ops:
            a, ts = agreements[which], now + hours * HOUR
            key = (a.id, month_of(ts))
            fits = expected.get(key, [0, 0])[0] + nbytes <= 20_000
            try:
                if kind == "download":
                    svc.audit.append("key:1", "download", "c/i/data", nbytes=nbytes, quota=a, ts=ts)
                elif kind == "tile":
                    svc.audit.record_tile("key:1", "c/i", nbytes=nbytes, agreement_id=a.id,
                                          activation_id=None, now=ts, quota=a)  # fmt: skip
                elif kind == "search":
                    svc.audit.append("key:1", "search", "/search", ts=ts)
                    continue
                else:
                    svc.audit.append("key:1", "download", "c/i/data", outcome="quota exceeded", agreement_id=a.id)
                    continue
            except QuotaExceeded:
                assert not fits
                continue
            assert fits
            e = expected.setdefault(key, [0, 0])
            e[0] += nbytes
            e[1] += 1
        for (agr, month), (b, n) in expected.items():
            assert quotas.used(svc.store, agr, month) == (b, n)
        assert svc.audit.verify().ok
        svc.audit.flush_tiles(everything=True)
        assert svc.audit.verify().ok
        if expected:
            (agr, month) = sorted(expected)[0]
            c = sqlite3.connect(Path(tmp) / "access.db")
            c.execute("UPDATE usage SET bytes = bytes + ? WHERE agreement_id = ? AND month = ?", (tamper, agr, month))
            c.commit()
            c.close()
            assert any(p.startswith(f"usage of agreement {agr} in {month}") for p in svc.audit.verify().problems)
        svc.close()


def test_verify_json_lists_what_was_and_was_not_checked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runner = CliRunner()
    assert runner.invoke(cli_app, ["init", str(data)]).exit_code == 0
    r = runner.invoke(cli_app, ["audit", "verify", "--data", str(data), "--format", "json"])
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["ok"] is True and out["records"] == 3  # baseline, the admin key, its issue record
    assert set(out) == {"ok", "records", "problems", "checked", "not_checked"}
    assert any("anchor not configured" in x for x in out["not_checked"])
    r = runner.invoke(cli_app, ["audit", "verify", "--data", str(data), "--anchor-file", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_key_file_outside_the_data_directory_is_not_reported_as_inside(tmp_path: Path) -> None:
    s = _anchored(tmp_path)
    r = AccessService.for_settings(s).audit.verify()
    assert r.ok and not any("inside the data directory" in x for x in r.not_checked), r.not_checked
    assert AuditConfig.from_settings(s).anchors == (FileAnchor(Path(s.audit_anchor)),)
