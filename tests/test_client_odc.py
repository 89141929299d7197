"""odc-stac and stackstac, driven as their users drive them (items found with pystac-client
against a live sathub serving the real imagery of ../shared/data), load exactly the pixels of
the source files: same CRS, same grid, same values (the reference is rasterio reading the
files that were ingested)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import odc.stac
import pystac_client
import pytest
import stackstac
from client_support import CID, LEGACY, Served, read_source, served_archive
from test_ingest_support import validate_stac


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_archive(tmp_path_factory.mktemp("odc")) as s:
        yield s


@pytest.fixture(scope="module")
def catalog(served: Served) -> pystac_client.Client:
    return pystac_client.Client.open(served.url)


def _search(catalog: pystac_client.Client, item_id: str) -> pystac_client.ItemSearch:
    return catalog.search(collections=[CID], ids=[item_id])


def _assert_same_grid(loaded: Any, crs: Any, transform: Any, shape: tuple[int, int]) -> None:
    if "transform" in loaded.attrs:  # stackstac (its coordinates are pixel corners)
        assert loaded.attrs["crs"] == f"epsg:{crs.to_epsg()}"
        assert loaded.shape[-2:] == shape
        assert loaded.attrs["transform"].almost_equals(transform, precision=1e-6)
    else:  # odc-stac
        gbox = loaded.odc.geobox
        assert gbox.crs.epsg == crs.to_epsg()
        assert tuple(gbox.shape) == shape
        assert gbox.affine.almost_equals(transform, precision=1e-6)


def test_odc_stac_loads_every_data_asset_pixel_identical(
    served: Served, catalog: pystac_client.Client
) -> None:
    """Every COG data asset of every item (1 to 10 bands; uint8, uint16, float32; UTM and the
    British National Grid), loaded at its native grid, which odc-stac takes from the item's
    projection fields alone."""
    checked = 0
    for item_id, key in served.data_assets():
        ref, crs, transform, _ = read_source(served.source(item_id, key))
        items = list(_search(catalog, item_id).items())
        assert [i.id for i in items] == [item_id]
        bands = [key] if ref.shape[0] == 1 else [f"{key}.{n}" for n in range(1, ref.shape[0] + 1)]
        ds = odc.stac.load(items, bands=bands)
        _assert_same_grid(ds, crs, transform, ref.shape[1:])
        got = np.stack([ds[b].isel(time=0).values for b in bands])
        assert got.dtype == ref.dtype, (item_id, key)
        np.testing.assert_array_equal(got, ref, err_msg=f"{item_id}/{key}")
        checked += 1
    assert checked >= 21  # Landsat 5 (7 bands, twice: the legacy item), Landsat 8 (4), RGB, S-2, NDVI


def _stackstac_asset(served: Served, item_dicts: list[dict[str, Any]], key: str) -> Any:
    ref, *_ = read_source(served.source(item_dicts[0]["id"], key))
    nodata = item_dicts[0]["assets"][key]["raster:bands"][0].get("nodata", 0)
    return stackstac.stack(
        item_dicts, assets=[key], dtype=ref.dtype.name,
        fill_value=ref.dtype.type(nodata), rescale=False, snap_bounds=False,
    )  # fmt: skip


def test_stackstac_loads_every_single_band_asset_pixel_identical(
    served: Served, catalog: pystac_client.Client
) -> None:
    """stackstac 0.5 takes the CRS from ``proj:epsg`` only (it failed with "Cannot pick a
    common CRS" on items with ``proj:code`` alone). Multi-band assets are outside what
    stackstac supports ("Multi-band rasters are not currently supported")."""
    checked = 0
    for item_id, key in served.data_assets():
        ref, crs, transform, _ = read_source(served.source(item_id, key))
        if ref.shape[0] != 1:
            continue
        dicts = list(_search(catalog, item_id).items_as_dicts())
        arr = _stackstac_asset(served, dicts, key)
        _assert_same_grid(arr, crs, transform, ref.shape[1:])
        got = arr.isel(time=0).values  # (band, y, x)
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref, err_msg=f"{item_id}/{key}")
        checked += 1
    assert checked >= 19  # Landsat 5 (7 bands, twice: the legacy item), Landsat 8 (4), NDVI


def test_stackstac_time_stack_of_two_items(served: Served, catalog: pystac_client.Client) -> None:
    """A search returning two items on one grid (the Landsat 5 scene, stored both ways)
    stacks into one array without reprojection: both layers are the source pixels."""
    dicts = list(
        catalog.search(collections=[CID], ids=["LT52240631988227CUB02", LEGACY]).items_as_dicts()
    )
    assert len(dicts) == 2
    arr = _stackstac_asset(served, dicts, "B4")
    ref, *_ = read_source(served.source(LEGACY, "B4"))
    assert arr.shape[0] == 2
    for t in range(2):
        np.testing.assert_array_equal(arr.isel(time=t).values, ref)


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="upstream: pystac >= 1.12 deletes proj:epsg when it migrates items (pystac-client "
    "always migrates) and stackstac 0.5 reads no other CRS field (gjoseph92/stackstac#262); "
    "docs/interoperability.md tells stackstac users to pass items_as_dicts()",
)
def test_stackstac_with_pystac_items(served: Served, catalog: pystac_client.Client) -> None:
    """A tripwire: when stackstac reads ``proj:code`` this passes, and the docs must change."""
    items = list(_search(catalog, "LT52240631988227CUB02").items())
    ref, *_ = read_source(served.source("LT52240631988227CUB02", "B3"))
    arr = stackstac.stack(items, assets=["B3"], dtype="uint8", fill_value=np.uint8(255),
                          rescale=False, snap_bounds=False)  # fmt: skip
    np.testing.assert_array_equal(arr.isel(time=0).values, ref)


def test_served_items_carry_both_projection_fields(served: Served, catalog: pystac_client.Client) -> None:
    """What the clients above rely on, item by item: ``proj:epsg`` equal to the source's EPSG
    code beside ``proj:code``, under projection v1.2.0 (the legacy item included), valid."""
    for d in catalog.search(collections=[CID]).items_as_dicts():
        assert "https://stac-extensions.github.io/projection/v1.2.0/schema.json" in d["stac_extensions"]
        key = next(k for k, a in d["assets"].items() if "data" in a["roles"])
        _, crs, _, _ = read_source(served.source(d["id"], key))
        epsg = d["assets"][key].get("proj:epsg", d["properties"].get("proj:epsg"))
        code = d["assets"][key].get("proj:code", d["properties"].get("proj:code"))
        assert epsg == crs.to_epsg() and code == f"EPSG:{crs.to_epsg()}", d["id"]
        validate_stac(d, "item")  # and the offline schemas of every extension it lists
