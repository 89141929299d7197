"""The bulk load's fast path (catalog/fastscan.py) against the general path (orjson.loads, then
validate.item_row) it stands in for: on real items, on hypothesis-made variants of them and on
hostile bytes, ``prepare_chunk`` gives the same rows (index columns, WKB), the same stored JSON
value, the same queryables and the same first error with its line, with the fast path on and
off; and the fast path accepts only lines that orjson reads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import STAC, need_shared
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sathub.catalog import fastscan, prepare
from sathub.catalog.geometry import configure, max_vertices
from sathub.catalog.validate import GENERATED_RELS

REAL = ["rustac/pc_sentinel-2-l2a_1000_items.ndjson", "rustac/pc_landsat-c2-l2_100_items.ndjson",
        "pgstac/naip/items.ndjson", "pgstac/testdata_items.ndjson"]  # fmt: skip


def _lines(name: str) -> list[bytes]:
    need_shared()
    return [line for line in (STAC / name).read_bytes().splitlines() if line.strip()]


def _chunk(lines: list[bytes], fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setattr(prepare, "FAST", fast)
    monkeypatch.setattr(prepare, "_PACKER", None)  # stored JSON as text, to compare
    return prepare.prepare_chunk(list(enumerate(lines, start=1)), None)


def _same(lines: list[bytes], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """prepare_chunk with and without the fast path: asserted equal; returns the segments."""
    fast, general = _chunk(lines, True, monkeypatch), _chunk(lines, False, monkeypatch)
    assert [(s.kind, s.line, s.lines, s.message, s.field_name, s.record) for s in fast] == \
        [(s.kind, s.line, s.lines, s.message, s.field_name, s.record) for s in general]  # fmt: skip
    for a, b in zip(fast, general, strict=True):
        assert a.queryables == b.queryables
        assert [r[:11] for r in a.rows] == [r[:11] for r in b.rows]
        # the same JSON value stored; the very bytes when the item is stored as read
        for x, y in zip(a.rows, b.rows, strict=True):
            assert x[11] == y[11] or orjson.loads(x[11]) == orjson.loads(y[11])
    return fast


def _taken(lines: list[bytes]) -> int:
    """How many of ``lines`` the fast path takes up to GEOS (then the polygons)."""
    scanned = [fastscan.scan(d, line) if (d := fastscan.decode(line)) is not None else None
               for line in lines]  # fmt: skip
    polys = [s[6] for s in scanned if s is not None and s[6] is not None]
    wkbs, _ = fastscan.polygons(polys) if polys else ([], [])
    return sum(s is not None and s[6] is None for s in scanned) + sum(w is not None for w in wkbs)


def _generated(line: bytes) -> bool:
    return any(isinstance(x, dict) and x.get("rel") in GENERATED_RELS
               for x in orjson.loads(line).get("links") or [])  # fmt: skip


@pytest.mark.parametrize("cut", [False, True])
@pytest.mark.parametrize("name", REAL)
def test_real_items_take_the_fast_path_to_the_same_rows(name: str, cut: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Real exports carry self/root/parent links: declined (the general path stores the item
    again without them), or, with CUT_LINKS, cut out of the line (the same value)."""
    monkeypatch.setattr(fastscan, "CUT_LINKS", cut)
    lines = _lines(name)
    assert _taken(lines) == (len(lines) if cut else sum(not _generated(x) for x in lines))
    segs = _same(lines, monkeypatch)
    assert sum(len(s.rows) for s in segs) == len(lines)


# ------------------------------------------------------------------ hypothesis-made variants
def _base() -> dict[str, Any]:
    """A real item, less the links the API regenerates (so that it takes the fast path;
    the variants put such links back)."""
    need_shared()
    item = orjson.loads(_lines(REAL[0])[0])
    item["links"] = [x for x in item["links"] if x.get("rel") not in GENERATED_RELS]
    return item


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
TIMES = st.sampled_from(["2020-01-01T00:00:00Z", "2020-01-01T00:00:00.5+02:00", "2020-01-01", "",
                        "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00",
                         "2020-13-01T00:00:00Z", "2020-01-01T00:00:00", None, 5, "2019-12-31t23:00:00z"])  # fmt: skip
RINGS = st.sampled_from([
    [[[0, 0], [1, 0], [1, 1], [0, 0]]],                       # ints
    [[[0.5, 0.5], [1.5, 0.5], [1.5, 1.5], [0.5, 1.5], [0.5, 0.5]]],
    [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],               # bow-tie: invalid
    [[[0, 0], [1, 0], [1, 1], [0, 1]]],                       # not closed
    [[[0, 0], [1, 0], [0, 0]]],                               # too short
    [[[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 0, 1]]],           # 3-D
    [[[0, 0], [1, 0, 5], [1, 1], [0, 0]]],                    # mixed dimensions
    [[[179, 0], [181, 0], [181, 1], [179, 0]]],               # out of range
    [[[0, 0], [1, 0], [1, 1], [0, 0]], [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.2]]],  # hole
    [[[0, 0], [True, 0], [1, 1], [0, 0]]],
    [[[0, 0], ["1", 0], [1, 1], [0, 0]]],
    [], [[]], [[[0, 0]]],
    [[[0, 0], [0, 0], [0, 0], [0, 0]]],                       # empty area: invalid
])  # fmt: skip
GEOMETRIES = st.one_of(
    st.builds(lambda c: {"type": "Polygon", "coordinates": c}, RINGS),
    st.sampled_from([None, {"type": "Point", "coordinates": [1, 2]}, {"type": "Polygon"},
                     {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
                     {"type": "GeometryCollection", "geometries": []}, [], "Polygon",
                     {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]], "bbox": [0, 0, 1, 1]}]),
)  # fmt: skip
BBOXES = st.sampled_from([[0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0, 5, 6], [170, 0, -170, 1], [0, 1, 1, 0],
                          [0, 0, 1], ["0", 0, 1, 1], [True, 0, 1, 1], None, [0, 0, 1, 200], "x"])  # fmt: skip
IDS = st.sampled_from(["a", "a/b", "", " ", "é", "a\u200bb", "x" * 600, 5, None, "..", "a\x00"])
LINKS = st.sampled_from([[], [{"rel": "self", "href": "x"}], [{"rel": "license", "href": "l"}, {"rel": "root"}],
                         [{"rel": 5}], ["x"], [{"rel": ["self"]}], [{"href": "x"}], None, {"rel": "self"},
                         [{"rel": "parent"}, {"rel": "parent"}]])  # fmt: skip
CLOUD = st.sampled_from([None, 0, 12.5, "12", True, 10**30, -1.5])


@st.composite
def variants(draw: st.DrawFn) -> dict[str, Any]:
    item = copy.deepcopy(_base())
    for _ in range(draw(st.integers(0, 4))):
        what = draw(st.sampled_from(["drop", "value", "geometry", "bbox", "id", "collection", "links",
                                     "assets", "time", "cloud", "type", "props", "prop"]))  # fmt: skip
        key = draw(st.sampled_from(["type", "id", "collection", "properties", "geometry", "bbox",
                                    "links", "assets", "stac_version"]))  # fmt: skip
        if what == "drop":
            item.pop(key, None)
        elif what == "value":
            item[key] = draw(JSON_VALUES)
        elif what == "geometry":
            item["geometry"] = draw(GEOMETRIES)
        elif what == "bbox":
            item["bbox"] = draw(BBOXES)
        elif what in ("id", "collection"):
            item[what] = draw(IDS)
        elif what == "links":
            item["links"] = draw(LINKS)
        elif what == "assets":
            item["assets"] = draw(st.sampled_from([None, [], {}, "a", {"x": {"href": "y"}}]))
        elif what == "type":
            item["type"] = draw(st.sampled_from(["Collection", "feature", None, "Feature"]))
        elif isinstance(item.get("properties"), dict):
            props = item["properties"]
            if what == "time":
                props[draw(st.sampled_from(["datetime", "start_datetime", "end_datetime"]))] = draw(TIMES)
            elif what == "cloud":
                props["eo:cloud_cover"] = draw(CLOUD)
            elif what == "props":
                item["properties"] = draw(st.sampled_from([None, [], "x", {}]))
            else:
                props[draw(st.text(max_size=6))] = draw(JSON_VALUES)
    return item


def _single_changes() -> list[tuple[str, Any]]:
    """Each sampled value above, applied alone to the base item (hypothesis mixes them below;
    alone, each is sure to be tried)."""
    out: list[tuple[str, Any]] = []
    out += [("geometry", g) for g in GEOMETRIES.branches[1].elements]  # type: ignore[attr-defined]
    out += [("geometry", {"type": "Polygon", "coordinates": c}) for c in RINGS.elements]  # type: ignore[attr-defined]
    out += [("bbox", b) for b in BBOXES.elements] + [("id", i) for i in IDS.elements]  # type: ignore[attr-defined]
    out += [("collection", i) for i in IDS.elements] + [("links", x) for x in LINKS.elements]  # type: ignore[attr-defined]
    out += [("datetime", t) for t in TIMES.elements] + [("start_datetime", t) for t in TIMES.elements]  # type: ignore[attr-defined]
    out += [("eo:cloud_cover", c) for c in CLOUD.elements]  # type: ignore[attr-defined]
    out += [("new", v) for v in (None, True, False, 0, -1.5, 10**30, "s", [], {}, [False])]
    out += [("drop", k) for k in ("type", "id", "collection", "properties", "geometry", "bbox", "links",
                                  "assets")]  # fmt: skip
    out += [("assets", a) for a in (None, [], {}, "a")] + [("links-copy", None)]
    return out


@pytest.mark.parametrize(("what", "value"), _single_changes())
def test_each_change_alone_gives_the_same_rows_and_errors(what: str, value: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    item = _base()
    props = item["properties"]
    if what in ("datetime", "start_datetime", "eo:cloud_cover"):
        props[what] = value
    elif what == "new":
        props["zz:new"] = value  # typed by this first value in the queryables
    elif what == "drop":
        item.pop(value)
    elif what == "links-copy":  # the links array's very bytes twice in the line: which is it?
        props["copy"] = item["links"]
    else:
        item[what] = value
    line = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
    _same([line, orjson.dumps(_base())], monkeypatch)


# textual changes the object model cannot make: duplicate keys, spacing, literals orjson refuses
SPLICES = [
    (b'"id":', b'"id":"dup","id":'), (b'"geometry":', b'"geometry":null,"geometry":'),
    (b'"links":', b'"links":[],"links":'), (b'"datetime":', b'"datetime":"2001-01-01T00:00:00Z","datetime":'),
    (b'"properties":', b'"properties":{},"properties":'), (b'"assets":{', b'"assets":{"x":1e400,'),
    (b'"assets":{', b'"assets":{"x":123456789012345678901234567890,'), (b'"assets":{', b'"assets":{"x":"\xff",'),
    (b'"assets":{', b'"assets":{"x":"\xed\xa0\x80",'), (b'"assets":{', b'"assets":{"x":"\\ud800",'),
    (b'"assets":{', b'"assets":{"x":' + b"[" * 1030 + b"]" * 1030 + b","),
    (b'"assets":{', b'"assets":{"x":"a\tb",'), (b'"assets":{', b'"assets":{"x":1e-400,'),
    (b'"assets":{', b'"assets":{"x":-0,"y":1E+2,'), (b'":', b'" : '), (b',', b' ,\n'),
    (b'"assets":{', b'"assets":{"x":' + b"1" * 400 + b","), (b'"assets":{', b'"assets":{"x":NaN,'),
    (b'"links":[', b'"links":[{"rel":"self","rel":"license"},'),
    (b'"links":[', b'"links":[{"rel":"license","rel":"self"},'),
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(variants(), min_size=1, max_size=3),
       st.lists(st.tuples(st.integers(0, 5), st.sampled_from(SPLICES)), max_size=3))  # fmt: skip
def test_variants_give_the_same_rows_and_errors(items: list[dict[str, Any]], splices: list[Any]) -> None:
    # the standard library writes integers beyond 64 bits (orjson reads them, as floats)
    lines = [json.dumps(it, ensure_ascii=False, separators=(",", ":")).encode() for it in items]
    for k, (old, new) in splices:
        if k < len(lines):
            lines[k] = lines[k].replace(old, new, 1)
    with pytest.MonkeyPatch.context() as mp:
        _same(lines, mp)


def test_the_fast_path_takes_the_common_item_and_declines_what_it_must(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a test that passes by declining everything: the base item is taken, each splice
    the general path refuses or rewrites is declined, and the chunk is still the same."""
    base = orjson.dumps(_base())
    assert _taken([base]) == 1
    for old, new in SPLICES:
        line = base.replace(old, new, 1)
        ok = True
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            ok = False
        if not ok:
            assert fastscan.decode(line) is None, new[:40]
        _same([base, line, base], monkeypatch)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_decode_accepts_only_what_orjson_reads(data: st.DataObject) -> None:
    """Random byte edits of a real line: whenever the fast path decodes one, orjson reads it."""
    line = bytearray(orjson.dumps(_base()))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(line) - 1))
        line[at : at + data.draw(st.integers(0, 3))] = data.draw(st.binary(max_size=4))
    if fastscan.decode(bytes(line)) is not None:
        orjson.loads(bytes(line))


def test_a_bad_line_leaves_the_validator_usable() -> None:
    good = orjson.dumps(_base())
    for bad in (b"{", b"[1e400]", b'"\xff"', b"", good[:-1]):
        assert fastscan.decode(bad) is None
        assert fastscan.decode(good) is not None


def test_the_vertex_limit_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    item = _base()
    ring = [[0.0, 0.0]] + [[1.0, k / 100] for k in range(96)] + [[0.0, 1.0], [0.0, 0.0]]
    item["geometry"] = {"type": "Polygon", "coordinates": [ring]}
    item["bbox"] = [0, 0, 1, 1]
    old = max_vertices()
    try:
        for limit in (len(ring) - 1, len(ring)):
            configure(max_vertices=limit)
            segs = _same([orjson.dumps(item)], monkeypatch)
            assert (segs[-1].kind == "error") == (limit < len(ring))
    finally:
        configure(max_vertices=old)


def test_fast_and_general_loads_give_the_same_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through load_file: the real items parsed by a worker process (the fast path)
    and by the serial reader (orjson and item_row only)."""
    import sathub.catalog.loader as loader
    from sathub.catalog.sqlite import SQLiteStore

    need_shared()
    monkeypatch.setattr(loader, "DEFER_INDEXES_BYTES", 1)
    monkeypatch.setattr(loader, "PARALLEL_BYTES", 200_000)
    coll = STAC / "rustac/pc_sentinel-2-l2a_collection.json"
    items = STAC / REAL[0]
    out = []
    for workers in (1, 0):
        store = SQLiteStore(tmp_path / f"{workers}.db")
        loader.load_file(store, coll)
        loader.load_file(store, items, workers=workers)
        conn = store._conn()
        out.append((sorted(orjson.dumps(i, option=orjson.OPT_SORT_KEYS) for i in store.iter_items()),
                    conn.execute("SELECT collection, id, dt, dt_start, dt_end, cloud_cover, minx, maxx, "
                                 "miny, maxy, geom FROM items ORDER BY collection, id").fetchall(),
                    store.queryables()))  # fmt: skip
        store.close()
    assert out[0] == out[1]
    assert len(out[0][0]) == 1000


def test_workers_check_the_loading_process_vertex_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit set in the loading process (SATHUB_MAX_GEOMETRY_VERTICES) holds in its spawned
    parse workers too: a polygon over it fails the load there as it does serially."""
    import sathub.catalog.loader as loader
    from sathub.catalog.sqlite import SQLiteStore
    from sathub.errors import LoadError

    need_shared()
    monkeypatch.setattr(loader, "DEFER_INDEXES_BYTES", 1)
    item = _base()
    ring = [[0.0, 0.0]] + [[1.0, k / 100] for k in range(40)] + [[0.0, 1.0], [0.0, 0.0]]
    item["geometry"] = {"type": "Polygon", "coordinates": [ring]}
    item["bbox"] = [0, 0, 1, 1]
    path = tmp_path / "items.ndjson"
    path.write_bytes(orjson.dumps(item) + b"\n")
    old = max_vertices()
    try:
        configure(max_vertices=len(ring) - 1)
        for workers in (0, 1):
            store = SQLiteStore(tmp_path / f"{workers}.db")
            loader.load_file(store, STAC / "rustac/pc_sentinel-2-l2a_collection.json")
            with pytest.raises(LoadError, match="vertices"):
                loader.load_file(store, path, workers=workers)
            store.close()
    finally:
        configure(max_vertices=old)


def _deep(depth: int, links: list[Any]) -> bytes:
    return (b'{"type":"Feature","id":"a","collection":"c","properties":{"datetime":"2020-01-01T00:00:00Z",'
            b'"deep":' + b"[" * depth + b"]" * depth + b'},"geometry":null,"links":' + orjson.dumps(links) + b"}")  # fmt: skip


@pytest.mark.parametrize("depth", [10, 253, 300, 996, 1022, 1030])
@pytest.mark.parametrize("links", [[], [{"rel": "self", "href": "x"}]])
def test_deep_nesting_is_decided_by_the_general_path(depth: int, links: list[Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Found by review: msgspec raised RecursionError skipping a value ~990 deep, and an item
    the general path must write again (generated links) failed there with a bare TypeError
    past orjson's writer limit: now a 4xx naming the item, and the same on both paths."""
    segs = _same([_deep(depth, links)], monkeypatch)
    if links and 254 <= depth < 1023:
        assert segs[-1].kind == "error" and "cannot be stored" in segs[-1].message


def test_duplicate_names_with_generated_links_store_the_general_path_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: cutting links out of the line kept duplicate member names, which
    SQLite's json_extract reads first-wins where orjson reads last-wins; such items now take
    the general path, which stores the parsed item (one value per name)."""
    item = _base()
    item["links"].append({"rel": "self", "href": "https://example.com/x"})
    line = orjson.dumps(item).replace(b'"properties":{', b'"properties":{"zz":1,"zz":2,', 1)
    assert _generated(line)
    fast, general = _chunk([line], True, monkeypatch), _chunk([line], False, monkeypatch)
    assert fast[0].rows[0][11] == general[0].rows[0][11]
    assert b'"zz":1' not in fast[0].rows[0][11].encode()


def test_a_datetime_past_year_9999_in_utc_is_a_datetime_error() -> None:
    from sathub.catalog.validate import parse_datetime
    from sathub.errors import InvalidDatetime

    with pytest.raises(InvalidDatetime, match="out of range"):
        parse_datetime("9999-12-31T23:59:59-23:59", field="properties.datetime")
