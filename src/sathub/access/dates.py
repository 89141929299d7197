"""ISO 8601 dates and datetimes for agreement periods: a date alone is the whole day (UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sathub.errors import InvalidDatetime


def parse_when(value: str, *, end: bool = False, field: str = "date") -> float:
    """Epoch seconds for ``value``. A date alone means that day, inclusive: its first instant,
    or with ``end=True`` its last (23:59:59.999999). Datetimes without a zone are UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            start = datetime.combine(d, time(0), tzinfo=UTC)
            if end:
                return (start + timedelta(days=1)).timestamp() - 1e-6
            return start.timestamp()
        dt = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidDatetime(f"{field}: {value!r} is not an ISO 8601 date or datetime",
                              field=field) from exc  # fmt: skip
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def month_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def next_month_start(ts: float) -> float:
    d = datetime.fromtimestamp(ts, UTC)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return datetime(y, m, 1, tzinfo=UTC).timestamp()
