"""The web map viewer in headless Chromium.

At first open, with no click: the bundled basemap (Natural Earth countries, coastlines,
Myanmar's states) is drawn, the map is on the extent of the data, and the latest footprints are
on it. Then a search draws footprints, an item's default tile layer paints pixels, NDVI works.
No console errors, and no request leaves the machine. Screenshots go to artifacts/.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium`` from PyPI; skipped
cleanly when any is missing (a failure in CI, where .ci/run installs them).
"""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
import pytest
from browser_support import (
    browser_fixture,
    console_errors,
    differs_from,
    needs_chromium,
    remote_requests,
    save,
    screenshot_rgb,
    wait_for,
)
from distribution_support import build_archive
from frontend_support import CID as REAL, PER_BAND, ingest_real

pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = needs_chromium

LAND, SEA = (0xF2, 0xEF, 0xE9), (0xC6, 0xDB, 0xE9)  # viewer.js basemap colours
LAND_UNDER_FOOTPRINT = (223, 230, 233)  # the footprints' 8 % blue fill over land


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from conftest import LiveServer

    data = tmp_path_factory.mktemp("viewer") / "data"
    built = build_archive(data, n_items=3)
    with LiveServer(data) as srv:
        srv.items = built["items"]  # type: ignore[attr-defined]
        yield srv


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    yield from browser_fixture(tmp_path_factory)


def _canvas(browser: Any) -> np.ndarray:
    png = browser.execute_script("return window.sathubViewer.map.getCanvas().toDataURL('image/png')")
    return screenshot_rgb(base64.b64decode(png.split(",", 1)[1]))


def _idle(browser: Any, timeout: float = 60) -> None:
    wait_for(browser, "const m = window.sathubViewer.map; return m.loaded() && m.areTilesLoaded()", timeout)
    time.sleep(0.5)


def test_first_open_shows_basemap_extent_and_latest_footprints(server, browser) -> None:
    browser.get(f"{server.url}/viewer")
    wait_for(browser, "return window.sathubViewer && window.sathubViewer.ready && window.sathubViewer.basemap")
    _idle(browser)
    # the latest items, without a click
    assert browser.execute_script("return window.sathubViewer.features.length") == 3
    assert browser.execute_script(
        "return window.sathubViewer.map.queryRenderedFeatures({layers: ['footprints-line']}).length") >= 1
    # on the extent of the data: every item inside the view, and not the whole world
    w, s, e, n = browser.execute_script("return window.sathubViewer.map.getBounds().toArray().flat()")
    for item in server.items:
        bw, bs, be, bn = item["bbox"]
        assert w <= bw and s <= bs and be <= e and bn <= n, (item["bbox"], (w, s, e, n))
    assert browser.execute_script("return window.sathubViewer.map.getZoom()") > 6
    # a basemap, not a grey canvas: land drawn where the data is
    x, y = browser.execute_script(
        "const m = window.sathubViewer.map, c = m.getCenter(), p = m.project(c); return [p.x, p.y];")
    under = browser.execute_script(
        f"return window.sathubViewer.map.queryRenderedFeatures([{x}, {y}], {{layers: ['countries']}})"
        ".map(f => f.properties.name)")
    assert under, "no country drawn under the data"
    save(browser, "viewer-first-open.png")
    img = _canvas(browser)
    near = lambda c: (np.abs(img - np.array(c)).sum(axis=-1) <= 12).mean()  # noqa: E731
    assert near(LAND) + near(SEA) + near(LAND_UNDER_FOOTPRINT) > 0.5
    assert near(LAND) > 0.05  # the land around the footprints
    assert console_errors(browser) == []
    assert browser.execute_script("return window.sathubViewer.errors") == []
    assert remote_requests(browser) == []


def test_viewer_search_footprints_tiles(server, browser) -> None:
    browser.get(f"{server.url}/viewer")
    wait_for(browser, "return window.sathubViewer && window.sathubViewer.ready")
    w, s, e, n = server.items[1]["bbox"]
    browser.execute_script(
        f"window.sathubViewer.map.jumpTo({{center: [{(w + e) / 2}, {(s + n) / 2}], zoom: 9}});")
    browser.find_element("id", "go").click()
    wait_for(browser, "return document.getElementById('status').textContent.includes('shown')")
    assert browser.execute_script("return window.sathubViewer.features.length") == 3
    assert "3 shown" in browser.find_element("id", "status").text
    wait_for(browser, "return window.sathubViewer.map.queryRenderedFeatures({layers: ['footprints-line']}).length")
    # open an item and add its default tiles (the item's xyz link, with its rendering)
    browser.find_element("css selector", "#results li").click()
    wait_for(browser, "return !document.getElementById('item').hidden")
    assert browser.find_element("css selector", "#downloads a").get_attribute("href").endswith("/assets/data/data.tif")
    _idle(browser)
    before = _canvas(browser)
    browser.find_element("id", "truecolor").click()
    wait_for(browser, "const m = window.sathubViewer.map; return m.getSource('item-tiles') && m.isSourceLoaded('item-tiles')", 60)
    _idle(browser)
    url = browser.execute_script("return window.sathubViewer.layer.url")
    xyz = browser.execute_script("return window.sathubViewer.item.links.find(l => l.rel === 'xyz').href")
    assert url == xyz and "bidx=3&bidx=2&bidx=1" in url  # the item's default rendering: true colour
    changed = (np.abs(_canvas(browser) - before).sum(axis=-1) > 30).mean()
    assert changed > 0.02, changed  # the tiles are drawn
    save(browser, "viewer.png")
    browser.find_element("id", "ndvi").click()
    wait_for(browser, "const m = window.sathubViewer.map; return m.getSource('item-tiles') && m.areTilesLoaded()", 60)
    assert "expression" in browser.execute_script("return window.sathubViewer.layer.url")
    time.sleep(0.5)
    save(browser, "viewer-ndvi.png")
    assert console_errors(browser) == []
    assert browser.execute_script("return window.sathubViewer.errors") == []
    assert remote_requests(browser) == []


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory):
    from conftest import LiveServer

    archive = ingest_real(tmp_path_factory.mktemp("viewer-real"))
    with LiveServer(archive["data"]) as srv:
        yield srv


def test_landsat_level1_is_not_drawn_black(real_server, browser) -> None:
    """A Landsat 5 scene (one uint8 file per band, radiance scale 0.671) was drawn black: the
    viewer computed rescale=0,0 from the scale. It now draws the item's default rendering."""
    browser.get(f"{real_server.url}/viewer#item={REAL}/{PER_BAND}")
    wait_for(browser, "return window.sathubViewer && window.sathubViewer.ready && window.sathubViewer.layer")
    wait_for(browser, "const m = window.sathubViewer.map; return m.isSourceLoaded('item-tiles')", 60)
    _idle(browser)
    assert "rescale=0,0" not in browser.execute_script("return window.sathubViewer.layer.url")
    img = _canvas(browser)
    w, s, e, n = browser.execute_script("return window.sathubViewer.item.bbox")
    (x0, y1), (x1, y0) = (browser.execute_script(
        f"const p = window.sathubViewer.map.project([{lon}, {lat}]); return [p.x, p.y];")
        for lon, lat in ((w, s), (e, n)))  # fmt: skip
    ratio = browser.execute_script("return window.devicePixelRatio")
    inner = img[int(y0 * ratio) + 5:int(y1 * ratio) - 5, int(x0 * ratio) + 5:int(x1 * ratio) - 5]
    assert inner.size, "the item is not in view"
    imagery = differs_from(inner, [(0xF2, 0xEF, 0xE9), (0xC6, 0xDB, 0xE9)])
    assert imagery.mean() > 0.5
    assert inner[imagery].mean() > 40, inner[imagery].mean()  # not black
    save(browser, "viewer-landsat5.png")
    assert remote_requests(browser) == []


def test_api_docs_work_offline(server, browser) -> None:
    browser.get(f"{server.url}/api.html")
    wait_for(browser, "return document.querySelectorAll('.opblock').length > 10")
    assert console_errors(browser) == []
    for src in browser.execute_script("return [...document.scripts].map(s => s.src)"):
        assert not src or src.startswith(server.url)
    assert remote_requests(browser) == []
