"""The audit log: append-only, tamper-evident, anchored outside the data directory.

Every record (asset download, HEAD and 304 answers, signed-link use, tile use aggregated per
item and hour, partner search, admin change, and a ``state`` record for every change of an
organisation, key, agreement, activation or collection level) holds actor, time, action,
resource, bytes, outcome and the bytes charged against the agreement's quota, and is chained:
``hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the record)``.

- One writer at a time: each append is one ``BEGIN IMMEDIATE`` transaction of ``access.db``
  (SQLite's database-wide write lock, shared by every process), which reads the last record,
  inserts the next one, updates the signed head row (``audit_head``) and, every
  ``anchor_every`` records, appends a signed anchor line to each anchor target before it
  commits. Quota charges (``usage``) and changes of chained rows are made in the same
  transaction as their record. See docs/security.md for the PostgreSQL mapping.
- The head row (sequence number, hash, time, MAC) catches records cut from the end by someone
  without the key; the anchors catch it for someone who can rewrite the whole data directory.
- Tile uses of the current hour wait in ``tile_pending``, one row per (hour, actor, item,
  agreement, activation, charged), each with a MAC; finished hours become records.

:meth:`AuditLog.verify` (:mod:`sathub.access.audit_verify`) recomputes all of it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from sathub.access.audit_anchor import make_line
from sathub.access.audit_chain import (  # noqa: F401 - the chain's primitives, re-exported
    COLUMNS,
    FMT,
    GENESIS,
    RECORD,
    head_mac,
    pending_mac,
    record_digest,
)
from sathub.access.audit_config import AuditConfig
from sathub.access.audit_state import digest_of, snapshot
from sathub.access.models import Agreement
from sathub.access.quotas import charge_in
from sathub.access.state import AccessState, StateConn
from sathub.errors import AuditUnavailable

if TYPE_CHECKING:
    from sathub.access.audit_verify import VerifyResult

_PENDING_PK = ("hour = ? AND actor = ? AND resource = ? AND agreement_id = ? AND activation_id = ? "
               "AND charged = ?")  # fmt: skip

# Outcomes (free text is allowed; these are the ones sathub writes and reports read).
OK = "ok"  # served (a HEAD is "ok" with 0 bytes and detail {"method": "HEAD"})
NOT_MODIFIED = "not modified"  # a 304: nothing sent
QUOTA_EXCEEDED = "quota exceeded"


def denied(reason: str) -> str:
    return f"denied: {reason}"


class AuditLog:
    def __init__(self, store: AccessState, secrets_dir: Path, config: AuditConfig | None = None) -> None:
        self.store = store
        self.config = config or AuditConfig.default(Path(secrets_dir))
        self.akey = self.config.key
        self.key = self.akey.secret
        self.legacy_head_path = Path(secrets_dir) / "audit.head"  # written before anchoring existed
        self._unavailable: str | None = None
        store.on_change = self._state_changed
        self._start()

    # --------------------------------------------------------------------- writing
    def append(self, actor: str, action: str, resource: str, *, nbytes: int = 0,
               outcome: str = OK, agreement_id: int | None = None,
               activation_id: int | None = None, detail: dict[str, Any] | None = None,
               ts: float | None = None, quota: Agreement | None = None) -> int:  # fmt: skip
        """Append one record; returns its sequence number.

        With ``quota``, ``nbytes`` are charged against that agreement's month in the same
        transaction (QuotaExceeded: nothing is charged or written; the caller records the
        refusal). HEAD and 304 answers are records too: ``nbytes=0``, ``outcome=OK`` with
        ``detail={"method": "HEAD"}``, or ``outcome=NOT_MODIFIED``.
        """
        ts = time.time() if ts is None else ts
        with self.store.tx() as c:
            charged = None
            if quota is not None:
                if agreement_id not in (None, quota.id):
                    raise ValueError("quota and agreement_id name different agreements")
                agreement_id = quota.id
                charge_in(c, quota, nbytes, ts)
                charged = int(nbytes)
            return self._append_in(c, actor, action, resource, nbytes=nbytes, outcome=outcome,
                                   agreement_id=agreement_id, activation_id=activation_id,
                                   detail=detail, ts=ts, charged=charged)  # fmt: skip

    def record_tile(self, actor: str, resource: str, *, nbytes: int, agreement_id: int | None,
                    activation_id: int | None, now: float | None = None,
                    quota: Agreement | None = None) -> None:  # fmt: skip
        """Count a tile against (actor, item, hour); completed hours go to the chain. With
        ``quota``, the bytes are charged against that agreement (QuotaExceeded: nothing counted)."""
        now = time.time() if now is None else now
        if quota is not None:
            agreement_id = quota.id
        pk = (int(now // 3600), actor, resource, agreement_id or 0, activation_id or 0,
              int(quota is not None))  # fmt: skip
        with self.store.tx() as c:
            if quota is not None:
                charge_in(c, quota, nbytes, now)
            row = c.execute(f"SELECT requests, bytes, mac FROM tile_pending WHERE {_PENDING_PK}", pk).fetchone()
            if row is not None and not hmac.compare_digest(row[2], pending_mac(self.akey, (*pk, *row[:2]))):
                self._pending_tampered(c, (*pk, *row[:2]))  # never count on top of an edited row
                row = None
            counts = (row[0] + 1, row[1] + int(nbytes)) if row else (1, int(nbytes))
            c.execute("INSERT INTO tile_pending VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                      "(hour, actor, resource, agreement_id, activation_id, charged) DO UPDATE SET "
                      "requests = excluded.requests, bytes = excluded.bytes, mac = excluded.mac",
                      (*pk, *counts, pending_mac(self.akey, (*pk, *counts))))  # fmt: skip
        self.flush_tiles(now)

    def flush_tiles(self, now: float | None = None, *, everything: bool = False) -> int:
        """Write the aggregated tile records of finished hours (all, with ``everything``), in
        one transaction: no hour is written twice, whichever processes flush."""
        now = time.time() if now is None else now
        limit = float("inf") if everything else int(now // 3600)
        if self.store.conn().execute("SELECT 1 FROM tile_pending WHERE hour < ? LIMIT 1",
                                     (limit,)).fetchone() is None:  # fmt: skip
            return 0
        written = 0
        with self.store.tx() as c:
            rows = c.execute("SELECT hour, actor, resource, agreement_id, activation_id, charged, "
                             "requests, bytes, mac FROM tile_pending WHERE hour < ? "
                             "ORDER BY hour, actor, resource, agreement_id, activation_id, charged",
                             (limit,)).fetchall()  # fmt: skip
            for row in rows:
                hour, actor, resource, agr, act, charged, n, nbytes, mac = row
                if not hmac.compare_digest(mac, pending_mac(self.akey, row)):
                    self._pending_tampered(c, row)
                    continue
                self._append_in(c, actor, "tiles", resource, nbytes=nbytes, agreement_id=agr or None,
                                activation_id=act or None, ts=hour * 3600.0,
                                detail={"requests": n, "hour": hour},
                                charged=nbytes if charged else None)  # fmt: skip
                c.execute(f"DELETE FROM tile_pending WHERE {_PENDING_PK}", row[:6])
                written += 1
        return written

    def _pending_tampered(self, c: StateConn, row: Sequence[Any]) -> None:
        """A pending row whose MAC fails: its content goes into the chain as evidence (verify
        reports it), the row is dropped, and counting starts again."""
        self._append_in(c, "sathub", "audit.pending.tampered", str(row[2]),
                        detail={"row": list(row[:8])})  # fmt: skip
        c.execute(f"DELETE FROM tile_pending WHERE {_PENDING_PK}", tuple(row[:6]))

    def _state_changed(self, c: StateConn, kind: str, ident: object) -> None:
        """The store's hook: a chained row changed inside transaction ``c``."""
        self._append_in(c, "store", "state", f"{kind}:{ident}", detail={"sha256": digest_of(c, kind, ident)})

    def _append_in(self, c: StateConn, actor: str, action: str, resource: str, *,
                   nbytes: int = 0, outcome: str = OK, agreement_id: int | None = None,
                   activation_id: int | None = None, detail: dict[str, Any] | None = None,
                   ts: float | None = None, charged: int | None = None,
                   check_head: bool = True) -> int:  # fmt: skip
        """Inside a write transaction: the next record, the head, the anchors."""
        if self._unavailable:
            raise AuditUnavailable(self._unavailable)
        ts = time.time() if ts is None else float(ts)  # hashed as read back from SQLite
        agreement_id = None if agreement_id is None else int(agreement_id)
        activation_id = None if activation_id is None else int(activation_id)
        charged = None if charged is None else int(charged)
        last = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if check_head and not self._head_matches(c, last):
            self._head_mismatch(c, last)
            last = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        detail_text = orjson.dumps(detail or {}, option=orjson.OPT_SORT_KEYS).decode()
        record = (seq, ts, str(actor), str(action), str(resource), int(nbytes), str(outcome),
                  agreement_id, activation_id, detail_text, charged)  # fmt: skip
        digest = record_digest(self.key, prev, record, FMT)
        c.execute(f"INSERT INTO audit ({', '.join(RECORD)}, fmt, prev, hash) "
                  f"VALUES ({', '.join('?' * (len(RECORD) + 3))})", (*record, FMT, prev, digest))
        c.execute("INSERT INTO audit_head VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                  "seq = excluded.seq, hash = excluded.hash, ts = excluded.ts, mac = excluded.mac",
                  (seq, digest, ts, head_mac(self.akey, seq, digest, ts)))  # fmt: skip
        if self.config.anchors and seq % self.config.anchor_every == 0:
            line = make_line(self.akey, seq, digest, ts)
            for anchor in self.config.anchors:
                try:
                    anchor.write(line)
                except OSError as exc:
                    raise AuditUnavailable(f"the audit anchor {anchor.describe()} cannot be "
                                           f"written ({exc}); nothing was recorded") from exc  # fmt: skip
        return seq

    # ---------------------------------------------------------------- head checks
    def _head_matches(self, c: StateConn, last: Any) -> bool:
        head = c.execute("SELECT seq, hash, ts, mac FROM audit_head WHERE id = 1").fetchone()
        if head is None or last is None:  # a started log always has both
            return False
        return (head[0], head[1]) == (last[0], last[1]) and hmac.compare_digest(
            head[3], head_mac(self.akey, head[0], head[1], head[2]))

    def _record_verifies(self, c: StateConn, seq: int) -> bool:
        row = c.execute(f"SELECT {', '.join(RECORD)}, fmt, prev, hash FROM audit WHERE seq = ?",
                        (seq,)).fetchone()  # fmt: skip
        return row is not None and hmac.compare_digest(
            record_digest(self.key, row[-2], row[:11], row[-3]), row[-1])

    def _head_mismatch(self, c: StateConn, last: Any) -> None:
        """The head does not match the log's end: records were removed or the head edited —
        or this process holds another key. Evidence goes into the chain; a wrong key refuses."""
        head = c.execute("SELECT seq, hash, ts, mac FROM audit_head WHERE id = 1").fetchone()
        signed = head is not None and hmac.compare_digest(head[3], head_mac(self.akey, *head[:3]))
        if not signed and last is not None and not self._record_verifies(c, last[0]):
            self._unavailable = (
                f"the audit key ({self.akey.source}) is not the key this log is written with "
                f"(neither the head nor record {last[0]} verifies), or both were edited; set "
                "SATHUB_AUDIT_KEY_FILE or SATHUB_AUDIT_KEY as the server does, and run "
                "`sathub audit verify`")  # fmt: skip
            raise AuditUnavailable(self._unavailable)
        self._append_in(c, "sathub", "audit.head.mismatch", "audit_head", check_head=False, detail={
            "head": None if head is None else [head[0], head[1]], "head_signed": signed,
            "last": None if last is None else [last[0], last[1]]})  # fmt: skip

    def _start(self) -> None:
        """First use of a log: a baseline record holding the digests of the chained rows and the
        quota counters as they are, so that later changes can be checked (reason ``new``,
        ``upgrade`` for a log of the first format, or ``head missing``, which verify reports);
        the first layout's pending tiles are written to the chain."""
        legacy = self.store.has_legacy_pending()
        if self.store.conn().execute("SELECT 1 FROM audit_head").fetchone() and not legacy:
            return
        with self.store.tx() as c:
            if c.execute("SELECT 1 FROM audit_head").fetchone() is None:
                last = c.execute("SELECT seq, fmt FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                rows = snapshot(c)
                if last is not None and not self._record_verifies(c, last[0]):
                    self._unavailable = (
                        f"the audit key ({self.akey.source}) does not verify the last record "
                        f"({last[0]}): wrong key, or the record was edited; run `sathub audit verify`")
                    return
                reason = ("new" if last is None and not rows else
                          "upgrade" if last is not None and last[1] is None else "head missing")  # fmt: skip
                usage = {f"{a}:{m}": [b, n] for a, m, b, n in c.execute(
                    "SELECT agreement_id, month, bytes, requests FROM usage")}  # fmt: skip
                self._append_in(c, "sathub", "state.baseline", "*", check_head=False,
                                detail={"reason": reason, "rows": rows, "usage": usage})  # fmt: skip
            if legacy:
                for hour, actor, resource, agr, act, n, nbytes in c.execute(
                        "SELECT hour, actor, resource, agreement_id, activation_id, requests, bytes "
                        "FROM tile_pending_v1 ORDER BY hour, actor, resource").fetchall():  # fmt: skip
                    self._append_in(c, actor, "tiles", resource, nbytes=nbytes, agreement_id=agr,
                                    activation_id=act, ts=hour * 3600.0,
                                    detail={"requests": n, "hour": hour})  # fmt: skip
                c.execute("DROP TABLE tile_pending_v1")

    # --------------------------------------------------------------------- reading
    def records(self, *, agreement_id: int | None = None, since: float | None = None,
                until: float | None = None, activation_id: int | None = None) -> list[dict[str, Any]]:  # fmt: skip
        sql = f"SELECT {', '.join(RECORD)} FROM audit WHERE 1 = 1"
        params: list[Any] = []
        if agreement_id is not None:
            sql += " AND agreement_id = ?"
            params.append(agreement_id)
        if activation_id is not None:
            sql += " AND activation_id = ?"
            params.append(activation_id)
        if since is not None:
            sql += " AND ts >= ?"
            params.append(since)
        if until is not None:
            sql += " AND ts < ?"
            params.append(until)
        out = []
        for r in self.store.conn().execute(sql + " ORDER BY seq", params):
            d = dict(zip(RECORD, r, strict=True))
            d["detail"] = orjson.loads(d["detail"])
            out.append(d)
        return out

    def verify(self, anchor_files: Sequence[Path] = ()) -> VerifyResult:
        """Recompute the chain, the head, the anchors, the quota counters, the chained rows and
        the pending tile rows; ``anchor_files``: exported copies of anchor lines (e.g. syslog)."""
        from sathub.access.audit_verify import verify

        return verify(self, anchor_files)
