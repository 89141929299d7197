"""Usage reports per agreement and month, from the audit log: CSV, JSON and a PNG chart."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sathub.access.audit import AuditLog
from sathub.access.dates import iso, month_of, next_month_start
from sathub.access.state import AccessState
from sathub.errors import InvalidInput


def month_bounds(month: str) -> tuple[float, float]:
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise InvalidInput("month must be YYYY-MM", field="month") from exc
    return start, next_month_start(start)


def usage(store: AccessState, audit: AuditLog, agreement_id: int, month: str) -> dict[str, Any]:
    """Bytes and requests per day and per action, with totals, quota and the records."""
    agreement = store.agreement(agreement_id)
    audit.flush_tiles()
    lo, hi = month_bounds(month)
    records = audit.records(agreement_id=agreement_id, since=lo, until=hi)
    days: dict[str, dict[str, int]] = defaultdict(lambda: {"bytes": 0, "requests": 0})
    actions: dict[str, dict[str, int]] = defaultdict(lambda: {"bytes": 0, "requests": 0})
    for r in records:
        day = (iso(r["ts"]) or "")[:10]
        n = int(r["detail"].get("requests", 1)) if isinstance(r["detail"], dict) else 1
        for bucket in (days[day], actions[r["action"]]):
            bucket["bytes"] += int(r["bytes"]) if r["outcome"] == "ok" else 0
            bucket["requests"] += n
    total = sum(d["bytes"] for d in days.values())
    return {
        "agreement": agreement.id, "title": agreement.title, "org_id": agreement.org_id,
        "month": month, "quota_bytes": agreement.quota_bytes, "bytes": total,
        "requests": sum(d["requests"] for d in days.values()),
        "days": dict(sorted(days.items())), "actions": dict(sorted(actions.items())),
        "records": [{**r, "time": iso(r["ts"])} for r in records],
    }  # fmt: skip


def to_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["seq", "time", "actor", "action", "resource", "bytes", "outcome",
                "agreement_id", "activation_id"])  # fmt: skip
    for r in report["records"]:
        w.writerow([r["seq"], r["time"], r["actor"], r["action"], r["resource"], r["bytes"],
                    r["outcome"], r["agreement_id"], r["activation_id"]])  # fmt: skip
    return buf.getvalue()


def to_png(report: dict[str, Any]) -> bytes:
    """A bar chart of bytes served per day, with the monthly quota as a cumulative line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = month_bounds(report["month"])
    ndays = round((hi - lo) / 86400)
    labels = [f"{report['month']}-{d:02d}" for d in range(1, ndays + 1)]
    values = [report["days"].get(day, {}).get("bytes", 0) / 1e6 for day in labels]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    ax.bar(range(1, ndays + 1), values, color="#3b7dd8", label="MB per day")
    ax.set_xlabel(f"day of {report['month']} (UTC)")
    ax.set_ylabel("MB served")
    ax.set_title(f"Agreement {report['agreement']}: {report['title']}")
    ax2 = ax.twinx()
    cumulative, acc = [], 0.0
    for v in values:
        acc += v
        cumulative.append(acc)
    ax2.plot(range(1, ndays + 1), cumulative, color="#d8553b", label="cumulative MB")
    if report["quota_bytes"] is not None:
        ax2.axhline(report["quota_bytes"] / 1e6, color="#d8553b", linestyle="--", label="quota")
    ax2.set_ylabel("cumulative MB")
    fig.legend(loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


__all__ = ["month_of", "to_csv", "to_png", "usage"]
