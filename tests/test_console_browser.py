"""The console in headless Chromium, signed in as each role: every page walked, with no
browser console error and no serious or critical axe-core violation; the daily actions done
through the pages (an agreement created and suspended, a key issued and revoked, an activation
opened and closed, an order made from an opportunity, a zonal job run to its chart, a
commitment approved by a second person); 1,000 agreements paged and sorted; a partner kept to
its own organisation; a forged cross-site post refused. Screenshots go to artifacts/console/.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium`` (as tests/test_viewer.py).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_world import BULK, FLOOD, RICE, ROLES, ConsoleWorld, build

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "console"
AXE = REPO / "tests" / "vendor" / "axe-core" / "axe.min.js"
DOC_SHOTS = {"admin-dashboard", "admin-orbits-passes", "admin-budget", "partner-own-organisation",
             "agreements-1000", "action-activation-form", "action-opportunities", "action-order-board",
             "action-zonal-chart", "action-key-shown-once"}  # fmt: skip

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="chromium and chromium-driver are not installed")  # fmt: skip

# What each role finds in the navigation (the permission table decides; this is the check).
NAV = {
    "admin": {"Dashboard", "Archive", "Partners", "Agreements", "API keys", "Activations", "Satellites",
              "Pass timeline", "Opportunities", "Orders", "Analytics", "Budget", "Commitments"},
    "operator": {"Dashboard", "Archive", "Satellites", "Pass timeline", "Opportunities", "Orders",
                 "Analytics"},
    "analyst": {"Dashboard", "Archive", "Satellites", "Pass timeline", "Orders", "Analytics"},
    "partner": {"Dashboard", "My organisation", "Opportunities", "Orders"},
    "partner_b": {"Dashboard", "My organisation", "Opportunities", "Orders"},
    "finance_officer": {"Dashboard", "Orders", "Budget", "Commitments"},
    "budget_approver": {"Dashboard", "Orders", "Budget", "Commitments"},
    "budget_viewer": {"Dashboard", "Orders", "Budget", "Commitments"},
}  # fmt: skip


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ConsoleWorld:
    from test_analytics_support import demo_settings

    return build(tmp_path_factory.mktemp("console"), demo_settings())


class Server:
    def __init__(self, app: Any) -> None:
        import uvicorn
        from conftest import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(world: ConsoleWorld) -> Iterator[Server]:
    from sathub.api.app import create_app

    with Server(create_app(world.inst)) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                 "--window-size=1280,900", "--lang=en-GB",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-console')}"):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    # axe-core in every page before its own scripts (no 650 kB upload per check)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": AXE.read_text()})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


# ------------------------------------------------------------------------------- helpers
def wait(driver, script: str, timeout: float = 30.0, *args: Any) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.2)


def errors(driver, expected: tuple[int, ...] = ()) -> list[str]:  # type: ignore[no-untyped-def]
    """Severe browser console messages; ``expected``: statuses the test provoked on purpose
    (Chromium logs every 4xx answer to a fetch as an error)."""
    allowed = tuple(f"the server responded with a status of {s} " for s in expected)
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not any(a in e["message"] for a in allowed)]  # fmt: skip


READY = """
const c = window.sathubConsole;
if (!c || !c.ready || document.readyState !== 'complete') return false;
const maps = window.sathubMaps ? Object.values(window.sathubMaps.maps) : [];
return maps.every(m => m.ready);
"""


def visit(driver, url: str) -> None:  # type: ignore[no-untyped-def]
    driver.get(url)
    wait(driver, READY, 60)


def status_of(driver) -> int:  # type: ignore[no-untyped-def]
    return int(driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus"))


def sign_in(driver, server: Server, world: ConsoleWorld, role: str) -> None:  # type: ignore[no-untyped-def]
    driver.delete_all_cookies()
    visit(driver, f"{server.url}/console/login")
    driver.find_element("id", "login-key").send_keys(world.keys[role])
    driver.find_element("css selector", "form.login button[type=submit]").click()
    wait(driver, "return location.pathname === '/console' && document.querySelector('h1') "
                 "&& document.querySelector('nav.side')")  # fmt: skip
    wait(driver, READY)


def axe(driver) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Serious and critical axe-core violations (WCAG 2.1 A and AA rules) on the page."""
    if not driver.execute_script("return !!window.axe"):  # injected by the browser fixture
        driver.execute_script(AXE.read_text())
    result = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                           resultTypes: ['violations']})
           .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                    nodes: v.nodes.slice(0, 3).map(n => n.target)}))))
           .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
    """)
    return [v for v in result if v["impact"] in ("serious", "critical")]


def no_serious_violations(driver, where: str) -> None:  # type: ignore[no-untyped-def]
    """axe-core on a page in a state the walk does not reach (a form's error, a result)."""
    found = axe(driver)
    assert not found, (where, json.dumps(found, indent=1))


def shot(driver, name: str, anchor: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """A screenshot in artifacts/console/ (scrolled to element ``anchor``); with
    SATHUB_CONSOLE_DOCS=1 also a small copy for docs/console.md in docs/img/."""
    if anchor:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'start'})", anchor)
        time.sleep(0.4)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    if os.environ.get("SATHUB_CONSOLE_DOCS") == "1" and name in DOC_SHOTS:
        from PIL import Image

        img = Image.open(ARTIFACTS / f"{name}.png").convert("RGB")
        img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.Resampling.LANCZOS)
        img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            REPO / "docs" / "img" / f"console-{name}.png", optimize=True)


def click_confirm(driver) -> None:  # type: ignore[no-untyped-def]
    wait(driver, "return document.getElementById('confirm').open")
    driver.find_element("css selector", "#confirm [data-answer=yes]").click()


def draw(driver, map_id: str, mode: str, points: list[tuple[float, float]]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Draw on a map with the mouse: points are fractions of the map's width and height."""
    from selenium.webdriver.common.action_chains import ActionChains

    driver.find_element("css selector", f"[data-draw={mode}][data-map-id='{map_id}']").click()
    canvas = driver.find_element("css selector", f"#{map_id} canvas")
    w, h = canvas.size["width"], canvas.size["height"]
    for fx, fy in points:
        ActionChains(driver).move_to_element_with_offset(canvas, int((fx - 0.5) * w), int((fy - 0.5) * h)) \
            .pause(0.15).click().pause(0.25).perform()  # fmt: skip
    field = driver.find_element("css selector", f"[data-aoi-for]#{map_id}").get_attribute("data-aoi-for")
    text = wait(driver, "return document.getElementById(arguments[0]).value", 10, field)
    return dict(json.loads(text))


def zoom_to(driver, map_id: str, lon: float, lat: float, zoom: float) -> None:  # type: ignore[no-untyped-def]
    driver.execute_script("window.sathubMaps.maps[arguments[0]].map.jumpTo({center: [arguments[1], "
                          "arguments[2]], zoom: arguments[3]})", map_id, lon, lat, zoom)  # fmt: skip
    time.sleep(0.3)


# --------------------------------------------------------------------------------- tests
def test_every_role_walks_every_page(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    problems: dict[str, Any] = {}
    axed: set[tuple[str, str]] = set()
    for role in ROLES:
        sign_in(browser, server, world, role)
        links = browser.execute_script(
            "return [...document.querySelectorAll('nav.side a')].map(a => [a.textContent.trim(), a.href])")
        assert {name for name, _ in links} == NAV[role], role
        for name, href in links:
            visit(browser, href)
            page = href.split("/console", 1)[1].strip("/").replace("/", "-") or "dashboard"
            assert status_of(browser) == 200, (role, href)
            assert not browser.find_elements("css selector", "main > p.error-text:not([hidden])"), (role, href)
            key = (role if page in ("dashboard", "partners-" + str(world.orgs["ytu"])) else "", page)
            if key not in axed:  # each page once (the dashboard per role): axe takes a second
                axed.add(key)
                found = axe(browser)
                if found:
                    problems[f"{role} {page}"] = found
            shot(browser, f"{role}-{page}", anchor="budget-chart" if page == "budget" else None)
        assert errors(browser) == [], role
        browser.find_element("css selector", "header form.signout button").click()
        wait(browser, "return location.pathname === '/console/login'")
        visit(browser, f"{server.url}/console")  # signed out: back to the sign-in form
        assert browser.execute_script("return location.pathname") == "/console/login"
    assert not problems, json.dumps(problems, indent=1)
    assert errors(browser) == []


def test_admin_creates_and_suspends_an_agreement(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    sign_in(browser, server, world, "admin")
    org = world.orgs["redcross"]
    visit(browser, f"{server.url}/console/partners/{org}")
    form = browser.find_element("id", "agreement-form")
    # the API's own validation, with its words, next to the field it names
    form.find_element("name", "title").send_keys("Delta imagery for the flood season")
    form.find_element("css selector", "button[type=submit]").click()
    err = wait(browser, "const e = document.querySelector('#agreement-form [data-error-for=collections]');"
                        "return !e.hidden && e.textContent")  # fmt: skip
    summary = browser.find_element("css selector", "#agreement-form .form-error").text
    assert err == "Field required" and summary == "collections: Field required"  # the API's words
    assert form.find_element("name", "collections").get_attribute("aria-invalid") == "true"
    no_serious_violations(browser, "an organisation's page, a form showing the API's error")
    from selenium.webdriver.support.ui import Select

    Select(form.find_element("name", "collections")).select_by_value("demo-ayeyarwady-flood")
    zoom_to(browser, "agreement-form-map", 95.9, 16.0, 7)
    aoi = draw(browser, "agreement-form-map", "rectangle", [(0.3, 0.3), (0.7, 0.7)])
    assert aoi["type"] == "Polygon" and len(aoi["coordinates"][0]) == 5
    lons, lats = [p[0] for p in aoi["coordinates"][0]], [p[1] for p in aoi["coordinates"][0]]
    assert 93.5 < min(lons) < 95.9 < max(lons) < 98.3 and 14 < min(lats) < 16.0 < max(lats) < 18, aoi
    form.find_element("name", "quota_bytes").send_keys("20000000000")
    shot(browser, "action-agreement-form")
    form.find_element("css selector", "button[type=submit]").click()
    wait(browser, "return [...document.querySelectorAll('#agreements-table td')]"
                  ".some(td => td.textContent.includes('Delta imagery for the flood season'))", 30)  # fmt: skip
    made = [a for a in world.inst.access.store.agreements(org) if a.title == "Delta imagery for the flood season"]
    assert len(made) == 1 and made[0].status == "active" and made[0].quota_bytes == 20_000_000_000
    assert made[0].aoi is not None and made[0].collections == ("demo-ayeyarwady-flood",)
    # suspend it: the page asks first; Cancel changes nothing
    button = browser.find_element("css selector", f"button[aria-label='Suspend the agreement {made[0].title}']")
    button.click()
    wait(browser, "return document.getElementById('confirm').open")
    browser.find_element("css selector", "#confirm [data-answer=no]").click()
    time.sleep(0.5)
    assert world.inst.access.store.agreement(made[0].id).status == "active"
    browser.find_element("css selector", f"button[aria-label='Suspend the agreement {made[0].title}']").click()
    click_confirm(browser)
    wait(browser, "return document.readyState === 'complete' && [...document.querySelectorAll('#agreements-table tr')]"
                  ".some(tr => tr.textContent.includes('Delta imagery') && tr.textContent.includes('suspended'))", 30)  # fmt: skip
    assert world.inst.access.store.agreement(made[0].id).status == "suspended"
    recs = [r for r in world.inst.access.audit.records(agreement_id=made[0].id) if r["action"] != "state"]
    assert [r["action"] for r in recs] == ["admin.agreement.add", "admin.agreement.suspended"]
    assert recs[-1]["actor"].startswith("key:")
    shot(browser, "action-agreement-suspended")
    assert errors(browser, expected=(400,)) == []


def test_admin_issues_and_revokes_a_key(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from selenium.webdriver.support.ui import Select

    sign_in(browser, server, world, "admin")
    visit(browser, f"{server.url}/console/keys")
    form = browser.find_element("id", "key-form")
    Select(form.find_element("name", "role")).select_by_value("partner")
    Select(form.find_element("name", "org")).select_by_visible_text("Yangon Technological University")
    form.find_element("name", "label").send_keys("field team tablet")
    form.find_element("css selector", "button[type=submit]").click()
    key = wait(browser, "const c = document.querySelector('#key-form code.secret'); return c && c.textContent")
    shot(browser, "action-key-shown-once")
    no_serious_violations(browser, "a key shown once")
    r = httpx.get(f"{server.url}/orbits/orders", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200  # the key shown is a working key of that organisation
    browser.find_element("css selector", "#key-form .result button").click()  # "I have copied it"
    wait(browser, "return [...document.querySelectorAll('#keys-table tr')].some(tr => tr.textContent.includes('field team tablet'))")
    assert key not in browser.page_source  # shown once: not on the page any more
    rec = next(k for k in world.inst.access.store.keys() if k.label == "field team tablet")
    browser.find_element("css selector", f"button[aria-label='Revoke key {rec.id}']").click()
    click_confirm(browser)
    wait(browser, "return [...document.querySelectorAll('#keys-table tr')].some(tr => "
                  "tr.textContent.includes('field team tablet') && tr.textContent.includes('revoked'))")  # fmt: skip
    assert httpx.get(f"{server.url}/orbits/orders", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    actions = [r["action"] for r in world.inst.access.audit.records()
               if r["resource"] == f"key:{rec.id}" and r["action"] != "state"]  # fmt: skip
    assert actions == ["admin.key.issue", "admin.key.revoke"]
    assert errors(browser) == []


def test_admin_opens_and_closes_an_activation(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import Select

    sign_in(browser, server, world, "admin")
    visit(browser, f"{server.url}/console/activations")
    form = browser.find_element("id", "activation-form")
    form.find_element("name", "name").send_keys("Cyclone response, Rakhine coast")
    zoom_to(browser, "activation-form-map", 93.5, 19.5, 7)
    aoi = draw(browser, "activation-form-map", "polygon",
               [(0.3, 0.3), (0.7, 0.35), (0.6, 0.7), (0.3, 0.3)])  # back to the first point closes it
    assert aoi["type"] == "Polygon" and len(aoi["coordinates"][0]) == 4
    days = form.find_element("name", "days")
    days.clear()
    days.send_keys("10")
    Select(form.find_element("name", "orgs")).select_by_value("Myanmar Red Cross Society")
    shot(browser, "action-activation-form", anchor="activation-form-map")
    no_serious_violations(browser, "an activation's form, an area drawn")
    form.find_element("css selector", "button[type=submit]").click()
    wait(browser, "return [...document.querySelectorAll('#activations-table tr')].some(tr => "
                  "tr.textContent.includes('Cyclone response') && tr.textContent.includes('open'))", 30)  # fmt: skip
    act = next(a for a in world.inst.access.store.activations() if a.name.startswith("Cyclone"))
    assert act.in_force(time.time()) and act.org_ids == (world.orgs["redcross"],)
    assert 9.9 < (act.expires - act.opened) / 86400 < 10.1
    browser.find_element("css selector", f"button[aria-label='Close the activation {act.name}']").click()
    click_confirm(browser)
    wait(browser, "return [...document.querySelectorAll('#activations-table tr')].some(tr => "
                  "tr.textContent.includes('Cyclone response') && tr.textContent.includes('closed'))", 30)  # fmt: skip
    assert not world.inst.access.store.activation(act.id).in_force(time.time())
    actions = [r["action"] for r in world.inst.access.audit.records()
               if r["resource"] == f"activation:{act.id}" and r["action"] != "state"]  # fmt: skip
    assert actions == ["admin.activation.open", "admin.activation.close"]
    assert errors(browser) == []


def test_operator_orders_an_opportunity(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import Select

    sign_in(browser, server, world, "operator")
    visit(browser, f"{server.url}/console/orbits/opportunities")
    zoom_to(browser, "opp-form-map", 96.1, 21.9, 8)
    draw(browser, "opp-form-map", "rectangle", [(0.4, 0.4), (0.6, 0.6)])
    sats = Select(browser.find_element("css selector", "#opp-form [name=norad_ids]"))
    sats.deselect_all()
    sats.select_by_value("89001")
    browser.find_element("css selector", "#opp-form button[type=submit]").click()
    n = wait(browser, "return document.querySelectorAll('#opp-table tbody tr').length", 60)
    assert n >= 1
    shot(browser, "action-opportunities", anchor="opp-form-map")
    no_serious_violations(browser, "opportunities found")
    before = {o.id for o in _orders(world)}
    browser.find_element("css selector", "#opp-table tbody tr button").click()
    wait(browser, "return document.querySelector('#opp-status a')", 30)
    new = [o for o in _orders(world) if o.id not in before]
    assert len(new) == 1 and new[0].satellites == [89001] and new[0].status == "received"
    assert new[0].created_by.startswith("key:")
    browser.find_element("css selector", "#opp-status a").click()
    wait(browser, READY)
    assert new[0].id in browser.find_element("id", "board-received").find_element("xpath", "..").text
    shot(browser, "action-order-board")
    assert errors(browser) == []


def _orders(world: ConsoleWorld) -> list[Any]:
    from sathub.orbits.orders import OrderBook

    return OrderBook(world.inst.orbits).list_orders()


def test_analyst_runs_a_zonal_job_and_sees_its_chart(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import Select

    sign_in(browser, server, world, "analyst")
    visit(browser, f"{server.url}/console/analytics")
    form = browser.find_element("id", "job-form")
    Select(form.find_element("name", "kind")).select_by_value("zonal")
    Select(form.find_element("name", "collection")).select_by_value(RICE)
    form.find_element("css selector", "input[type=file][data-aoi-file]").send_keys(str(world.fields_file))
    wait(browser, "return document.getElementById('job-form-aoi').value.length > 10")
    Select(form.find_element("name", "index")).select_by_value("ndvi")
    Select(form.find_element("name", "interval")).select_by_value("month")
    Select(form.find_element("name", "mask")).select_by_value("spectral")
    form.find_element("css selector", "button[type=submit]").click()
    wait(browser, "return window.sathubAnalytics.loaded", 240)
    chart = browser.execute_script("""
        const c = window.sathubCharts.charts['result-chart'];
        return {type: c.config.type, labels: c.data.labels,
                series: c.data.datasets.map(d => ({label: d.label, n: d.data.filter(v => v !== null).length}))};
    """)
    assert chart["type"] == "line" and len(chart["labels"]) >= 3
    assert len(chart["series"]) == 2 and all(s["n"] >= 3 for s in chart["series"])
    assert browser.execute_script("return document.querySelectorAll('#result-table tbody tr').length") >= 6
    job = browser.execute_script("return window.sathubAnalytics.job")
    assert job["status"] == "succeeded" and job["kind"] == "zonal"
    result = browser.execute_script("return window.sathubAnalytics.result")
    peak = [r["mean"] for r in result["intervals"] if r["datetime"].startswith("2024-09") and r["mean"]]
    assert peak and min(peak) > 0.6  # the demo's rice is at its peak in September
    time.sleep(0.5)
    shot(browser, "action-zonal-chart", anchor="job-view")
    no_serious_violations(browser, "a zonal job's result: map, chart and table")
    assert errors(browser) == []


def test_analyst_runs_a_flood_job_to_its_map_and_chart(world: ConsoleWorld, server: Server, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A flood job from the form (the AOI pasted as GeoJSON text, the keyboard's way): its
    numbers as bars and a table (the result's own), and its derived product drawn on the map
    from the tile routes (every tile answered 200, no console error)."""
    import rasterio
    from selenium.webdriver.support.ui import Select
    from shapely.geometry import box, mapping

    from sathub.analytics.scene import to_crs

    with rasterio.open(world.data / "demo" / "flood_truth.tif") as src:
        aoi = mapping(to_crs(box(*src.bounds), src.crs, "EPSG:4326"))
        truth_km2 = float((src.read(1) == 1).sum()) * abs(src.res[0] * src.res[1]) / 1e6
    sign_in(browser, server, world, "analyst")
    visit(browser, f"{server.url}/console/analytics")
    form = browser.find_element("id", "job-form")
    Select(form.find_element("name", "kind")).select_by_value("flood")
    Select(form.find_element("name", "collection")).select_by_value(FLOOD)
    form.find_element("id", "job-form-aoi").send_keys(json.dumps(aoi))
    form.find_element("name", "before").send_keys("2024-01-01/2024-07-31")
    form.find_element("name", "after").send_keys("2024-08-01/2024-08-20")
    Select(form.find_element("name", "mask")).select_by_value("spectral")
    form.find_element("css selector", "button[type=submit]").click()
    wait(browser, "return window.sathubAnalytics.loaded", 240)
    job = browser.execute_script("return window.sathubAnalytics.job")
    result = browser.execute_script("return window.sathubAnalytics.result")
    assert job["status"] == "succeeded" and job["kind"] == "flood"
    assert job["parameters"]["index"] == "mndwi"  # the form's water index, not the zonal one
    zone = result["zones"][0]
    assert zone["flooded_km2"] == pytest.approx(truth_km2, rel=0.15)  # the demo's ground truth
    chart = browser.execute_script("""
        const c = window.sathubCharts.charts['result-chart'];
        return {type: c.config.type, series: c.data.datasets.map(d => d.data)};
    """)
    assert chart["type"] == "bar" and chart["series"] == [[zone["flooded_km2"]], [zone["unobserved_km2"]]]
    cells = browser.execute_script("return [...document.querySelectorAll('#result-table tbody td')].map(td => td.textContent)")
    assert float(cells[1]) == pytest.approx(zone["flooded_km2"], abs=1e-4)
    tiles = wait(browser, """
        const m = window.sathubMaps.maps['result-map'].map;
        if (!m.getSource('product') || !m.isSourceLoaded('product')) return false;
        const got = performance.getEntriesByType('resource').filter(e => e.name.includes('asset=flood'));
        return got.length ? got.map(e => e.responseStatus) : false;
    """, 60)
    assert set(tiles) == {200}, tiles
    time.sleep(0.5)
    shot(browser, "action-flood-map", anchor="job-view")
    no_serious_violations(browser, "a flood job's result")
    assert errors(browser) == []


def test_a_thousand_agreements_page_and_sort(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    sign_in(browser, server, world, "admin")
    visit(browser, f"{server.url}/console/agreements")
    total = len(world.inst.access.store.agreements())
    assert total >= BULK
    pager = browser.find_element("css selector", ".pager .page-of").text
    assert pager == f"Page 1 of {-(-total // 25)}"
    assert len(browser.find_elements("css selector", "#agreements-table tbody tr")) == 25

    def titles() -> list[str]:
        return browser.execute_script(
            "return [...document.querySelectorAll('#agreements-table tbody tr')].map(tr => tr.cells[1].textContent.trim())")

    browser.find_element("css selector", "#agreements-table th a[data-sort=title]").click()
    wait(browser, "return location.search.includes('sort=title')")
    everything = sorted((a.title for a in world.inst.access.store.agreements()), key=str.casefold)
    assert titles() == everything[:25]
    assert browser.find_element("css selector", "th[aria-sort=ascending] a").get_attribute("data-sort") == "title"
    browser.find_element("css selector", "#agreements-table th a[data-sort=title]").click()  # descending
    wait(browser, "return location.search.includes('dir=desc')")
    assert titles() == everything[::-1][:25]
    browser.find_element("css selector", ".pager a[rel=next]").click()
    wait(browser, "return location.search.includes('page=2')")
    assert titles() == everything[::-1][25:50]
    shot(browser, "agreements-1000")
    # filter and page size, keyboard only
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "f_status")).select_by_value("draft")
    Select(browser.find_element("id", "per")).select_by_value("100")
    browser.find_element("id", "q").send_keys("Bulk agreement 03", Keys.ENTER)
    wait(browser, "return location.search.includes('f_status=draft')")
    drafts = [a for a in world.inst.access.store.agreements()
              if a.status == "draft" and "Bulk agreement 03" in a.title]  # fmt: skip
    assert len(titles()) == len(drafts) == 34
    shot(browser, "agreements-filtered")
    no_serious_violations(browser, "agreements filtered")
    assert errors(browser) == []


def test_partner_cannot_reach_other_organisations_or_admin_actions(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    sign_in(browser, server, world, "partner")
    own, other = world.orgs["ytu"], world.orgs["redcross"]
    visit(browser, f"{server.url}/console/partners/{own}")
    assert status_of(browser) == 200
    assert "Rice monitoring 2024" in browser.page_source and "Flood response" not in browser.page_source
    assert not browser.find_elements("id", "agreement-form") and not browser.find_elements("id", "key-form")
    assert not browser.find_elements("css selector", "form[data-api*='/admin/']")
    # the usage chart of its own agreement draws this month's downloads
    days = browser.execute_script("return window.sathubCharts.charts['usage-chart'].data.datasets[0].data"
                                  ".filter(v => v > 0).length")  # fmt: skip
    assert days >= 1
    shot(browser, "partner-own-organisation", anchor="usage")
    for path, status in ((f"/console/partners/{other}", 404), ("/console/partners/999999", 404),
                         ("/console/agreements", 403), ("/console/keys", 403), ("/console/archive", 403),
                         ("/console/activations", 403), ("/console/budget", 403)):  # fmt: skip
        visit(browser, server.url + path)
        assert status_of(browser) == status, path
        assert "Flood response" not in browser.page_source
    # the API routes behind the admin pages, called from the partner's own console page
    visit(browser, f"{server.url}/console/partners/{own}")
    answers = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const csrf = document.querySelector('meta[name=csrf-token]').content;
        const h = {'Content-Type': 'application/json', 'X-CSRF-Token': csrf};
        const calls = [['GET', '/admin/keys'], ['GET', '/admin/agreements'],
          ['POST', '/admin/orgs', {name: 'Partner-made', kind: 'company'}],
          ['POST', '/admin/keys', {role: 'admin'}],
          ['POST', '/admin/agreements/' + arguments[0] + '/suspend'],
          ['PUT', '/admin/collections/demo-mandalay-rice/access', {level: 'restricted'}],
          ['GET', '/console/partners/' + arguments[1] + '/usage/' + arguments[0] + '.csv']];
        Promise.all(calls.map(([m, u, b]) => fetch(u, {method: m, headers: h, body: b ? JSON.stringify(b) : undefined})
          .then(r => [m + ' ' + u, r.status]))).then(done);
    """, world.agreements["redcross"], other)
    assert {k: v for k, v in answers} == {
        "GET /admin/keys": 403, "GET /admin/agreements": 403, "POST /admin/orgs": 403,
        "POST /admin/keys": 403, f"POST /admin/agreements/{world.agreements['redcross']}/suspend": 403,
        "PUT /admin/collections/demo-mandalay-rice/access": 403,
        f"GET /console/partners/{other}/usage/{world.agreements['redcross']}.csv": 404}  # fmt: skip
    assert world.inst.access.store.agreement(world.agreements["redcross"]).status == "active"
    assert "Partner-made" not in {o.name for o in world.inst.access.store.orgs()}


class _Attacker(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_forged_cross_site_form_post_is_refused(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    """A page on another site posts forms to the console's API while an admin is signed in:
    a JSON body smuggled in a text/plain form, and a sign-out. Neither has any effect."""
    from conftest import free_port

    sign_in(browser, server, world, "admin")
    _Attacker.page = f"""<!doctype html><html><body>
      <form id="a" method="post" action="{server.url}/admin/orgs" enctype="text/plain" target="f1">
        <input name='{{"name": "Forged by another site", "kind": "company", "x": "' value='"}}'></form>
      <form id="b" method="post" action="{server.url}/console/logout" target="f2"></form>
      <iframe name="f1"></iframe><iframe name="f2"></iframe>
      <script>document.getElementById('a').submit(); document.getElementById('b').submit();
              setTimeout(() => document.title = 'sent', 1500);</script></body></html>""".encode()
    port = free_port()
    evil = http.server.ThreadingHTTPServer(("localhost", port), _Attacker)  # another origin
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://localhost:{port}/")
        wait(browser, "return document.title === 'sent'", 15)
    finally:
        evil.shutdown()
    assert "Forged by another site" not in {o.name for o in world.inst.access.store.orgs()}
    visit(browser, f"{server.url}/console/keys")  # still signed in: the forged sign-out did nothing
    assert status_of(browser) == 200 and browser.execute_script("return location.pathname") == "/console/keys"
    browser.get_log("browser")  # the attacker page's refused requests are expected errors


def test_a_commitment_is_approved_by_a_second_person(world: ConsoleWorld, server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import Select

    svc = world.inst.budget
    year = "FY2025"  # the demo's year with an approved (and revised) budget
    sign_in(browser, server, world, "finance_officer")
    visit(browser, f"{server.url}/console/budget/commitments?year={year}")
    form = browser.find_element("id", "commit-form")
    line = next(ln for ln in svc.store.lines(year=year) if ln.currency == "USD")
    Select(form.find_element("name", "line")).select_by_value(str(line.id))
    browser.execute_script("document.getElementById('commit-form-value_date').value = '2026-01-15'")
    form.find_element("name", "amount").send_keys("1500.125")
    form.find_element("name", "counterparty").send_keys("Ground station spares")
    form.find_element("css selector", "button[type=submit]").click()
    err = wait(browser, "const e = document.querySelector('#commit-form [data-error-for=amount]');"
                        "return !e.hidden && e.textContent")  # fmt: skip
    assert err == "USD has 2 decimal places; 1500.125 has more"  # the budget API's words, at the field
    amount = form.find_element("name", "amount")
    amount.clear()
    amount.send_keys("60000.00")  # above the approval threshold: waits for a second person
    form.find_element("css selector", "button[type=submit]").click()
    wait(browser, "return [...document.querySelectorAll('#commitments-table tr')].some(tr => "
                  "tr.textContent.includes('Ground station spares') && tr.textContent.includes('waiting'))", 30)  # fmt: skip
    tx = next(t for t in svc.store.transactions(year=year, kind="commitment") if t.counterparty == "Ground station spares")
    assert tx.status == "pending"
    assert not browser.find_elements("css selector", f"button[aria-label='Approve commitment {tx.id}']")
    sign_in(browser, server, world, "budget_approver")
    visit(browser, f"{server.url}/console/budget/commitments?year={year}")
    browser.find_element("css selector", f"button[aria-label='Approve commitment {tx.id}']").click()
    wait(browser, "return [...document.querySelectorAll('#commitments-table tr')].some(tr => "
                  "tr.textContent.includes('Ground station spares') && tr.textContent.includes('approved'))", 30)  # fmt: skip
    assert svc.store.transaction(tx.id).status == "approved"
    assert errors(browser, expected=(400,)) == []
