"""The web map viewer in headless Chromium: loads offline with no console errors, a search
draws footprints, an item's tile layer paints pixels; a screenshot goes to artifacts/.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium`` from PyPI; skipped
cleanly when any is missing.
"""

from __future__ import annotations

import base64
import io
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from distribution_support import CID, build_archive

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are not installed"
)


def _wait(driver, script: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}")


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
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                 "--window-size=1200,800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _errors(browser) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_viewer_search_footprints_tiles(server, browser) -> None:
    browser.get(f"{server.url}/viewer")
    _wait(browser, "return window.sathubViewer && window.sathubViewer.ready")
    assert browser.find_element("id", "collection").find_elements("tag name", "option")[-1].get_attribute("value") == CID
    # search the map extent after zooming to the data
    w, s, e, n = server.items[1]["bbox"]
    browser.execute_script(
        f"window.sathubViewer.map.jumpTo({{center: [{(w + e) / 2}, {(s + n) / 2}], zoom: 9}});")
    browser.find_element("id", "go").click()
    n = _wait(browser, "return window.sathubViewer.features.length")
    assert n == 3
    assert "3 shown" in browser.find_element("id", "status").text
    rendered = _wait(browser, "return window.sathubViewer.map.queryRenderedFeatures({layers: ['footprints-line']}).length")
    assert rendered >= 1
    # open an item and add its true-colour tiles
    browser.find_element("css selector", "#results li").click()
    _wait(browser, "return !document.getElementById('item').hidden")
    assert browser.find_element("css selector", "#downloads a").get_attribute("href").endswith("/assets/data/data.tif")
    browser.find_element("id", "truecolor").click()
    _wait(browser, "const m = window.sathubViewer.map; return m.getSource('item-tiles') && m.isSourceLoaded('item-tiles') && m.areTilesLoaded()", 60)
    time.sleep(1.0)
    png = browser.execute_script("return window.sathubViewer.map.getCanvas().toDataURL('image/png')")
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1]))).convert("RGB"))
    background = np.array([0xDF, 0xE6, 0xE9])
    painted = np.abs(img.astype(int) - background).sum(axis=-1) > 30
    assert painted.mean() > 0.02, painted.mean()  # the tiles are drawn, not just the background
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "viewer.png"))
    browser.find_element("id", "ndvi").click()
    _wait(browser, "const m = window.sathubViewer.map; return m.getSource('item-tiles') && m.areTilesLoaded()", 60)
    assert "expression" in browser.execute_script("return window.sathubViewer.layer.url")
    time.sleep(0.5)
    browser.save_screenshot(str(ARTIFACTS / "viewer-ndvi.png"))
    assert _errors(browser) == []
    assert browser.execute_script("return window.sathubViewer.errors") == []


def test_api_docs_work_offline(server, browser) -> None:
    browser.get(f"{server.url}/api.html")
    _wait(browser, "return document.querySelectorAll('.opblock').length > 10")
    assert _errors(browser) == []
    for src in browser.execute_script("return [...document.scripts].map(s => s.src)"):
        assert not src or src.startswith(server.url)
