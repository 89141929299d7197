"""CQL2 temporal operators against an independent evaluation.

The reference is written here, from the definitions CQL2 (OGC 21-065r2, 7.5) cites in the
W3C/OGC Time Ontology, on whole microseconds (no floats): an item's ``datetime`` is its instant,
or ``[start_datetime, end_datetime]``; a TIMESTAMP is an instant; a DATE is its whole day; an
INTERVAL includes both ends (a date end: its whole day; ``..``: open). Instants in the
interval-only operators are read as zero-length intervals (as cql2-rs and pgstac read them).

Checked paths: the SQL translation (a real SQLite store, through ``parse_filter`` as the API
parses filters), the Python evaluation (``temporal.evaluate``, used by collection search), and,
where its reading is the same (instant items, no date as an interval end), the ``cql2``
package's own evaluator. Over HTTP: all 15 operators × TIMESTAMP, DATE and INTERVAL literals on
the real data answer 200 with the brute-force count.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cql2
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sathub.catalog.cql2sql import parse_filter
from sathub.catalog.sqlite import SQLiteStore
from sathub.catalog.store import SearchQuery
from sathub.catalog.temporal import evaluate, item_interval

US = 1_000_000
DAY_US = 86_400 * US
D0 = datetime(2024, 8, 1, tzinfo=timezone.utc)
D0_US = int(D0.timestamp()) * US
OPS = ["T_AFTER", "T_BEFORE", "T_CONTAINS", "T_DISJOINT", "T_DURING", "T_EQUALS", "T_FINISHEDBY",
       "T_FINISHES", "T_INTERSECTS", "T_MEETS", "T_METBY", "T_OVERLAPPEDBY", "T_OVERLAPS",
       "T_STARTEDBY", "T_STARTS"]  # fmt: skip
INF = float("inf")


# ------------------------------------------------------------------ the reference
def allen(op: str, a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Relation ``op`` between closed intervals a = [a0, a1] and b = [b0, b1] (Time Ontology)."""
    (a0, a1), (b0, b1) = a, b
    if op == "T_BEFORE":  # the end of a is before the beginning of b
        return a1 < b0
    if op == "T_AFTER":  # the beginning of a is after the end of b
        return a0 > b1
    if op == "T_DISJOINT":  # before or after
        return a1 < b0 or a0 > b1
    if op == "T_INTERSECTS":  # not disjoint
        return not (a1 < b0 or a0 > b1)
    if op == "T_EQUALS":  # same beginning, same end
        return a0 == b0 and a1 == b1
    if op == "T_MEETS":  # a ends where b begins
        return a1 == b0
    if op == "T_METBY":  # a begins where b ends
        return a0 == b1
    if op == "T_OVERLAPS":  # a begins first, ends inside b
        return a0 < b0 and b0 < a1 and a1 < b1
    if op == "T_OVERLAPPEDBY":  # b begins first, ends inside a
        return b0 < a0 and a0 < b1 and b1 < a1
    if op == "T_STARTS":  # same beginning, a ends first
        return a0 == b0 and a1 < b1
    if op == "T_STARTEDBY":  # same beginning, b ends first
        return a0 == b0 and a1 > b1
    if op == "T_DURING":  # a strictly inside b
        return a0 > b0 and a1 < b1
    if op == "T_CONTAINS":  # b strictly inside a
        return a0 < b0 and a1 > b1
    if op == "T_FINISHES":  # same end, a begins later
        return a0 > b0 and a1 == b1
    if op == "T_FINISHEDBY":  # same end, a begins earlier
        return a0 < b0 and a1 == b1
    raise AssertionError(op)


def iso(us: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


def date_of(day_index: int) -> str:
    return (D0 + timedelta(days=day_index)).strftime("%Y-%m-%d")


# A literal: (cql2-text, its interval in µs, does cql2's evaluator read it as we do?)
Literal = tuple[str, tuple[float, float], bool]
# cql2's evaluator ends a DATE at 23:59:59.999999999 (nanoseconds); sathub, whose timestamps
# have microseconds, at 23:59:59.999999. The readings differ only for an instant at that last
# microsecond (e.g. T_DURING: inside the day for cql2, its end for sathub).
LAST_US = DAY_US - 1


# instants from a small grid (so that equal ends are common) or anywhere in four days
GRID = [D0_US + d * DAY_US + off for d in range(4) for off in (0, DAY_US // 2, DAY_US - 1)]
instant_us = st.one_of(st.sampled_from(GRID), st.integers(D0_US, D0_US + 4 * DAY_US))


@st.composite
def literal(draw: Any) -> Literal:
    kind = draw(st.sampled_from(["timestamp", "date", "interval"]))
    if kind == "timestamp":
        t = draw(instant_us)
        return f"TIMESTAMP('{iso(t)}')", (t, t), True
    if kind == "date":
        d = draw(st.integers(0, 3))
        return f"DATE('{date_of(d)}')", (D0_US + d * DAY_US, D0_US + (d + 1) * DAY_US - 1), True

    def end(first: bool) -> tuple[str, float, bool]:
        form = draw(st.sampled_from(["timestamp", "date", "open"]))
        if form == "open":
            return "'..'", -INF if first else INF, True
        if form == "date":
            d = draw(st.integers(0, 3))
            return f"'{date_of(d)}'", D0_US + (d if first else d + 1) * DAY_US - (0 if first else 1), False
        t = draw(instant_us)
        return f"'{iso(t)}'", t, True

    (lo, lo_v, ok1), (hi, hi_v, ok2) = end(True), end(False)
    assume(lo_v <= hi_v)  # a reversed interval is a 400 (test_reversed_interval_is_a_400)
    # cql2's evaluator reads a date end as its midnight, and an interval is one type: agree
    # with it only on intervals of timestamps and open ends
    return f"INTERVAL({lo}, {hi})", (lo_v, hi_v), ok1 and ok2


@st.composite
def item(draw: Any) -> dict[str, Any]:
    props: dict[str, Any]
    shape = draw(st.sampled_from(["instant", "range", "both"]))
    if shape == "instant":
        props = {"datetime": iso(draw(instant_us))}
    else:
        a, b = sorted((draw(instant_us), draw(instant_us)))
        props = {"datetime": None if shape == "range" else iso(a), "start_datetime": iso(a),
                 "end_datetime": iso(b)}  # fmt: skip
    return {"type": "Feature", "stac_version": "1.0.0", "collection": "c", "links": [],
            "assets": {}, "geometry": {"type": "Point", "coordinates": [96.1, 19.7]},
            "bbox": [96.1, 19.7, 96.1, 19.7], "properties": props}  # fmt: skip


def interval_us(it: dict[str, Any]) -> tuple[int, int]:
    p = it["properties"]

    def us(text: str) -> int:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int(dt.timestamp()) * US + dt.microsecond

    if p.get("start_datetime"):
        return us(p["start_datetime"]), us(p["end_datetime"])
    t = us(p["datetime"])
    return t, t


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    s = SQLiteStore(tmp_path_factory.mktemp("temporal") / "catalog.db")
    s.create_collection({"type": "Collection", "id": "c", "description": "temporal", "license": "MIT",
                         "stac_version": "1.0.0", "links": [],
                         "extent": {"spatial": {"bbox": [[96, 19, 97, 20]]},
                                    "temporal": {"interval": [[None, None]]}}})  # fmt: skip
    yield s
    s.close()


def matching_ids(store: SQLiteStore, text: str) -> set[str]:
    result = store.search(SearchQuery(collections=["c"], filter=parse_filter(text), limit=1000))
    return {it["id"] for it in result.items}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(item(), min_size=1, max_size=25), lit=literal(), literal_first=st.booleans())
def test_every_operator_matches_allen(store: SQLiteStore, items: list[dict[str, Any]], lit: Literal,
                                     literal_first: bool) -> None:  # fmt: skip
    text, lit_iv, cql2_agrees = lit
    with store.transaction() as tx:
        for it in store.iter_items("c"):
            tx.delete_item("c", it["id"])
    for n, it in enumerate(items):
        it["id"] = f"i{n}"
    store.bulk_upsert(items)
    for op in OPS:
        expr = f"{op}({text}, datetime)" if literal_first else f"{op}(datetime, {text})"

        def expected(it: dict[str, Any]) -> bool:
            iv = interval_us(it)
            return allen(op, lit_iv, iv) if literal_first else allen(op, iv, lit_iv)

        want = {it["id"] for it in items if expected(it)}
        # the SQL path
        assert matching_ids(store, expr) == want, expr
        # the Python path
        parsed = parse_filter(expr)
        got_py = {it["id"] for it in items
                  if evaluate(parsed, lambda name, it=it: item_interval(it, name)) is True}  # fmt: skip
        assert got_py == want, expr
        # cql2's own evaluator, on instant items, where it reads the literal as we do
        if cql2_agrees:
            e = cql2.Expr(expr)
            for it in items:
                t = interval_us(it)[0]
                last_us = "DATE(" in text and (t - D0_US) % DAY_US == LAST_US
                if it["properties"].get("start_datetime") is None and not last_us:
                    assert e.matches(it) == (it["id"] in want), (expr, it["properties"])


def test_reversed_interval_is_a_400(api: Any) -> None:
    r = api.get("/search", params={"filter": "T_INTERSECTS(datetime, INTERVAL('2024-08-02', '2024-08-01'))"})
    assert r.status_code == 400 and "ends before it starts" in r.json()["description"]


# ------------------------------------------------------------- over HTTP, real data
def _items_of(api: Any, collection: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url: str | None = f"/collections/{collection}/items?limit=1000"
    while url:
        page = api.get(url).json()
        out += page["features"]
        url = next((ln["href"] for ln in page["links"] if ln["rel"] == "next"), None)
    return out


def test_every_operator_and_literal_kind_over_http(api: Any) -> None:
    """The issue's 30 operator × literal combinations (plus DATE) on the real items: 200 and
    the brute-force count, never a 500 (18 of them used to crash with 'Incorrect number of
    bindings')."""
    coll = "sentinel-2-l2a"
    items = _items_of(api, coll)
    assert len(items) > 100
    ivs = sorted(interval_us(it) for it in items)
    mid = ivs[len(ivs) // 2]
    t = mid[0]
    day_index = (t - D0_US) // DAY_US
    day0 = D0_US + day_index * DAY_US
    literals: list[tuple[str, tuple[float, float]]] = [
        (f"TIMESTAMP('{iso(t)}')", (t, t)),
        (f"DATE('{iso(day0)[:10]}')", (day0, day0 + DAY_US - 1)),
        (f"INTERVAL('{iso(day0)}', '{iso(day0 + 20 * DAY_US)}')", (day0, day0 + 20 * DAY_US)),
        (f"INTERVAL('..', '{iso(t)}')", (-INF, t)),
    ]
    seen_nonzero = 0
    for op in OPS:
        for text, iv in literals:
            expr = f"{op}(datetime, {text})"
            r = api.get("/search", params={"collections": coll, "filter": expr, "limit": 1})
            assert r.status_code == 200, (expr, r.text)
            want = sum(allen(op, interval_us(it), iv) for it in items)
            assert r.json()["numberMatched"] == want, expr
            seen_nonzero += want > 0
    assert seen_nonzero >= 10  # the literals are chosen inside the data: the counts mean something


def test_interval_intersection_on_the_issue_example(api: Any) -> None:
    """T_INTERSECTS and T_DISJOINT with a one-day interval: complements, and the brute force."""
    coll = "sentinel-2-l2a"
    items = _items_of(api, coll)
    t = sorted(interval_us(it) for it in items)[len(items) // 3][0]
    day0 = D0_US + ((t - D0_US) // DAY_US) * DAY_US
    iv = (day0, day0 + DAY_US)
    text = f"INTERVAL('{iso(iv[0])}', '{iso(iv[1])}')"
    counts = {}
    for op in ("T_INTERSECTS", "T_DISJOINT"):
        r = api.get("/search", params={"collections": coll, "filter": f"{op}(datetime, {text})"})
        assert r.status_code == 200
        counts[op] = r.json()["numberMatched"]
        assert counts[op] == sum(allen(op, interval_us(it), iv) for it in items)
    assert counts["T_INTERSECTS"] > 0
    assert counts["T_INTERSECTS"] + counts["T_DISJOINT"] == len(items)


def test_store_path_is_unaffected_by_parameter_order(tmp_path: Path) -> None:
    """A temporal relation next to other bound values (an IN list before, a LIKE after): the
    parameters bind to their own places."""
    s = SQLiteStore(tmp_path / "catalog.db")
    s.create_collection({"type": "Collection", "id": "c", "description": "x", "license": "MIT",
                         "stac_version": "1.0.0", "links": [],
                         "extent": {"spatial": {"bbox": [[96, 19, 97, 20]]},
                                    "temporal": {"interval": [[None, None]]}}})  # fmt: skip
    its = []
    for n, day_index in enumerate([0, 1, 2]):
        it: dict[str, Any] = {"type": "Feature", "stac_version": "1.0.0", "collection": "c", "id": f"s{n}",
                              "links": [], "assets": {}, "geometry": {"type": "Point", "coordinates": [96.1, 19.7]},
                              "bbox": [96.1, 19.7, 96.1, 19.7],
                              "properties": {"datetime": iso(D0_US + day_index * DAY_US + DAY_US // 2),
                                             "platform": f"p{n}"}}  # fmt: skip
        its.append(it)
    s.bulk_upsert(its)
    f = ("platform IN ('p0', 'p1', 'p2') AND T_DURING(datetime, INTERVAL('2024-08-01T06:00:00Z', "
         "'2024-08-02T18:00:00Z')) AND platform LIKE 'p%'")
    got = {it["id"] for it in s.search(SearchQuery(filter=parse_filter(f), limit=10)).items}
    assert got == {"s0", "s1"}
    s.close()


def test_cli_search_with_temporal_operators(real_data: Path, api: Any) -> None:
    """``sathub search --filter`` with a TIMESTAMP operand used to end in a traceback; it
    matches what the API (checked against the brute force above) matches."""
    import orjson
    from typer.testing import CliRunner

    from sathub.cli import app

    coll = "sentinel-2-l2a"
    t = sorted(interval_us(it) for it in _items_of(api, coll))[500][0]
    for expr in (f"T_INTERSECTS(datetime, TIMESTAMP('{iso(t)}'))", f"T_AFTER(datetime, TIMESTAMP('{iso(t)}'))",
                 f"T_EQUALS(datetime, DATE('{iso(t)[:10]}'))"):  # fmt: skip
        r = CliRunner().invoke(app, ["search", "--data", str(real_data), "--collections", coll,
                                     "--filter", expr, "--limit", "1", "--format", "geojson"])  # fmt: skip
        assert r.exit_code == 0, r.output
        want = api.get("/search", params={"collections": coll, "filter": expr, "limit": 1}).json()["numberMatched"]
        assert orjson.loads(r.stdout)["numberMatched"] == want, expr
