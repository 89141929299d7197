"""GeoJSON geometries are checked structurally (plain Python) before GEOS or GDAL sees them:
every malformed input is an InvalidGeometry naming the reason, and whatever the check
accepts, shapely parses into the same positions (the reference)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from sathub.catalog import geometry
from sathub.catalog.geometry import check_geojson, geometry_from_geojson
from sathub.errors import InvalidGeometry

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]

BAD = [
    ({"type": "Polygon", "coordinates": [[["a", "b"], [1, 0], [1, 1], ["a", "b"]]]}, "numbers only"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}, "at least 4"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}, "at least 4"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not closed"),
    ({"type": "Polygon", "coordinates": []}, "empty"),
    ({"type": "Polygon", "coordinates": [[]]}, "at least 4"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1e308, 0], [1, 1], [0, 0]]]}, "out of range"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [10**400, 0], [1, 1], [0, 0]]]}, "non-finite"),
    ({"type": "Point", "coordinates": [math.nan, 0]}, "non-finite"),
    ({"type": "Point", "coordinates": [0, math.inf]}, "non-finite"),
    ({"type": "Point", "coordinates": [1, "a"]}, "numbers only"),
    ({"type": "Point", "coordinates": [True, 0]}, "numbers only"),
    ({"type": "Point", "coordinates": [1, 2, "x"]}, "numbers only"),
    ({"type": "Point", "coordinates": [1, 2, 3, 4]}, "2 or 3 numbers"),
    ({"type": "Point", "coordinates": []}, "2 or 3 numbers"),
    ({"type": "Point", "coordinates": [[0, 0]]}, "2 or 3 numbers"),
    ({"type": "LineString", "coordinates": [[0, 0]]}, "at least 2"),
    ({"type": "LineString", "coordinates": [[0, 0], [1, 1, 1]]}, "mix 2 and 3"),
    ({"type": "MultiPolygon", "coordinates": []}, "empty"),
    ({"type": "MultiPolygon", "coordinates": [SQUARE]}, "at least 4"),  # one level short
    ({"type": "Polygon", "coordinates": [[SQUARE] * 4]}, "2 or 3 numbers"),  # one level too deep
    ({"type": "MultiPoint", "coordinates": {"a": 1}}, "must be an array"),
    ({"type": "Polygon"}, "no 'coordinates'"),
    ({"type": ["Polygon"], "coordinates": []}, "not a GeoJSON geometry"),
    ({"type": "Feature", "geometry": None}, "not a GeoJSON geometry"),
    ([0, 0], "not a GeoJSON geometry"),
    ({"type": "GeometryCollection", "geometries": []}, "non-empty"),
    ({"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": ["x", 0]}]}, "numbers"),
]  # fmt: skip


@pytest.mark.parametrize(("geom", "reason"), BAD)
def test_malformed_geometries_are_refused_with_a_reason(geom: Any, reason: str) -> None:
    with pytest.raises(InvalidGeometry, match=reason) as exc:
        geometry_from_geojson(geom, field="intersects")
    assert exc.value.field == "intersects"


def test_nested_collections_and_vertex_counts_are_bounded() -> None:
    g: dict[str, Any] = {"type": "Point", "coordinates": [0, 0]}
    for _ in range(geometry.MAX_COLLECTION_DEPTH):
        g = {"type": "GeometryCollection", "geometries": [g]}
    geometry_from_geojson(g)
    with pytest.raises(InvalidGeometry, match="nested"):
        geometry_from_geojson({"type": "GeometryCollection", "geometries": [g]})
    n = 64
    ring = [[math.cos(2 * math.pi * i / n), math.sin(2 * math.pi * i / n)] for i in range(n)]
    poly = {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
    assert shapely.get_num_coordinates(geometry_from_geojson(poly, max_vertices=n + 1)) == n + 1
    with pytest.raises(InvalidGeometry, match="more than 64 vertices"):
        check_geojson(poly, max_vertices=n)
    many = {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [0, 0]}] * 40}
    with pytest.raises(InvalidGeometry, match="more than 50"):
        check_geojson(many, max_vertices=50)


@pytest.fixture()
def small_vertex_limit() -> Iterator[int]:
    geometry.configure(max_vertices=10)
    try:
        yield 10
    finally:
        geometry.configure(max_vertices=geometry.DEFAULT_MAX_VERTICES)


def test_the_process_wide_limit_applies_to_every_caller(small_vertex_limit: int) -> None:
    from sathub.access.geo import check_aoi
    from sathub.analytics.select import load_zones
    from sathub.orbits.coverage import normalise_aoi

    eleven = {"type": "LineString", "coordinates": [[i * 0.1, 0] for i in range(11)]}
    with pytest.raises(InvalidGeometry, match="more than 10"):
        geometry_from_geojson(eleven)
    ring = [[0, 0], [1, 0], [1, 1], [0.5, 1.5], [0, 1], [-0.5, 1], [-1, 0.5], [-1, 0.2],
            [-0.8, 0.1], [-0.5, 0], [0, 0]]  # fmt: skip
    aoi = {"type": "Polygon", "coordinates": [ring]}
    for check in (check_aoi, load_zones, normalise_aoi):
        with pytest.raises(InvalidGeometry, match="more than 10"):
            check(aoi)  # type: ignore[operator]


@pytest.mark.parametrize("geom", [g for g, _ in BAD if isinstance(g, dict)][:8])
def test_aoi_inputs_use_the_same_check(geom: Any) -> None:
    """Analytics and orbits AOIs went straight to shapely; now the same check runs first."""
    from sathub.analytics.select import load_zones
    from sathub.orbits.coverage import normalise_aoi

    for check in (load_zones, normalise_aoi):
        with pytest.raises(InvalidGeometry):
            check(geom)  # type: ignore[operator]
    with pytest.raises(InvalidGeometry):
        load_zones({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geom}]})


# ------------------------------------------------------------ property: shapely agrees
_num = st.one_of(
    st.integers(-200, 200), st.floats(-200, 200), st.just(math.nan), st.just(math.inf),
    st.just("1"), st.just(True), st.none(),
)  # fmt: skip
_pos = st.lists(_num, min_size=0, max_size=4)
_json = st.recursive(_pos, lambda inner: st.lists(inner, max_size=5), max_leaves=40)
_geom = st.fixed_dictionaries({
    "type": st.sampled_from(sorted(geometry.GEOJSON_TYPES - {"GeometryCollection"})),
    "coordinates": _json,
})  # fmt: skip


def _positions(coords: Any) -> list[list[float]]:
    """The positions of a (checked) coordinates array, by plain recursion."""
    if coords and isinstance(coords[0], (int, float)):
        return [list(map(float, coords))]
    return [p for c in coords for p in _positions(c)]


@settings(max_examples=400, deadline=None)
@given(_geom)
def test_what_the_check_accepts_shapely_reads_position_for_position(g: dict[str, Any]) -> None:
    try:
        check_geojson(g)
    except InvalidGeometry:
        return
    shape = shapely.geometry.shape(g)  # must not raise on a checked geometry
    expected = _positions(g["coordinates"])
    got = shapely.get_coordinates(shape, include_z=len(expected[0]) == 3).tolist()
    assert got == expected


def _closed_ring(points: list[tuple[float, float]]) -> list[list[float]]:
    return [list(p) for p in points] + [list(points[0])]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-180, 180), st.floats(-90, 90)), min_size=3, max_size=12))
def test_well_formed_rings_pass_the_structural_check(points: list[tuple[float, float]]) -> None:
    """Any closed ring of ≥ 4 in-range positions passes the structure check (validity,
    e.g. self-intersection, is GEOS's to judge afterwards)."""
    check_geojson({"type": "Polygon", "coordinates": [_closed_ring(points)]})


_coord = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-181, 181),
                   st.integers(-200, 200), st.booleans(), st.just("1.5"), st.none())  # fmt: skip
_position = st.one_of(st.lists(_coord, min_size=0, max_size=4), st.tuples(_coord, _coord),
                      st.lists(st.floats(-180, 180), min_size=2, max_size=2))  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_position, min_size=1, max_size=6), st.booleans())
def test_the_fast_position_path_decides_like_the_general_check(points: list[Any], in_range: bool) -> None:
    """The shortcut for [lon, lat] float pairs accepts and refuses exactly what the general
    per-position check does, with the same reason."""

    def outcome(run: Any) -> str:
        try:
            run()
        except InvalidGeometry as exc:
            return exc.message
        return "ok"

    def reference() -> None:  # every position through the general check
        walk = geometry._Walk("geometry", 1000, in_range)
        for p in points:
            walk.position(p)
        if len(walk.dims) > 1:
            walk.fail("positions mix 2 and 3 coordinates (with and without elevation) in one geometry")

    got = outcome(lambda: check_geojson({"type": "MultiPoint", "coordinates": points},
                                        check_range=in_range))  # fmt: skip
    assert got == outcome(reference)
