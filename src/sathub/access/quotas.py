"""Monthly download quotas: bytes served per agreement per calendar month (UTC).

The ``usage`` table is a cache for fast checks; the truth is the audit chain. Bytes are
charged only together with the audit record that carries them, in one transaction
(:meth:`AuditLog.append` / :meth:`AuditLog.record_tile` with ``quota=agreement``), and
``sathub audit verify`` recomputes every counter from the chain and names any difference.
"""

from __future__ import annotations

import time

from sathub.access.dates import month_of, next_month_start
from sathub.access.models import Agreement
from sathub.access.state import AccessState, StateConn
from sathub.errors import QuotaExceeded


def _exceeded(agreement: Agreement, so_far: int, nbytes: int, now: float) -> QuotaExceeded:
    retry = int(next_month_start(now) - now) + 1
    return QuotaExceeded(
        f"agreement {agreement.id} ({agreement.title}) has used {so_far:,} of its "
        f"{agreement.quota_bytes:,} bytes this month ({month_of(now)}); this download needs "
        f"{nbytes:,} more. The quota resets at the start of next month (UTC).",
        retry_after_s=retry, field="quota")  # fmt: skip


def _used(c: StateConn, agreement_id: int, month: str) -> tuple[int, int]:
    row = c.execute("SELECT bytes, requests FROM usage WHERE agreement_id = ? AND month = ?",
                    (agreement_id, month)).fetchone()  # fmt: skip
    return (int(row[0]), int(row[1])) if row else (0, 0)


def charge_in(c: StateConn, agreement: Agreement, nbytes: int, now: float) -> None:
    """Inside the caller's write transaction: count ``nbytes`` (one request) against the
    agreement's month of ``now``, or raise QuotaExceeded (nothing counted)."""
    month = month_of(now)
    so_far, _ = _used(c, agreement.id, month)
    if agreement.quota_bytes is not None and so_far + nbytes > agreement.quota_bytes:
        raise _exceeded(agreement, so_far, nbytes, now)
    c.execute("INSERT INTO usage VALUES (?, ?, ?, 1) ON CONFLICT (agreement_id, month) DO "
              "UPDATE SET bytes = usage.bytes + excluded.bytes, requests = usage.requests + 1",
              (agreement.id, month, int(nbytes)))  # fmt: skip


def check(store: AccessState, agreement: Agreement, nbytes: int = 0, now: float | None = None) -> None:
    """Raise QuotaExceeded when ``nbytes`` more would not fit this month, or with
    ``nbytes=0`` when nothing is left (nothing is counted): for routes that learn the size only
    after the work, e.g. a rendered tile, and charge it afterwards."""
    now = time.time() if now is None else now
    so_far, _ = _used(store.conn(), agreement.id, month_of(now))
    quota = agreement.quota_bytes
    if quota is not None and (so_far + nbytes > quota or (nbytes == 0 and so_far >= quota)):
        raise _exceeded(agreement, so_far, nbytes, now)


def used(store: AccessState, agreement_id: int, month: str) -> tuple[int, int]:
    """(bytes, requests) counted for an agreement in a month ``YYYY-MM``."""
    return _used(store.conn(), agreement_id, month)
