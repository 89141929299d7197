"""Default renderings (STAC render extension) and the web-map links that carry them.

The real rasters (8-bit RGB, 16-bit Sentinel-2, one-file-per-band Landsat 5 and float32
Landsat 8 TOA, a float32 NDVI) are ingested, and the tiles their ``xyz``/``tilejson``/``wmts``
links point at are decoded as a browser would: not black, not saturated. The links as they were
(no parameters) draw the 16-bit scene black, which is what STAC Browser showed. The stretch rule
is checked against Chebyshev's inequality (at least 75 % of any data lie within mean ± 2σ), the
documents against the offline render v2.0.0 and web-map-links v1.2.0 schemas, and the block
is read back by pystac's render extension (a peer implementation).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import morecantile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from frontend_support import (
    CID,
    EIGHT_BIT,
    FLOAT,
    FLOAT_PER_BAND,
    PER_BAND,
    SIXTEEN_BIT,
    brightness,
    decode_png,
    ingest_real,
)
from hypothesis import given
from hypothesis import strategies as st
from test_ingest_support import validate_stac

from sathub.api.app import create_app
from sathub.tiles import defaults


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return ingest_real(tmp_path_factory.mktemp("renders"))


@pytest.fixture(scope="module")
def client(archive: dict[str, Any]):  # type: ignore[no-untyped-def]
    with TestClient(create_app(archive["settings"])) as c:
        yield c


def _rel(doc: dict[str, Any], rel: str) -> dict[str, Any]:
    return next(link for link in doc["links"] if link["rel"] == rel)


def _centre_tile(client: TestClient, tilejson_href: str) -> str:
    """A tile URL (from the TileJSON the link points at) fully inside the item, one zoom
    level below the native resolution."""
    tj = client.get(tilejson_href.replace("http://testserver", "")).json()
    w, s, e, n = tj["bounds"]
    z = max(tj["minzoom"], tj["maxzoom"] - 1)
    t = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, z)
    return str(tj["tiles"][0]).format(z=t.z, x=t.x, y=t.y)


def _tile(client: TestClient, url: str) -> tuple[float, float]:
    r = client.get(url.replace("http://testserver", ""))
    assert r.status_code == 200, (url, r.text[:300])
    return brightness(*decode_png(r.content))


@pytest.mark.parametrize("item_id", [EIGHT_BIT, SIXTEEN_BIT, PER_BAND, FLOAT_PER_BAND, FLOAT])
def test_default_tiles_are_neither_black_nor_saturated(client: TestClient, item_id: str) -> None:
    item = client.get(f"/collections/{CID}/items/{item_id}").json()
    renders = item["properties"]["renders"]
    xyz, tilejson, wmts = (_rel(item, r) for r in ("xyz", "tilejson", "wmts"))
    key = xyz["render"]
    assert key in renders and tilejson["render"] == key and wmts["render"] == key
    # the three links carry the same parameters, and they are the render object's
    queries = {r: parse_qsl(urlsplit(link["href"]).query) for r, link in
               (("xyz", xyz), ("tilejson", tilejson), ("wmts", wmts))}  # fmt: skip
    assert queries["xyz"] == queries["tilejson"] == queries["wmts"] == defaults.query_params(renders[key])
    mean, black = _tile(client, _centre_tile(client, tilejson["href"]))
    assert 25 < mean < 230, (item_id, mean)
    assert black < 0.5, (item_id, black)
    # the WMTS capabilities advertise the same rendering in their tile template
    caps = client.get(wmts["href"].replace("http://testserver", "")).text
    assert "rescale" not in renders[key] or "rescale=" in caps


def test_sixteen_bit_was_black_without_the_default(client: TestClient) -> None:
    """The bug: the bare tile URL (what the links were) draws a 16-bit scene black."""
    item = client.get(f"/collections/{CID}/items/{SIXTEEN_BIT}").json()
    tilejson = _rel(item, "tilejson")["href"]
    bare = _centre_tile(client, tilejson.split("?")[0])
    mean, black = _tile(client, bare)
    assert mean < 5 and black > 0.9, (mean, black)


def test_true_colour_where_the_bands_allow(client: TestClient, archive: dict[str, Any]) -> None:
    item = client.get(f"/collections/{CID}/items/{EIGHT_BIT}").json()
    names = [b["common_name"] for b in archive["items"][EIGHT_BIT]["assets"]["data"]["eo:bands"]]
    render = item["properties"]["renders"]["truecolor"]
    assert [names[i - 1] for i in render["bidx"]] == ["red", "green", "blue"]
    assert render["bands"] == [[archive["items"][EIGHT_BIT]["assets"]["data"]["eo:bands"][i - 1]["name"]
                                for i in render["bidx"]]]  # fmt: skip
    per_band = client.get(f"/collections/{CID}/items/{PER_BAND}").json()
    key = _rel(per_band, "xyz")["render"]
    assert per_band["assets"][key]["eo:bands"][0]["common_name"] == "red"  # the red band's file


def test_collection_mosaic_links_carry_the_default(client: TestClient) -> None:
    coll = client.get(f"/collections/{CID}").json()
    render = coll["renders"]["default"]
    xyz = _rel(coll, "xyz")
    assert xyz["render"] == "default"
    assert parse_qsl(urlsplit(xyz["href"]).query) == defaults.query_params(render, asset=False)
    listed = next(c for c in client.get("/collections").json()["collections"] if c["id"] == CID)
    assert listed["renders"] == coll["renders"]
    validate_stac(coll, "collection")


def test_documents_validate_and_pystac_reads_the_renders(client: TestClient) -> None:
    import pystac
    from pystac.extensions.render import RenderExtension

    for item_id in (EIGHT_BIT, SIXTEEN_BIT, PER_BAND, FLOAT_PER_BAND):
        doc = client.get(f"/collections/{CID}/items/{item_id}").json()
        assert defaults.RENDER_EXTENSION in doc["stac_extensions"]
        assert defaults.WEB_MAP_LINKS_EXTENSION in doc["stac_extensions"]
        validate_stac(doc)
        item = pystac.Item.from_dict(doc)
        renders = RenderExtension.ext(item).renders
        assert renders is not None
        for key, render in doc["properties"]["renders"].items():
            assert renders[key].assets == render["assets"]
            assert renders[key].rescale == render.get("rescale")


def test_search_results_carry_the_same_links(client: TestClient) -> None:
    fc = client.get(f"/search?collections={CID}&limit=10").json()
    for f in fc["features"]:
        one = client.get(f"/collections/{CID}/items/{f['id']}").json()
        assert f["properties"]["renders"] == one["properties"]["renders"]
        assert _rel(f, "xyz") == _rel(one, "xyz")


# ------------------------------------------------------------------ the stretch rule
def _stats(a: np.ndarray) -> dict[str, Any]:
    v = a.astype(np.float64)
    return {"minimum": float(v.min()), "maximum": float(v.max()), "mean": float(v.mean()),
            "stddev": float(v.std())}  # fmt: skip


arrays = st.sampled_from(["uint16", "int16", "float32", "uint8"]).flatmap(
    lambda dt: st.tuples(
        st.just(dt),
        st.lists(
            st.integers(0, 255) if dt == "uint8"
            else st.integers(-3000, 3000) if dt == "int16"
            else st.integers(0, 20000) if dt == "uint16"
            else st.floats(-1, 2, allow_nan=False, width=32),
            min_size=1, max_size=60,
        ),
    )
)  # fmt: skip


@given(arrays)
def test_stretch_holds_most_of_the_data(case: tuple[str, list[float]]) -> None:
    """At least 75 % of the values lie inside the stretch (Chebyshev: within mean ± 2σ;
    clipping to the minimum and maximum removes no value), and the range is inside the data's."""
    dtype, values = case
    a = np.asarray(values, dtype=dtype)
    rng = defaults.stretch([{"data_type": dtype, "statistics": _stats(a)}])
    if rng is None:  # 8-bit data spanning half the byte range or more: drawn as they are
        assert dtype == "uint8"
        lo, hi = defaults.band_range({"statistics": _stats(a)}) or (0, 0)
        assert hi - lo >= 128
        return
    lo, hi = rng
    assert lo < hi
    inside = ((a.astype(np.float64) >= lo) & (a.astype(np.float64) <= hi)).mean()
    assert inside >= 0.75, (lo, hi, inside)
    # inside the data's range (a constant band gets [v, v + 1]), up to the outward rounding:
    # to integers, or to a thousandth of the span
    slack = (1.0 if "int" in dtype else 0.0) + 1e-3 * (hi - lo)
    assert lo >= float(a.min()) - slack
    assert hi <= max(float(a.max()), float(a.min()) + 1) + slack


def test_stretch_without_statistics() -> None:
    assert defaults.stretch([{"data_type": "uint16"}]) is None  # drawn as it is
    assert defaults.stretch([{"data_type": "float32"}]) == [0.0, 1.0]
    assert defaults.stretch([]) is None


# ------------------------------------------------------------------ classification rasters
def test_classification_raster_gets_a_colour_per_class(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A uint8 class map (0, 1, 2; 255 nodata) is drawn with one palette colour per class,
    not stretched to grey."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.warp import transform_bounds
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    from sathub.catalog.sqlite import SQLiteStore
    from sathub.config import Settings

    settings = Settings(data=tmp_path / "data")
    settings.layout.create()
    yy, xx = np.mgrid[0:512, 0:512]
    classes = ((xx // 64 + yy // 128) % 3).astype("uint8")
    classes[:40, :40] = 255
    src, cog = tmp_path / "src.tif", settings.layout.assets / "cls" / "c1" / "classes.tif"
    cog.parent.mkdir(parents=True)
    with rasterio.open(src, "w", driver="GTiff", width=512, height=512, count=1, dtype="uint8",
                       crs="EPSG:32647", transform=from_origin(600000, 2400000, 20, 20), nodata=255) as ds:  # fmt: skip
        ds.write(classes, 1)
    cog_translate(src, cog, cog_profiles.get("deflate"), quiet=True, overview_resampling="nearest")
    valid = classes[classes != 255]
    with rasterio.open(cog) as ds:
        w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    store = SQLiteStore(settings.layout.catalog_db)
    store.create_collection({"type": "Collection", "stac_version": "1.0.0", "id": "cls", "description": "d",
                             "license": "CC0-1.0", "links": [], "extent": {"spatial": {"bbox": [[w, s, e, n]]},
                             "temporal": {"interval": [[None, None]]}}})  # fmt: skip
    store.create_item({
        "type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "id": "c1", "collection": "cls",
        "bbox": [w, s, e, n], "properties": {"datetime": "2024-08-09T04:11:01Z"}, "links": [],
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "assets": {"classes": {"href": "cls/c1/classes.tif", "roles": ["data", "classification"],
                               "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                               "raster:bands": [{"data_type": "uint8", "nodata": 255,
                                                 "statistics": _stats(valid)}]}},
    })  # fmt: skip
    store.close()
    with TestClient(create_app(settings)) as c:
        item = c.get("/collections/cls/items/c1").json()
        render = item["properties"]["renders"]["classes"]
        assert "rescale" not in render and sorted(render["colormap"]) == ["0", "1", "2"]
        palette = {tuple(v[:3]) for v in render["colormap"].values()}
        assert len(palette) == 3
        url = _centre_tile(c, _rel(item, "tilejson")["href"])
        rgb, alpha = decode_png(c.get(url.replace("http://testserver", "")).content)
        colours = {tuple(int(v) for v in px) for px in rgb[alpha]}
        assert colours == palette  # every class, in its colour, and nothing else
