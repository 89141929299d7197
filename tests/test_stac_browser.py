"""STAC Browser (vendored build at /browser/) against a live server with the real rasters.

Without a browser: the vendored build is present and recorded in VERSIONS.txt with the script
that reproduces it; /browser/ serves the app for any of its routes with sathub's run-time
configuration (under a proxy prefix too); CORS lets browsers read the headers of ranged
downloads. In headless Chromium: the collections are listed; an item page's map shows imagery
that is not black for an 8-bit, a 16-bit and a one-file-per-band item (pixels of a screenshot);
a search with one additional filter returns the matching items. No request leaves the machine.
Screenshots go to artifacts/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_support import (
    browser_fixture,
    console_errors,
    differs_from,
    needs_chromium,
    network,
    remote_requests,
    save,
    screenshot_rgb,
    wait_for,
)
from fastapi.testclient import TestClient
from frontend_support import CID, EIGHT_BIT, PER_BAND, SIXTEEN_BIT, ingest_real

from sathub.api.app import create_app
from sathub.config import Settings

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "src" / "sathub" / "api" / "static" / "vendor"
BUILD = VENDOR / "stac-browser"
SCRIPT = REPO / "scripts" / "build-stac-browser.sh"
LAND, SEA = (0xF2, 0xEF, 0xE9), (0xC6, 0xDB, 0xE9)  # scripts/stac-browser/basemaps.config.js


# ------------------------------------------------------------------ without a browser
def _script_value(name: str) -> str:
    m = re.search(rf"^{name}=(\S+)$", SCRIPT.read_text(), re.M)
    assert m, name
    return m.group(1).strip('"')


def test_vendored_build_is_present_and_recorded() -> None:
    version = _script_value("VERSION")
    index = (BUILD / "index.html").read_text()
    scripts = re.findall(r'<script defer="defer" src="([^"]+)"', index)
    assert scripts and all((BUILD / s).is_file() for s in scripts)
    assert all(not s.startswith(("/", "http")) for s in scripts)  # relative: works under any prefix
    assert "ISC" in (BUILD / "LICENSE").read_text() or "Permission to use" in (BUILD / "LICENSE").read_text()
    assert "<script" not in index.split("<head>", 1)[1].split("<meta", 1)[0]  # config injected at run time
    versions = (VENDOR / "VERSIONS.txt").read_text().splitlines()
    line = next(v for v in versions if v.startswith("@radiantearth/stac-browser "))
    assert line.split()[1] == version and "scripts/build-stac-browser.sh" in line
    assert f"ol-stac {_script_value('OL_STAC')}" in line
    lock = (REPO / "scripts" / "stac-browser" / "package-lock.json").read_text()
    assert f'"version": "{version}"' in lock and f'"ol-stac": "{_script_value("OL_STAC")}"' in lock
    # the build's own basemap file is sathub's (no OpenStreetMap tiles)
    bundle = "".join(p.read_text(errors="replace") for p in (BUILD / "js").glob("*.js"))
    assert "static/vendor/basemap/" in bundle


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return ingest_real(tmp_path_factory.mktemp("stac-browser"))


@pytest.mark.parametrize("prefix", ["", "/sathub"])
def test_browser_routes(archive: dict[str, Any], prefix: str) -> None:
    app = create_app(Settings(data=archive["data"], root_path=prefix))
    with TestClient(app, root_path=prefix) as c:
        r = c.get("/browser", follow_redirects=False)
        assert r.status_code == 308 and r.headers["location"] == f"{prefix}/browser/"
        for route in ("/browser/", f"/browser/collections/{CID}/items/{EIGHT_BIT}", "/browser/search"):
            page = c.get(route)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert f'<base href="{prefix}/browser/">' in page.text
            assert f'<script src="{prefix}/static/browser/config.js"></script>' in page.text
        app_js = re.findall(r'src="(js/app\.[0-9a-f]+\.js)"', c.get("/browser/").text)[0]
        assert c.get(f"/browser/{app_js}").headers["content-type"].startswith("text/javascript")
        assert c.get("/browser/js/missing.js").status_code == 404  # not the page
        assert c.get("/static/browser/config.js").status_code == 200
        # nothing outside the build is reachable through the route: the page, not the file
        escaped = c.get("/browser/..%2f..%2fviewer%2findex.html")
        assert escaped.status_code == 200 and '<div id="stac-browser">' in escaped.text


def test_cors_exposes_range_headers(archive: dict[str, Any]) -> None:
    """Browsers (STAC Browser's COG reader, geotiff.js) must read Content-Range of a ranged
    download made from another origin."""
    with TestClient(create_app(archive["settings"])) as c:
        r = c.get(f"/collections/{CID}/items/{EIGHT_BIT}/assets/data",
                  headers={"Origin": "http://elsewhere.example", "Range": "bytes=0-99"})  # fmt: skip
        assert r.status_code == 206
        exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {"content-range", "content-length", "etag", "accept-ranges"} <= exposed


# ------------------------------------------------------------------ in Chromium
@pytest.fixture(scope="module")
def server(archive: dict[str, Any]):
    from conftest import LiveServer

    with LiveServer(archive["data"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    yield from browser_fixture(tmp_path_factory, width=1300, height=1000)


def _app_ready(browser: Any, timeout: float = 60) -> None:
    wait_for(browser, "return document.querySelector('#stac-browser h1') !== null", timeout)


@needs_chromium
def test_collections_are_listed(server, browser, archive) -> None:
    browser.get(f"{server.url}/browser/")
    _app_ready(browser)
    wait_for(browser, f"return document.querySelector('a[href$=\"/browser/collections/{CID}\"]') !== null")
    time.sleep(1)
    save(browser, "stac-browser-root.png")
    assert console_errors(browser) == []
    assert remote_requests(browser) == []


def _map_pixels(browser: Any) -> np.ndarray:
    el = browser.find_element("css selector", ".map-container .map")
    return screenshot_rgb(el.screenshot_as_png)


@needs_chromium
@pytest.mark.parametrize("item_id", [EIGHT_BIT, SIXTEEN_BIT, PER_BAND], ids=["8-bit", "16-bit", "per-band"])
def test_item_map_shows_imagery(server, browser, item_id: str) -> None:
    browser.get(f"{server.url}/browser/collections/{CID}/items/{item_id}")
    _app_ready(browser)
    wait_for(browser, "return document.querySelector('.map-container .map canvas') !== null")
    deadline, stats = time.time() + 60, (0.0, 0.0, 0.0)
    while time.time() < deadline:  # tiles arrive one by one: wait for the picture to settle
        img = _map_pixels(browser)
        # imagery: pixels that are neither basemap land nor sea nor the footprint outline
        imagery = differs_from(img, [LAND, SEA, (0x33, 0x99, 0xCC)], tol=60)
        share = float(imagery.mean())
        px = img[imagery]
        bright = float(px.mean()) if len(px) else 0.0
        black = float((px < 15).all(axis=1).mean()) if len(px) else 1.0
        if stats == (share, bright, black) and share > 0.05:
            break
        stats = (share, bright, black)
        time.sleep(1.5)
    save(browser, f"stac-browser-item-{item_id}.png")
    share, bright, black = stats
    assert share > 0.05, f"no imagery on the map ({share:.3f} of it)"
    assert bright > 40 and black < 0.3, f"imagery is black: mean {bright:.1f}, black {black:.2f}"
    tiles = [r for r in browser.requests + network(browser)
             if r["event"] == "response" and f"/items/{item_id}/tiles/" in r["url"]]
    assert tiles and all(r["status"] in (200, 204) for r in tiles)
    assert console_errors(browser) == []
    assert remote_requests(browser) == []


@needs_chromium
def test_search_with_one_additional_filter(server, browser, archive) -> None:
    """STAC Browser sends one filter as a CQL2 ``and`` with a single argument."""
    from selenium.webdriver.common.by import By

    platform = archive["items"][PER_BAND]["properties"]["platform"]
    expected = sorted(i for i, it in archive["items"].items() if it["properties"].get("platform") == platform)
    browser.get(f"{server.url}/browser/search")
    _app_ready(browser)
    wait_for(browser, "return [...document.querySelectorAll('a')].some(a => a.textContent.trim() === 'Search for Items')")
    browser.find_element(By.LINK_TEXT, "Search for Items").click()
    pane = ".tab-pane.active "
    wait_for(browser, f"return document.querySelector('{pane}.additional-filters .queryables button') !== null")
    browser.find_element(By.CSS_SELECTOR, pane + ".additional-filters .queryables button").click()
    choice = next(i for i in browser.find_elements(By.CSS_SELECTOR, pane + ".additional-filters .dropdown-item")
                  if i.text.split()[-1] == "platform")  # fmt: skip
    choice.click()
    wait_for(browser, f"return document.querySelector('{pane}.additional-filters .queryable-group .value') !== null")
    field = browser.find_element(By.CSS_SELECTOR, pane + ".additional-filters .queryable-group .value")
    if field.tag_name == "select":
        from selenium.webdriver.support.ui import Select

        Select(field).select_by_value(platform)
    else:
        field.send_keys(platform)
    network(browser)
    browser.find_element(By.CSS_SELECTOR, pane + "form.filter button[type=submit]").click()
    wait_for(browser, "return document.querySelectorAll('.items .card, .item-card, .card-body a[href*=\"/items/\"]').length > 0"
             " || document.querySelector('.alert-danger, .alert-error') !== null", 60)  # fmt: skip
    time.sleep(1)
    save(browser, "stac-browser-search.png")
    network(browser)
    posts = [r for r in browser.requests if r["event"] == "request" and r["url"].endswith("/search")
             and r["method"] == "POST" and r.get("body") and '"filter"' in r["body"]]  # fmt: skip
    assert posts, "no filtered search was sent"
    assert '"op":"and"' in posts[-1]["body"].replace(" ", "")  # one filter, wrapped in "and"
    statuses = [r["status"] for r in browser.requests if r["event"] == "response" and r["url"].endswith("/search")]
    assert statuses and statuses[-1] == 200, statuses
    shown = browser.execute_script(
        "return [...new Set([...document.querySelectorAll('a[href*=\"/items/\"]')]"
        ".map(a => decodeURIComponent(a.getAttribute('href').split('/items/')[1].split(/[?#/]/)[0])))]")
    assert sorted(shown) == expected
    assert remote_requests(browser) == []
