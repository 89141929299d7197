"""``sathub audit verify`` and ``GET /admin/audit/verify``: everything the audit can prove, and
a list of what it could not check with this configuration.

One pass over the records (sequence, links, hashes; quota charges; the latest digest of every
chained row), read in pages by keyset (memory bounded whatever the log's length) inside one
read snapshot, so concurrent writers cause no false alarm; the anchor
files are measured under the write lock before that snapshot is taken (every line up to that
size belongs to a committed record, or to one rolled back by a crash).
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from sathub.access.audit_anchor import AnchorLine, FileAnchor, SyslogAnchor, line_mac_body, read_lines
from sathub.access.audit_chain import GENESIS, RECORD, head_mac, pending_mac, record_digest
from sathub.access.audit_state import compare, snapshot
from sathub.access.dates import iso, month_of
from sathub.access.state import StateConn

if TYPE_CHECKING:
    from sathub.access.audit import AuditLog


@dataclass
class VerifyResult:
    ok: bool
    records: int
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Problems(list[str]):
    """At most ``cap`` problems are kept (a wrong key fails every record); the rest counted."""

    cap = 200
    more = 0

    def append(self, problem: str) -> None:
        if len(self) < self.cap:
            super().append(problem)
        else:
            self.more += 1

    def extend(self, problems: Iterable[str]) -> None:
        for p in problems:
            self.append(p)

    def final(self) -> list[str]:
        return [*self, *([f"… and {self.more:,} more problems"] if self.more else [])]


@dataclass
class _Pass:
    """What one pass over the records found."""

    n: int = 0
    last_seq: int = 0
    last_hash: str = ""
    legacy: int = 0
    baseline: int | None = None
    state: dict[str, str | None] = field(default_factory=dict)
    usage: dict[tuple[int, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))


def verify(log: AuditLog, anchor_files: Sequence[Path] = ()) -> VerifyResult:
    cfg, store = log.config, log.store
    problems = _Problems()
    checked: list[str] = []
    not_checked: list[str] = []
    files = [a.path for a in cfg.anchors if isinstance(a, FileAnchor)]
    with store.tx():  # the write lock: anchor lines up to these sizes belong to committed records
        sizes = {p: p.stat().st_size if p.exists() else None for p in files}
    with store.snapshot() as c:
        p = _records(c, log, problems)
        checked.append(f"hash chain: {p.n} records" + (f" (1..{p.last_seq})" if p.n else ""))
        if p.n == 0:
            problems.append("the audit log is empty: every log starts with a baseline record "
                            "(the whole log was deleted)")  # fmt: skip
        elif p.baseline is None:
            problems.append("the log has no baseline record (deleted, or the log was replaced)")
        _head(c, log, p, problems, checked)
        _legacy_head(c, log, p, problems, checked)
        _pending(c, log, p, problems, checked, not_checked)
        _usage(c, p, problems, checked)
        if p.baseline is not None:
            current = snapshot(c)
            found = compare(p.state, current)
            problems.extend(found)
            if not found:
                checked.append(f"access rows: {len(current)} (organisations, keys, agreements, "
                               "activations, collection levels) equal their last chained versions")
        sources = [(str(f), f, sizes[f]) for f in files if sizes[f] is not None]
        sources += [(f"{f} (--anchor-file)", f, None) for f in anchor_files]
        for name, path, limit in sources:
            _anchor(c, log, p, name, read_lines(path, limit), problems, checked, not_checked)
    _limits(log, p, files, sizes, anchor_files, not_checked)
    return VerifyResult(not problems, p.n, problems.final(), checked, not_checked)


PAGE = 500  # records read per query: verify's memory is a page's, whatever the log's length


def _pages(c: StateConn) -> Iterator[Any]:
    """Every record in sequence order, read in pages by keyset on ``seq`` (the primary key)
    inside the caller's snapshot: a client-side cursor (psycopg's) would hold the whole log in
    memory at once."""
    sql = f"SELECT {', '.join(RECORD)}, fmt, prev, hash FROM audit"
    rows = c.execute(f"{sql} ORDER BY seq LIMIT {PAGE}").fetchall()
    while rows:
        yield from rows
        if len(rows) < PAGE:
            return
        rows = c.execute(f"{sql} WHERE seq > ? ORDER BY seq LIMIT {PAGE}", (rows[-1][0],)).fetchall()


def _records(c: StateConn, log: AuditLog, problems: list[str]) -> _Pass:
    p = _Pass(last_hash=GENESIS)
    prev, expected = GENESIS, 1
    for row in _pages(c):
        record, fmt, stored_prev, stored_hash = row[:11], row[11], row[12], row[13]
        seq, ts, _, action, resource, _, _, agr, _, detail, charged = record
        p.n += 1
        if seq > expected:
            problems.append(f"records {expected}..{seq - 1} missing (deleted)")
        elif seq < expected:
            problems.append(f"record {seq} out of sequence (inserted)")
        if stored_prev != prev:
            problems.append(f"record {seq}: does not follow the previous record (inserted, "
                            "deleted or reordered)")  # fmt: skip
        if not hmac.compare_digest(record_digest(log.key, stored_prev, record, fmt), stored_hash):
            problems.append(f"record {seq}: content does not match its hash (modified)")
        prev, expected = stored_hash, seq + 1
        p.last_seq, p.last_hash = seq, stored_hash
        if fmt is None:
            p.legacy += 1
            if p.baseline is not None:
                problems.append(f"record {seq}: a record of the first format after the upgrade")
            continue
        if action == "state.baseline":
            d = _detail(detail)
            if p.baseline is None:
                p.baseline = seq
                p.state = dict(d.get("rows") or {})
                for k, (nbytes, n) in (d.get("usage") or {}).items():
                    a, _, m = k.partition(":")
                    p.usage[(int(a), m)] = [int(nbytes), int(n)]
                if d.get("reason") == "head missing":
                    problems.append(f"record {seq}: the log was restarted because its head was "
                                    "missing (the head and perhaps records were deleted)")  # fmt: skip
            else:
                problems.append(f"record {seq}: a second baseline (the head row was deleted while "
                                "the log existed)")  # fmt: skip
        elif action == "state" and p.baseline is not None:
            p.state[resource] = _detail(detail).get("sha256")
        elif action == "audit.head.mismatch":
            d = _detail(detail)
            problems.append(f"record {seq}: a writer found the head at {d.get('head')} while the "
                            f"log ended at {d.get('last')} (records removed or the head edited)")  # fmt: skip
        elif action == "audit.pending.tampered":
            problems.append(f"record {seq}: a pending tile row failed its MAC and was set aside: "
                            f"{_detail(detail).get('row')}")  # fmt: skip
        if charged is not None and agr is not None:
            u = p.usage[(int(agr), month_of(ts))]
            u[0] += int(charged)
            u[1] += int(_detail(detail).get("requests", 1)) if action == "tiles" else 1
    return p


def _detail(text: str) -> dict[str, Any]:
    try:
        d = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return d if isinstance(d, dict) else {}


def _head(c: StateConn, log: AuditLog, p: _Pass, problems: list[str], checked: list[str]) -> None:
    head = c.execute("SELECT seq, hash, ts, mac FROM audit_head WHERE id = 1").fetchone()
    if head is None:
        problems.append("the head row (audit_head) is missing")
        return
    if not hmac.compare_digest(head[3], head_mac(log.akey, head[0], head[1], head[2])):
        problems.append("the head row's signature does not match (edited)")
    elif (head[0], head[1]) != (p.last_seq, p.last_hash):
        problems.append(f"the log ends at record {p.last_seq} but the head says {head[0]}: "
                        "records were removed or added at the end")  # fmt: skip
    else:
        checked.append(f"head: record {head[0]}, signed")


def _legacy_head(c: StateConn, log: AuditLog, p: _Pass, problems: list[str],
                 checked: list[str]) -> None:  # fmt: skip
    """``secrets/audit.head`` of the first format, when it is still there."""
    try:
        seq_text, digest = log.legacy_head_path.read_text().split()
        seq = int(seq_text)
    except FileNotFoundError:
        return
    except ValueError:
        problems.append(f"{log.legacy_head_path}: not a head file (edited)")
        return
    row = c.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        problems.append(f"{log.legacy_head_path} says record {seq} existed; the log ends at "
                        f"{p.last_seq}: records were removed")  # fmt: skip
    elif row[0] != digest:
        problems.append(f"record {seq} differs from the hash in {log.legacy_head_path} (rewritten)")
    else:
        checked.append(f"head file of the first format: record {seq}")


def _pending(c: StateConn, log: AuditLog, p: _Pass, problems: list[str],
             checked: list[str], not_checked: list[str]) -> None:  # fmt: skip
    n = 0
    for row in c.execute("SELECT hour, actor, resource, agreement_id, activation_id, charged, "
                         "requests, bytes, mac FROM tile_pending"):  # fmt: skip
        n += 1
        if not hmac.compare_digest(row[8], pending_mac(log.akey, row)):
            problems.append(f"tile_pending row (hour {row[0]}, {row[1]}, {row[2]}): edited outside "
                            "the API (its MAC does not match)")  # fmt: skip
        elif row[5] and row[3]:
            u = p.usage[(int(row[3]), month_of(row[0] * 3600.0))]
            u[0] += int(row[7])
            u[1] += int(row[6])
    if n:
        checked.append(f"pending tile uses: {n} rows, MACs checked")
        not_checked.append("tile uses of unfinished hours (tile_pending): an edited row is detected, "
                           "a deleted row or an older copy put back is not, until its hour is "
                           "written to the log")  # fmt: skip


def _usage(c: StateConn, p: _Pass, problems: list[str], checked: list[str]) -> None:
    table = {(int(a), m): [int(b), int(n)] for a, m, b, n in
             c.execute("SELECT agreement_id, month, bytes, requests FROM usage")}  # fmt: skip
    bad = 0
    for key in sorted(set(table) | set(p.usage)):
        have, want = table.get(key, [0, 0]), p.usage.get(key, [0, 0])
        if have != want:
            bad += 1
            problems.append(f"usage of agreement {key[0]} in {key[1]}: the table says {have[0]:,} "
                            f"bytes in {have[1]:,} requests, the audit records {want[0]:,} bytes "
                            f"in {want[1]:,} (edited outside the API)")  # fmt: skip
    if not bad:
        checked.append(f"quota counters: {len(table)} agreement-months equal the charges in the log")


def _anchor(c: StateConn, log: AuditLog, p: _Pass, name: str,
            lines: Iterable[AnchorLine | int], problems: list[str], checked: list[str],
            not_checked: list[str]) -> None:  # fmt: skip
    """Each valid line's (seq, hash) against the log; a later line for the same seq supersedes
    an earlier one (the earlier record was rolled back by a crash after anchoring)."""
    key = log.akey
    count = foreign = 0
    top: AnchorLine | None = None
    mismatched: dict[int, AnchorLine] = {}
    batch: list[AnchorLine] = []

    def flush() -> None:
        seqs = sorted({ln.seq for ln in batch})
        have: dict[int, str] = {}
        for i in range(0, len(seqs), 500):
            part = seqs[i:i + 500]
            have.update(c.execute(f"SELECT seq, hash FROM audit WHERE seq IN ({','.join('?' * len(part))})",
                                  part).fetchall())  # fmt: skip
        for ln in batch:
            if ln.seq in have and have[ln.seq] == ln.hash:
                mismatched.pop(ln.seq, None)
            elif ln.seq in have:
                mismatched[ln.seq] = ln
        batch.clear()

    for ln in lines:
        if isinstance(ln, int):
            problems.append(f"anchor {name} line {ln}: not a valid anchor line")
            continue
        if ln.key_id != key.id:
            foreign += 1
            continue
        if not hmac.compare_digest(ln.mac, key.mac(b"anchor", line_mac_body(ln.key_id, ln.seq, ln.hash, ln.ts))):
            problems.append(f"anchor {name} line {ln.lineno}: signature does not match (forged)")
            continue
        count += 1
        if top is None or ln.seq >= top.seq:
            top = ln
        batch.append(ln)
        if len(batch) >= 5000:
            flush()
    flush()
    for seq, ln in sorted(mismatched.items()):
        problems.append(f"record {seq} differs from the hash anchored in {name} line {ln.lineno} "
                        f"at {iso(ln.ts)} (rewritten)")  # fmt: skip
    other = f"; {foreign} lines of other keys ignored" if foreign else ""
    if top is None:
        not_checked.append(f"anchor {name}: no line of this key yet{other}")
        return
    if top.seq > p.last_seq:
        problems.append(f"anchor {name} says record {top.seq} existed at {iso(top.ts)}; the log ends "
                        f"at {p.last_seq}: records {p.last_seq + 1}..{top.seq} were removed (or the "
                        "process died between anchoring and committing them)")  # fmt: skip
    checked.append(f"anchor {name}: {count} lines, up to record {top.seq} ({iso(top.ts)}){other}")
    if top.seq < p.last_seq:
        not_checked.append(f"records {top.seq + 1}..{p.last_seq} come after the last line of anchor "
                           f"{name}: their removal cannot be detected")  # fmt: skip


def _limits(log: AuditLog, p: _Pass, files: list[Path], sizes: dict[Path, int | None],
            anchor_files: Sequence[Path], not_checked: list[str]) -> None:  # fmt: skip
    """What this configuration cannot prove."""
    cfg = log.config
    key = cfg.key
    if key.inside_data:
        not_checked.append(
            f"the audit key is inside the data directory ({key.source}): whoever can rewrite the "
            "data directory can read it and forge records, the head and the pending-tile MACs; "
            "only anchored records stay protected. Keep it outside (SATHUB_AUDIT_KEY_FILE or "
            "SATHUB_AUDIT_KEY)")  # fmt: skip
    elif key.source != "SATHUB_AUDIT_KEY":
        try:
            if Path(key.source).stat().st_mode & 0o006:
                not_checked.append(f"the key file {key.source} is readable by every user of the machine")
        except OSError:
            pass
    if not cfg.anchors and not anchor_files:
        not_checked.append(
            "anchor not configured (SATHUB_AUDIT_ANCHOR): deleting the whole log, or records at "
            "its end together with the head (with the key, or by putting back an older copy of "
            "the head row), cannot be detected")  # fmt: skip
    for a in cfg.anchors:
        if isinstance(a, SyslogAnchor) and not anchor_files:
            not_checked.append(f"anchor {a.describe()} cannot be read from here: pass an export of "
                               "its lines with --anchor-file to check it")  # fmt: skip
    for f in files:
        if sizes[f] is None:
            not_checked.append(f"anchor {f}: no file yet (nothing anchored since it was configured)")
    for inside in cfg.anchors_inside_data():
        not_checked.append(f"anchor {inside} is inside the data directory: it protects nothing "
                           "against someone who can rewrite that directory")  # fmt: skip
    if cfg.anchors and cfg.anchor_every > 1:
        not_checked.append(f"anchoring every {cfg.anchor_every} records: up to "
                           f"{cfg.anchor_every - 1} records at the end can be removed undetected")  # fmt: skip
    if p.legacy:
        not_checked.append(f"{p.legacy} records of the first format (before record "
                           f"{p.baseline or p.last_seq + 1}) carry no quota charges; the quota "
                           "counters and access rows of that time are taken as they were at the "
                           "upgrade")  # fmt: skip
