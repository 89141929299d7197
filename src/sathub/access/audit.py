"""The audit log: append-only, tamper-evident.

Every record (asset download, signed-link use, tile use aggregated per item and hour, partner
search, admin change) holds actor, time, action, resource, bytes and outcome, and is chained:
``hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the record)`` with the key in
``DATA/secrets/audit.key``. :meth:`AuditLog.verify` recomputes the chain and reports a
modified record (hash mismatch), an inserted or deleted one (sequence gap or broken link), and
a truncated tail (the head ``DATA/secrets/audit.head`` — last sequence number and hash — no
longer matches). Someone holding both the database and the key can rewrite history: keep the
secrets directory apart from the database's backups, or ship the head elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sathub.access.secretfile import load_or_create, write_private
from sathub.access.store import AccessStore

GENESIS = "0" * 64
COLUMNS = ("seq", "ts", "actor", "action", "resource", "bytes", "outcome", "agreement_id",
           "activation_id", "detail")  # fmt: skip


def _digest(key: bytes, prev: str, record: tuple[Any, ...]) -> str:
    body = orjson.dumps(list(record))
    return hmac.new(key, prev.encode() + b"\n" + body, hashlib.sha256).hexdigest()


@dataclass
class VerifyResult:
    ok: bool
    records: int
    problems: list[str] = field(default_factory=list)


class AuditLog:
    def __init__(self, store: AccessStore, secrets_dir: Path) -> None:
        self.store = store
        self.key = load_or_create(Path(secrets_dir) / "audit.key")
        self.head_path = Path(secrets_dir) / "audit.head"

    def append(self, actor: str, action: str, resource: str, *, nbytes: int = 0,
               outcome: str = "ok", agreement_id: int | None = None,
               activation_id: int | None = None, detail: dict[str, Any] | None = None,
               ts: float | None = None) -> int:  # fmt: skip
        """Append one record; returns its sequence number."""
        ts = time.time() if ts is None else ts
        detail_text = orjson.dumps(detail or {}, option=orjson.OPT_SORT_KEYS).decode()
        with self.store.tx() as c:
            row = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
            record = (seq, ts, actor, action, resource, int(nbytes), outcome, agreement_id,
                      activation_id, detail_text)  # fmt: skip
            digest = _digest(self.key, prev, record)
            c.execute(f"INSERT INTO audit ({', '.join(COLUMNS)}, prev, hash) "
                      f"VALUES ({', '.join('?' * (len(COLUMNS) + 2))})", (*record, prev, digest))
            write_private(self.head_path, f"{seq} {digest}\n")
        return seq

    def record_tile(self, actor: str, resource: str, *, nbytes: int, agreement_id: int | None,
                    activation_id: int | None, now: float | None = None) -> None:  # fmt: skip
        """Count a tile against (actor, item, hour); completed hours go to the chain."""
        now = time.time() if now is None else now
        hour = int(now // 3600)
        with self.store.tx() as c:
            c.execute(
                "INSERT INTO tile_pending VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT "
                "(hour, actor, resource) DO UPDATE SET requests = requests + 1, bytes = bytes + ?",
                (hour, actor, resource, agreement_id, activation_id, nbytes, nbytes))  # fmt: skip
        self.flush_tiles(now)

    def flush_tiles(self, now: float | None = None, *, everything: bool = False) -> int:
        """Write the aggregated tile records of finished hours (all, with ``everything``)."""
        now = time.time() if now is None else now
        limit = float("inf") if everything else int(now // 3600)
        c = self.store.conn()
        with self.store.write_lock:  # one flusher at a time: no hour is written twice
            rows = c.execute("SELECT hour, actor, resource, agreement_id, activation_id, requests, "
                             "bytes FROM tile_pending WHERE hour < ? ORDER BY hour, actor, resource",
                             (limit,)).fetchall()  # fmt: skip
            for hour, actor, resource, agr, act, n, nbytes in rows:
                self.append(actor, "tiles", resource, nbytes=nbytes, agreement_id=agr,
                            activation_id=act, ts=hour * 3600.0,
                            detail={"requests": n, "hour": hour})  # fmt: skip
                with self.store.tx() as tx:
                    tx.execute("DELETE FROM tile_pending WHERE hour = ? AND actor = ? AND resource = ?",
                               (hour, actor, resource))  # fmt: skip
        return len(rows)

    def records(self, *, agreement_id: int | None = None, since: float | None = None,
                until: float | None = None) -> list[dict[str, Any]]:  # fmt: skip
        sql = f"SELECT {', '.join(COLUMNS)} FROM audit WHERE 1"
        params: list[Any] = []
        if agreement_id is not None:
            sql += " AND agreement_id = ?"
            params.append(agreement_id)
        if since is not None:
            sql += " AND ts >= ?"
            params.append(since)
        if until is not None:
            sql += " AND ts < ?"
            params.append(until)
        out = []
        for r in self.store.conn().execute(sql + " ORDER BY seq", params):
            d = dict(zip(COLUMNS, r, strict=True))
            d["detail"] = orjson.loads(d["detail"])
            out.append(d)
        return out

    def verify(self) -> VerifyResult:
        problems: list[str] = []
        prev, expected, n = GENESIS, 1, 0
        for row in self.store.conn().execute(
            f"SELECT {', '.join(COLUMNS)}, prev, hash FROM audit ORDER BY seq"
        ):
            record, stored_prev, stored_hash = tuple(row[:-2]), row[-2], row[-1]
            seq = record[0]
            n += 1
            if seq > expected:
                problems.append(f"records {expected}..{seq - 1} missing (deleted)")
            elif seq < expected:
                problems.append(f"record {seq} out of sequence (inserted)")
            if stored_prev != prev:
                problems.append(f"record {seq}: does not follow the previous record (inserted, "
                                "deleted or reordered)")  # fmt: skip
            if not hmac.compare_digest(_digest(self.key, stored_prev, record), stored_hash):
                problems.append(f"record {seq}: content does not match its hash (modified)")
            prev, expected = stored_hash, seq + 1
        try:
            head_seq, head_hash = self.head_path.read_text().split()
            if int(head_seq) != expected - 1 or head_hash != prev:
                problems.append(f"the log ends at record {expected - 1} but the head says "
                                f"{head_seq}: records were removed or added at the end")  # fmt: skip
        except FileNotFoundError:
            if n:
                problems.append("the head file audit.head is missing")
        return VerifyResult(not problems, n, problems)
