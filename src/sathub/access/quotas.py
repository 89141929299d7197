"""Monthly download quotas: bytes served per agreement per calendar month (UTC)."""

from __future__ import annotations

import time

from sathub.access.dates import month_of, next_month_start
from sathub.access.models import Agreement
from sathub.access.store import AccessStore
from sathub.errors import QuotaExceeded


def used(store: AccessStore, agreement_id: int, now: float | None = None) -> int:
    """Bytes counted against the agreement in the month of ``now``."""
    month = month_of(time.time() if now is None else now)
    row = store.conn().execute("SELECT bytes FROM usage WHERE agreement_id = ? AND month = ?",
                               (agreement_id, month)).fetchone()  # fmt: skip
    return int(row[0]) if row else 0


def exceeded(store: AccessStore, agreement: Agreement, nbytes: int, now: float,
             so_far: int | None = None) -> QuotaExceeded:  # fmt: skip
    """The 429 for an agreement whose month cannot pay ``nbytes`` more."""
    so_far = used(store, agreement.id, now) if so_far is None else so_far
    retry = int(next_month_start(now) - now) + 1
    return QuotaExceeded(
        f"agreement {agreement.id} ({agreement.title}) has used {so_far:,} of its "
        f"{agreement.quota_bytes or 0:,} bytes this month ({month_of(now)}); this request needs "
        f"{nbytes:,} more. The quota resets at the start of next month (UTC).",
        retry_after_s=retry, field="quota")  # fmt: skip


def charge(store: AccessStore, agreement: Agreement, nbytes: int, now: float | None = None) -> None:
    """Count ``nbytes`` against the agreement's month, or raise QuotaExceeded (nothing counted)."""
    now = time.time() if now is None else now
    month = month_of(now)
    with store.tx() as c:
        row = c.execute("SELECT bytes FROM usage WHERE agreement_id = ? AND month = ?",
                        (agreement.id, month)).fetchone()  # fmt: skip
        so_far = int(row[0]) if row else 0
        if agreement.quota_bytes is not None and so_far + nbytes > agreement.quota_bytes:
            raise exceeded(store, agreement, nbytes, now, so_far)
        c.execute("INSERT INTO usage VALUES (?, ?, ?, 1) ON CONFLICT (agreement_id, month) DO "
                  "UPDATE SET bytes = bytes + excluded.bytes, requests = requests + 1",
                  (agreement.id, month, nbytes))  # fmt: skip
