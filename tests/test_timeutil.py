"""The one time module: ISO 8601 in, aware UTC out; a date alone is the whole day; no zone is
UTC. Checked against Python's own ``datetime``/``date`` parsing on generated values and on
arbitrary text."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sathub import timeutil
from sathub.errors import InvalidDatetime

# fixed offsets as ISO 8601 writes them (whole minutes, |offset| < 24 h)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m)))
naive = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
aware = st.builds(lambda d, tz: d.replace(tzinfo=tz), naive, offsets)
dates = st.dates()


@given(aware)
def test_an_aware_datetime_is_the_same_instant_in_utc(value: datetime) -> None:
    got = timeutil.parse_datetime(value.isoformat())
    assert got == value and got.utcoffset() == timedelta(0)
    assert timeutil.parse_datetime(value.isoformat(), end=True) == value  # end only moves dates


@given(naive)
def test_a_datetime_without_zone_is_utc(value: datetime) -> None:
    assert timeutil.parse_datetime(value.isoformat()) == value.replace(tzinfo=UTC)
    assert timeutil.parse_datetime(value.isoformat(sep=" ")) == value.replace(tzinfo=UTC)


@given(dates)
def test_a_date_alone_is_the_whole_day(day: date) -> None:
    start = timeutil.parse_datetime(day.isoformat())
    end = timeutil.parse_datetime(day.isoformat(), end=True)
    assert start == datetime.combine(day, time.min, tzinfo=UTC)
    assert end == datetime.combine(day, time.max, tzinfo=UTC)
    assert end - start == timedelta(days=1) - timedelta(microseconds=1)
    assert timeutil.parse_date(day.isoformat()) == day
    assert timeutil.parse_datetime(day) == start and timeutil.parse_datetime(day, end=True) == end


@given(aware)
def test_format_then_parse_is_the_identity(value: datetime) -> None:
    text = timeutil.format_datetime(value)
    assert text.endswith("Z")
    assert timeutil.parse_datetime(text) == value
    assert datetime.fromisoformat(text) == value  # a peer reads what we write
    assert timeutil.parse_datetime(text.lower()) == value  # RFC 3339 allows 't' and 'z'


@given(st.text(max_size=40))
def test_any_text_parses_as_datetime_reads_it_or_is_an_invalid_datetime(text: str) -> None:
    """Never another exception; and the value is the one ``date``/``datetime`` read."""
    stripped = text.strip()
    stripped = stripped[:-1] + "Z" if stripped.endswith("z") else stripped
    try:
        expected: datetime | None = datetime.combine(date.fromisoformat(stripped), time.min, UTC)
    except ValueError:
        try:
            d = datetime.fromisoformat(stripped)
            expected = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
        except (ValueError, OverflowError):
            expected = None
    if expected is None or not stripped:
        with pytest.raises(InvalidDatetime):
            timeutil.parse_datetime(text, field="when")
    else:
        assert timeutil.parse_datetime(text, field="when") == expected


@given(dates, dates)
def test_an_interval_of_dates_covers_both_days_or_is_refused(a: date, b: date) -> None:
    text = f"{a.isoformat()}/{b.isoformat()}"
    if b < a:
        with pytest.raises(InvalidDatetime, match="ends before it starts"):
            timeutil.parse_interval(text, field="datetime")
        return
    start, end = timeutil.parse_interval(text)
    assert start == datetime.combine(a, time.min, UTC) and end == datetime.combine(b, time.max, UTC)


@given(aware, st.sampled_from(["..", ""]))
def test_open_interval_ends(value: datetime, open_end: str) -> None:
    text = timeutil.format_datetime(value)
    assert timeutil.parse_interval(f"{text}/{open_end}") == (value, None)
    assert timeutil.parse_interval(f"{open_end}/{text}") == (None, value)
    with pytest.raises(InvalidDatetime, match="needs a start and an end"):
        timeutil.parse_range(f"{text}/{open_end}", field="period")


def test_errors_name_the_field_and_bound_the_input() -> None:
    for bad in ("2024-13-01", "yesterday", "", "2024-01-01T25:00", "1" * 200, "../..", "a/b/c"):
        with pytest.raises(InvalidDatetime) as exc:
            timeutil.parse_interval(bad, field="period")
        assert exc.value.field == "period"
    with pytest.raises(InvalidDatetime):
        timeutil.parse_datetime(20240101, field="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidDatetime, match="not a date and time"):
        timeutil.parse_date(datetime(2024, 1, 1), field="day")
    with pytest.raises(InvalidDatetime):
        timeutil.parse_date("2024-01-01T00:00", field="day")


def test_stac_documents_need_rfc3339_with_offset() -> None:
    assert timeutil.parse_rfc3339("2024-08-09T04:11:01Z") == datetime(2024, 8, 9, 4, 11, 1, tzinfo=UTC)
    assert timeutil.parse_rfc3339("2024-08-09t06:41:01+02:30") == datetime(2024, 8, 9, 4, 11, 1, tzinfo=UTC)
    for bad in ("2024-08-09", "2024-08-09T04:11:01", "20240809T041101Z"):
        with pytest.raises(InvalidDatetime):
            timeutil.parse_rfc3339(bad, field="properties.datetime")


def test_the_old_parsers_follow_the_one_rule() -> None:
    """Each domain's parser is this module's rule (same instants for the same text)."""
    from sathub.access.dates import parse_when
    from sathub.analytics.select import parse_day, parse_range
    from sathub.budget.rates import parse_day as budget_day
    from sathub.orbits.timeutil import parse_utc

    for text in ("2024-02-29", "2024-02-29T10:00", "2024-02-29T10:00:00+06:30"):
        for end in (False, True):
            want = timeutil.parse_datetime(text, end=end)
            assert parse_when(text, end=end) == want.timestamp()
            assert parse_day(text, end=end) == want
        assert parse_utc(text) == timeutil.parse_datetime(text)
    assert parse_range("2024-01-01/2024-01-31", "period") == timeutil.parse_range(
        "2024-01-01/2024-01-31", field="period")
    assert budget_day("2025-04-01", "as_of") == date(2025, 4, 1)
