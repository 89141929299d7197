"""Dates of agreements, activations and reports: :mod:`sathub.timeutil`'s rule (a date alone is
the whole day, UTC when no zone is given) as epoch seconds, and calendar months."""

from __future__ import annotations

from datetime import UTC, datetime

from sathub.timeutil import iso, parse_timestamp

__all__ = ["iso", "month_of", "next_month_start", "parse_when"]


def parse_when(value: str, *, end: bool = False, field: str = "date") -> float:
    """Epoch seconds for ``value`` (:func:`sathub.timeutil.parse_timestamp`)."""
    return parse_timestamp(value, end=end, field=field)


def month_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def next_month_start(ts: float) -> float:
    d = datetime.fromtimestamp(ts, UTC)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return datetime(y, m, 1, tzinfo=UTC).timestamp()
