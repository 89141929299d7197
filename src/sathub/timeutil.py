"""Dates and times, one rule everywhere: ISO 8601 in, aware UTC out.

Every command, route and job that takes a date or a time parses it here:

- **A date alone** (``2024-08-09``) is the whole day: its first instant, or with ``end=True``
  its last (``23:59:59.999999``), so that ``2024-01-01/2024-12-31`` covers the whole year.
- **A datetime without a time zone** is UTC. One with an offset is converted to UTC; a
  trailing ``Z`` or ``z`` is UTC.
- Anything else Python's :meth:`datetime.fromisoformat` reads is accepted as it reads it
  (ISO 8601 basic and extended forms, fractions of a second, week dates); text longer than
  :data:`MAX_LEN` characters is refused before parsing.
- **Intervals** are ``START/END``; ``..`` or an empty side is open (where the caller allows
  open ends); an interval that ends before it starts is refused.
- Out: ISO 8601 in UTC with a ``Z`` (:func:`format_datetime`, :func:`iso`).

Errors are :class:`~sathub.errors.InvalidDatetime` naming the field (HTTP 400, CLI exit 2).

STAC documents are the one stricter case: an item's ``datetime`` must be an RFC 3339
date-time with its offset (:func:`parse_rfc3339`), because other readers of the catalog expect
exactly that.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Literal

from sathub.errors import InvalidDatetime

MAX_LEN = 64  # longer than any ISO 8601 form; bounds the work done on hostile input
OPEN = ("", "..")
Timespec = Literal["auto", "seconds", "milliseconds", "microseconds"]


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidDatetime(f"{field}: expected an ISO 8601 date or datetime, got "
                              f"{type(value).__name__}", field=field)  # fmt: skip
    text = value.strip()
    if not text or len(text) > MAX_LEN:
        raise InvalidDatetime(f"{field}: {value[:MAX_LEN]!r} is not an ISO 8601 date or datetime",
                              field=field)  # fmt: skip
    if text[-1] == "z":
        text = text[:-1] + "Z"
    return text


def day_bound(day: date, *, end: bool = False) -> datetime:
    """The first instant of ``day`` in UTC, or with ``end`` its last (23:59:59.999999)."""
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_datetime(value: str | datetime | date, *, end: bool = False,
                   field: str = "datetime") -> datetime:  # fmt: skip
    """An ISO 8601 date or datetime as an aware UTC datetime (rules: module docstring)."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        return day_bound(value, end=end)
    text = _text(value, field)
    try:
        return day_bound(date.fromisoformat(text), end=end)
    except ValueError:
        pass
    try:
        return utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError) as exc:
        raise InvalidDatetime(f"{field}: {value!r} is not an ISO 8601 date or datetime ({exc})",
                              field=field) from None  # fmt: skip


def parse_timestamp(value: str | datetime | date, *, end: bool = False,
                    field: str = "datetime") -> float:  # fmt: skip
    """:func:`parse_datetime` as seconds since the Unix epoch."""
    return parse_datetime(value, end=end, field=field).timestamp()


def parse_date(value: str | date, *, field: str = "date") -> date:
    """A date alone (``YYYY-MM-DD``); a datetime is refused (use :func:`parse_datetime`)."""
    if isinstance(value, datetime):
        raise InvalidDatetime(f"{field}: give a date (YYYY-MM-DD), not a date and time", field=field)
    if isinstance(value, date):
        return value
    text = _text(value, field)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidDatetime(f"{field}: {value!r} is not a date (YYYY-MM-DD)", field=field) from None


def parse_interval(value: str, *, field: str = "datetime", open_ends: bool = True,
                   ) -> tuple[datetime | None, datetime | None]:  # fmt: skip
    """``START/END`` (each a date or a datetime; a date end is that whole day) or a single
    date or datetime (a date: that day, a datetime: that instant). With ``open_ends``, ``..``
    or an empty side is open (None), but not both."""
    if not isinstance(value, str) or len(value) > 2 * MAX_LEN + 1:
        raise InvalidDatetime(f"{field}: expected START/END", field=field)
    parts = value.strip().split("/")
    if len(parts) == 1:
        return parse_datetime(parts[0], field=field), parse_datetime(parts[0], end=True, field=field)
    if len(parts) != 2:
        raise InvalidDatetime(f"{field}: {value!r} must be START/END (one '/')", field=field)
    lo, hi = (p.strip() for p in parts)
    if not open_ends and (lo in OPEN or hi in OPEN):
        raise InvalidDatetime(f"{field}: {value!r} needs a start and an end", field=field)
    if lo in OPEN and hi in OPEN:
        raise InvalidDatetime(f"{field}: {value!r} is open at both ends", field=field)
    start = None if lo in OPEN else parse_datetime(lo, field=field)
    stop = None if hi in OPEN else parse_datetime(hi, end=True, field=field)
    if start is not None and stop is not None and stop < start:
        raise InvalidDatetime(f"{field}: {value!r} ends before it starts", field=field)
    return start, stop


def parse_range(value: str, *, field: str) -> tuple[datetime, datetime]:
    """A closed interval ``START/END`` (both given)."""
    start, stop = parse_interval(value, field=field, open_ends=False)
    assert start is not None and stop is not None
    return start, stop


def parse_rfc3339(value: object, *, field: str = "datetime") -> datetime:
    """Strict, for STAC documents: an RFC 3339 date-time with its offset (``Z`` or ±HH:MM)."""
    text = _text(value, field)
    if len(text) < 11 or text[10] not in "Tt ":
        raise InvalidDatetime(f"{field} {value!r} is not an RFC 3339 datetime", field=field)
    try:
        dt = datetime.fromisoformat(text[:10] + "T" + text[11:])
    except ValueError:
        raise InvalidDatetime(f"{field} {value!r} is not an RFC 3339 datetime", field=field) from None
    if dt.tzinfo is None:
        raise InvalidDatetime(f"{field} {value!r} has no timezone (add Z)", field=field)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
        raise InvalidDatetime(f"{field} {value!r} is out of range in UTC", field=field) from None


def format_datetime(value: datetime | float, *, timespec: Timespec = "auto") -> str:
    """ISO 8601 in UTC with a ``Z``: ``2024-08-09T04:11:01Z`` (a naive datetime is UTC; a
    number is seconds since the Unix epoch)."""
    dt = datetime.fromtimestamp(value, UTC) if isinstance(value, (int, float)) else utc(value)
    return dt.isoformat(timespec=timespec).replace("+00:00", "Z")


def iso(value: datetime | float | None, *, timespec: Timespec = "auto") -> str | None:
    """:func:`format_datetime`, with None for None."""
    return None if value is None else format_datetime(value, timespec=timespec)


def now_iso() -> str:
    return format_datetime(datetime.now(UTC))
