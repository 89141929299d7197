"""The attacker of the audit tests: someone who can rewrite anything under the data directory
(the SQLite file, ``secrets/``) but not a key or an anchor kept outside it.

It works only with sqlite3, hmac and the documented record format (docs/security.md), so the
same attacks run against the code before the anchored audit (first-format records, the head
in ``secrets/audit.head``) and after it (``fmt`` 2 records, the ``audit_head`` row)."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from pathlib import Path
from typing import Any

import orjson

GENESIS = "0" * 64
BASE = ("seq", "ts", "actor", "action", "resource", "bytes", "outcome", "agreement_id",
        "activation_id", "detail")  # fmt: skip


class Attacker:
    def __init__(self, data: Path) -> None:
        self.data = Path(data)
        self.db = sqlite3.connect(self.data / "access.db", isolation_level=None)

    # what the attacker can read
    def key(self) -> bytes | None:
        """The key, when the operator left it inside the data directory."""
        path = self.data / "secrets" / "audit.key"
        return bytes.fromhex(path.read_text().strip()) if path.exists() else None

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]

    def has(self, table: str) -> bool:
        return bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone())

    def sql(self, sql: str, *params: Any) -> None:
        self.db.execute(sql, params)

    def last(self) -> tuple[int, str] | None:
        row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    # attacks
    def delete_everything(self) -> None:
        """Every audit record and the head, wherever it lives."""
        self.sql("DELETE FROM audit")
        if self.has("audit_head"):
            self.sql("DELETE FROM audit_head")
        (self.data / "secrets" / "audit.head").unlink(missing_ok=True)

    def rewrite_head(self) -> None:
        """Make the head name the last record left, signing it when the key is at hand."""
        last = self.last()
        assert last is not None
        (self.data / "secrets" / "audit.head").write_text(f"{last[0]} {last[1]}\n")
        if self.has("audit_head"):
            row = self.db.execute("SELECT ts FROM audit WHERE seq = ?", (last[0],)).fetchone()
            key = self.key()
            mac = "0" * 64 if key is None else _mac(key, b"head", orjson.dumps([last[0], last[1], row[0]]))
            self.sql("INSERT OR REPLACE INTO audit_head VALUES (1, ?, ?, ?, ?)", last[0], last[1], row[0], mac)

    def truncate(self, keep: int) -> None:
        """Delete every record after ``keep`` and rewrite the head to match."""
        self.sql("DELETE FROM audit WHERE seq > ?", keep)
        self.rewrite_head()

    def rewrite_from(self, seq: int, **changes: Any) -> None:
        """Change record ``seq`` and re-chain every record after it with the key found in the
        data directory (the whole suffix is rewritten consistently)."""
        key = self.key()
        assert key is not None, "the key is not in the data directory"
        for col, value in changes.items():
            self.sql(f"UPDATE audit SET {col} = ? WHERE seq = ?", value, seq)
        cols = self.columns("audit")
        new_format = "fmt" in cols
        select = list(BASE) + (["charged", "fmt"] if new_format else [])
        prev_row = self.db.execute("SELECT hash FROM audit WHERE seq = ?", (seq - 1,)).fetchone()
        prev = prev_row[0] if prev_row else GENESIS
        rows = self.db.execute(f"SELECT {', '.join(select)} FROM audit WHERE seq >= ? ORDER BY seq",
                               (seq,)).fetchall()  # fmt: skip
        for row in rows:
            if new_format and row[11] == 2:
                body = orjson.dumps([2, *row[:11]])
            else:
                body = orjson.dumps(list(row[:10]))
            digest = hmac.new(key, prev.encode() + b"\n" + body, hashlib.sha256).hexdigest()
            self.sql("UPDATE audit SET prev = ?, hash = ? WHERE seq = ?", prev, digest, row[0])
            prev = digest
        self.rewrite_head()

    def close(self) -> None:
        self.db.close()


def _mac(key: bytes, domain: bytes, body: bytes) -> str:
    return hmac.new(key, domain + b"\n" + body, hashlib.sha256).hexdigest()


def outside_key(directory: Path) -> Path:
    """A key file outside the data directory, as an operator would make it (mode 0600)."""
    path = directory / "audit.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(os.urandom(32).hex() + "\n")
    return path
