"""Headless Chromium for the browser tests (viewer, STAC Browser, landing page).

Debian's ``chromium`` and ``chromium-driver`` (installed by .ci/run) and ``selenium``. Every
request the page makes is recorded (Chrome's performance log), so a test can assert that none
left the machine; host names other than localhost do not even resolve.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are not installed"
)


def chromium(profile: Path, width: int = 1200, height: int = 800) -> Any:
    """A headless Chromium (WebGL on SwiftShader) that logs console messages and requests."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
                 f"--window-size={width},{height}", f"--user-data-dir={profile}"):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.requests = []  # every request seen, appended to by network() (logs are drained)
    return driver


def browser_fixture(tmp_path_factory: pytest.TempPathFactory, **size: int) -> Iterator[Any]:
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"), **size)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, script: str, timeout: float = 30.0) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}")


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def network(driver: Any) -> list[dict[str, Any]]:
    """Requests (url, method, postData) and responses (url, status) since the last call,
    also kept in ``driver.requests``."""
    out = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg["method"] == "Network.requestWillBeSent":
            req = params["request"]
            out.append({"event": "request", "url": req["url"], "method": req["method"],
                        "body": req.get("postData")})  # fmt: skip
        elif msg["method"] == "Network.responseReceived":
            out.append({"event": "response", "url": params["response"]["url"],
                        "status": params["response"]["status"]})  # fmt: skip
    driver.requests.extend(out)
    return out


def remote_requests(driver: Any) -> list[str]:
    """URLs of every http(s)/ws(s) request so far that was not to this machine."""
    network(driver)
    return sorted({
        r["url"] for r in driver.requests
        if r["event"] == "request" and urlsplit(r["url"]).scheme in ("http", "https", "ws", "wss")
        and urlsplit(r["url"]).hostname not in LOCAL_HOSTS
    })  # fmt: skip


def screenshot_rgb(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def save(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def differs_from(img: np.ndarray, colours: list[tuple[int, int, int]], tol: int = 40) -> np.ndarray:
    """Pixels farther than ``tol`` (sum of channel differences) from every one of ``colours``."""
    far = np.ones(img.shape[:2], bool)
    for c in colours:
        far &= np.abs(img - np.array(c)).sum(axis=-1) > tol
    return far
