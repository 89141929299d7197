"""Render parameters, expressions, sizes and feature crops are bounded: each bad value is a
400 naming the parameter, each limit a setting; statistics of an overflowing expression are
those of numpy on the same pixels; mosaics honour ``intersects``."""

from __future__ import annotations

import json

import morecantile
import numpy as np
import pytest
import rasterio
import shapely
from distribution_support import CID, build_archive
from fastapi.testclient import TestClient
from PIL import Image
from rasterio.warp import transform_geom

from sathub.api.app import create_app
from sathub.catalog.sqlite import SQLiteStore

ITEM = f"/collections/{CID}/items/s0"
WM = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    a = build_archive(tmp_path_factory.mktemp("bounds") / "data", n_items=3, size=300)
    settings, item = a["settings"], a["items"][0]
    thumb = settings.layout.assets / CID / "s0" / "v1" / "thumb.png"  # a plain PNG, no georeference
    Image.fromarray(np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)).save(thumb)
    item["assets"]["thumbnail"] = {"href": f"{CID}/s0/v1/thumb.png", "type": "image/png",
                                   "roles": ["thumbnail"]}  # fmt: skip
    store = SQLiteStore(settings.layout.catalog_db)
    store.update_item(CID, "s0", item)
    store.close()
    return a


@pytest.fixture(scope="module")
def client(archive):
    with TestClient(create_app(archive["settings"]), raise_server_exceptions=False) as c:
        yield c


def _tile(archive, z: int = 12) -> str:
    w, s, e, n = archive["items"][0]["bbox"]
    t = WM.tile((w + e) / 2, (s + n) / 2, z)
    return f"tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"


def _cog(archive) -> str:
    return str(archive["settings"].layout.assets / archive["items"][0]["assets"]["data"]["href"])


@pytest.mark.parametrize(("query", "field"), [
    ("nodata=nan", "nodata"), ("nodata=1e400", "nodata"), ("nodata=-inf", "nodata"),
    ("nodata=-1", "nodata"), ("nodata=70000", "nodata"), ("nodata=0.5", "nodata"),  # uint16 asset
    ("expression=1e400", "expression"), ("expression=b1;-1", "expression"),  # names no band
    ('bidx=1&colormap={"1":[1,2,3]}', "colormap"), ('bidx=1&colormap={"1":[1,2,3,300]}', "colormap"),
    ('bidx=1&colormap={"x":[1,2,3,4]}', "colormap"), ("bidx=1&colormap=[1]", "colormap"),
    ('bidx=1&colormap={"1e999":[1,2,3,4]}', "colormap"),
    ("bidx=1&rescale=0,nan", "rescale"), ("bidx=1&rescale=5,5", "rescale"), ("bidx=1&rescale=1,2,3", "rescale"),
    ("expression=" + ";".join(["b1"] * 300), "expression"),
    ("expression=" + "%2B".join(["b1"] * 300), "expression"),  # 599 terms
    ("expression=" + "-" * 900 + "b1", "expression"),  # nested 900 deep
    ("expression=b1*1j", "expression"),
    ("expression=b1;b2;b3;b4;b1", "expression"),  # 5 bands do not fit a PNG
    ("bidx=1&bidx=2&bidx=3&bidx=4", "bidx"),
    ("asset=thumbnail", "asset"),
    ("tilesize=100000", "tilesize"),
])  # fmt: skip
def test_bad_render_parameters_are_400_naming_them(client, archive, query, field) -> None:
    r = client.get(f"{ITEM}/{_tile(archive)}?{query}")
    assert r.status_code == 400, (query, r.status_code, r.text[:300])
    assert r.json()["field"] == field, r.json()


def test_expression_constants_reach_numexpr_as_floats() -> None:
    """numexpr folds constant sub-expressions in Python: ``9**9**9`` as integers runs for
    hours, as floats it overflows at once (an error the API answers with 400)."""
    import ast

    import numexpr

    from sathub.tiles.expression import compile_expression

    compiled = compile_expression("b1 * 9**9**9 + 2", 4)
    consts = [n.value for n in ast.walk(ast.parse(compiled, mode="eval")) if isinstance(n, ast.Constant)]
    assert consts and all(type(c) is float for c in consts), compiled
    with pytest.raises(OverflowError):
        numexpr.evaluate(compiled, local_dict={"b1": np.ones(2)})


@pytest.mark.parametrize("query", ["nodata=-1e308", "nodata=-1", "expression=-1", "expression=1e400"])
def test_mosaics_check_render_parameters_against_the_data(client, archive, query) -> None:
    for prefix in (f"/collections/{CID}", f"/mosaic/{client.post('/mosaic/register', json={'ids': ['s0']}).json()['id']}"):
        for z in (9, 13):  # the cached-overview path and the per-item path
            r = client.get(f"{prefix}/{_tile(archive, z)}?{query}")
            assert r.status_code == 400, (prefix, z, query, r.text[:200])


@pytest.mark.parametrize("path", ["point/{lon},{lat}", "statistics", "preview.png", "info"])
def test_a_thumbnail_is_not_rendered(client, archive, path) -> None:
    w, s, e, n = archive["items"][0]["bbox"]
    url = f"{ITEM}/{path.format(lon=(w + e) / 2, lat=(s + n) / 2)}?asset=thumbnail"
    r = client.get(url)
    assert r.status_code == 400 and r.json()["field"] == "asset", r.text


def test_statistics_of_an_overflowing_expression_match_numpy(client, archive) -> None:
    """exp(b1) overflows float64 where b1 > 709.78: those pixels are masked, the rest are
    summarised exactly as numpy does on the same full-resolution band."""
    r = client.get(f"{ITEM}/statistics?expression=where(b1>1500,exp(b1),b1)&max_size=1024")
    assert r.status_code == 200, r.text
    stats = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    got = next(iter(stats.values()))
    with rasterio.open(_cog(archive)) as ds:
        b1 = ds.read(1, masked=True)
    with np.errstate(over="ignore"):
        v = np.where(b1.data > 1500, np.exp(b1.data.astype("float64")), b1.data)
    ok = ~np.ma.getmaskarray(b1) & np.isfinite(v)
    assert 0 < ok.sum() < b1.size  # some pixels overflow, some do not
    assert got["count"] == ok.sum()
    assert got["min"] == pytest.approx(v[ok].min(), rel=1e-12)
    assert got["max"] == pytest.approx(v[ok].max(), rel=1e-12)
    assert got["mean"] == pytest.approx(v[ok].mean(), rel=1e-9)
    # everything overflows: an answer with no valid pixel, still valid JSON, not a 500
    r = client.get(f"{ITEM}/statistics?expression=exp(b1*1000)")
    assert r.status_code == 200, r.text
    json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    # all values equal and near the float64 limit: numpy cannot bin them; a 400, not a 500
    r = client.get(f"{ITEM}/statistics?expression=b1*0%2B1e308")
    assert r.status_code == 400 and r.json()["field"] == "expression", r.text
    w, s, e, n = archive["items"][0]["bbox"]
    pt = client.get(f"{ITEM}/point/{w + (e - w) * 0.8},{s + (n - s) * 0.8}?expression=exp(b1*1000)")
    assert pt.status_code == 200 and pt.json()["values"] == [None]


def test_sizes_are_bounded_by_settings(archive) -> None:
    from sathub.config import Settings

    settings = Settings(data=archive["settings"].data, max_image_px=1024, max_tile_px=256,
                        max_render_values=200 * 200 * 3, max_expression_outputs=2,
                        max_expression_length=20, max_expression_nodes=9)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        for query, field in [("max_size=1025", "max_size"), ("width=1025", "width"), ("height=1025", "height"),
                             ("width=250&height=250", "max_size"),  # 250 × 250 × 3 bands > 200 × 200 × 3
                             ("expression=b1;b2;b3", "expression"), ("expression=" + "b1%2B" * 5 + "b1", "expression"),
                             ("expression=b1%2Bb2%2Bb3%2Bb4%2Bb1%2Bb2", "expression")]:  # fmt: skip
            r = c.get(f"{ITEM}/preview.png?{query}")
            assert r.status_code == 400 and r.json()["field"] == field, (query, r.text)
        assert c.get(f"{ITEM}/preview.png?width=200&height=200").status_code == 200
        assert c.get(f"{ITEM}/preview.tif?expression=b1;b2&width=200&height=200").status_code == 200
        r = c.get(f"{ITEM}/{_tile(archive)}?tilesize=257")
        assert r.status_code == 400 and r.json()["field"] == "tilesize"
        r = c.get(f"/collections/{CID}/{_tile(archive)}?tilesize=257")  # mosaics too
        assert r.status_code == 400 and r.json()["field"] == "tilesize"
    with TestClient(create_app(archive["settings"])) as c:  # the defaults
        assert c.get(f"{ITEM}/preview.png?max_size=4096").status_code == 200
        r = c.get(f"/collections/{CID}/{_tile(archive)}?tilesize=100000")
        assert r.status_code == 400 and r.json()["field"] == "tilesize"


FEATURES = [
    {"type": "Polygon", "coordinates": [[["a", "b"], [1, 0], [1, 1], ["a", "b"]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]},
    {"type": "Polygon", "coordinates": []},
    {"type": "Polygon", "coordinates": [[]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1e308, 0], [1, 1], [0, 0]]]},
    {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}},
    {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, "x"], [1, 1], [0, 0]]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [0, 0], [0, 0], [0, 0]]]},  # degenerate
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},  # bow-tie
]  # fmt: skip


@pytest.mark.parametrize("feature", FEATURES)
def test_malformed_feature_crops_are_400(client, feature) -> None:
    r = client.post(f"{ITEM}/feature.png", json=feature)
    assert r.status_code == 400 and r.json()["field"] == "body", r.text


def test_feature_vertex_limit_is_the_setting(archive) -> None:
    from sathub.catalog import geometry
    from sathub.config import Settings

    w, s, e, n = archive["items"][0]["bbox"]
    ring = [[w + (e - w) * k / 20, s] for k in range(21)] + [[e, n], [w, n], [w, s]]
    poly = {"type": "Polygon", "coordinates": [ring]}
    try:
        with TestClient(create_app(Settings(data=archive["settings"].data, max_geometry_vertices=20))) as c:
            r = c.post(f"{ITEM}/feature.png?bidx=1", json=poly)
            assert r.status_code == 400 and "SATHUB_MAX_GEOMETRY_VERTICES" in r.json()["description"]
            r = c.post("/search", json={"intersects": poly})
            assert r.status_code == 400 and r.json()["field"] == "intersects"
    finally:
        geometry.configure(max_vertices=geometry.DEFAULT_MAX_VERTICES)
    with TestClient(create_app(archive["settings"])) as c:
        assert c.post(f"{ITEM}/feature.png?bidx=1", json=poly).status_code == 200


# --------------------------------------------------------------------- mosaics
def _lonlat(geom_utm: shapely.Geometry) -> dict:
    return transform_geom("EPSG:32647", "EPSG:4326", shapely.geometry.mapping(geom_utm))


def test_mosaic_honours_intersects(client, archive) -> None:
    """Items lie side by side, overlapping by half (UTM x 600–606 km, 603–609 km, 606–612 km
    for 300 px at 20 m). A geometry inside s1 and s2 but not s0: the mosaic skips s0 even
    where s0 comes first, and equals the mosaic of exactly the items that meet the geometry
    (found here with shapely from the items' footprints)."""
    aoi = _lonlat(shapely.box(606_500, 2_396_000, 608_500, 2_398_000))
    order = {"sortby": [{"field": "datetime", "direction": "asc"}]}  # s0 first
    sid = client.post("/mosaic/register", json={"collections": [CID], "intersects": aoi, **order}).json()["id"]
    meet = [it["id"] for it in archive["items"]
            if shapely.geometry.shape(it["geometry"]).intersects(shapely.geometry.shape(aoi))]
    assert meet == ["s1", "s2"]
    ref = client.post("/mosaic/register", json={"ids": meet, **order}).json()["id"]
    everything = client.post("/mosaic/register", json={"collections": [CID], **order}).json()["id"]
    w, s, e, n = shapely.geometry.shape(aoi).bounds
    t = WM.tile((w + e) / 2, (s + n) / 2, 12)  # a tile holding the AOI and part of s0
    path = f"tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?bidx=1&rescale=0,4000"
    a = client.get(f"/mosaic/{sid}/{path}")
    b = client.get(f"/mosaic/{ref}/{path}")
    c = client.get(f"/mosaic/{everything}/{path}")
    assert a.status_code == b.status_code == c.status_code == 200
    assert a.content == b.content and a.content != c.content
    # a tile outside the geometry's bbox but over s0: nothing
    w0, s0, _, n0 = archive["items"][0]["bbox"]
    far = WM.tile(w0 + 0.001, (s0 + n0) / 2, 14)
    assert client.get(f"/mosaic/{everything}/tiles/WebMercatorQuad/{far.z}/{far.x}/{far.y}.png").status_code == 200
    assert client.get(f"/mosaic/{sid}/tiles/WebMercatorQuad/{far.z}/{far.x}/{far.y}.png").status_code == 204
    tj = client.get(f"/mosaic/{sid}/tiles/WebMercatorQuad/tilejson.json").json()
    assert tj["bounds"] == pytest.approx([w, s, e, n])
    bad = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}
    r = client.post("/mosaic/register", json={"collections": [CID], "intersects": bad})
    assert r.status_code == 400 and r.json()["field"] == "intersects"
