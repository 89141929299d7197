"""The hostile-input suite's harness: a data directory (the real STAC data, one real image
ingested, partner and admin keys), a server in a subprocess under a memory limit, and a
prober that sends requests and records every answer that breaks the rules:

- a 5xx, or no answer within ``TIMEOUT_S`` (5 s);
- the server process gone after the request;
- the server's RSS grown by more than ``RSS_GROWTH_MB`` (512 MB) since it warmed up.

Run it with ``make test`` or ``.venv/bin/python -m pytest -q tests/test_hostile_*.py``
(docs/security.md, "Input limits").
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from conftest import SHARED, free_port, load_real, need_shared

MEMORY_LIMIT_BYTES = 3 * 1024**3  # RLIMIT_AS of the server: a regression fails, the host lives
TIMEOUT_S = 5.0
RSS_GROWTH_MB = 512
COLLECTION = "hostile"  # the ingested real image (open to everyone)
RESTRICTED = "naip"
MAX_VERTICES = 20_000  # a real collection only the partner's agreement opens


@dataclass
class HostileData:
    data: Path
    item: str
    bbox: tuple[float, float, float, float]
    keys: dict[str, str]  # actor → bearer token
    agreement_id: int
    org_id: int


def build_data(base: Path) -> HostileData:
    """The real STAC files, ``RGB.byte.tif`` (Landsat 7, real) ingested as a COG with a PNG
    thumbnail, a partner organisation with an agreement on a restricted collection, and keys."""
    need_shared()
    from sathub.access import keys
    from sathub.access.service import AccessService
    from sathub.app import Installation
    from sathub.config import Settings
    from sathub.ingest.pipeline import ingest_paths

    data = base / "data"
    load_real(data)
    settings = Settings(data=data)
    src = base / "in"
    src.mkdir()
    shutil.copy(SHARED / "imagery" / "landsat7_rgb_rasterio" / "RGB.byte.tif", src / "RGB.byte.tif")
    (src / "RGB.byte.tif.sathub.json").write_text(json.dumps({
        "datetime": "2001-01-01T15:30:00Z", "platform": "landsat-7", "instrument": "etm+",
        "bands": [{"name": "B3", "common_name": "red"}, {"name": "B2", "common_name": "green"},
                  {"name": "B1", "common_name": "blue"}],
    }))  # fmt: skip
    inst = Installation.open(settings)
    ingest_paths([src], COLLECTION, settings, inst.catalog, inst.objects)
    item = next(iter(inst.catalog.iter_items(COLLECTION)))
    inst.close()
    service = AccessService.for_layout(settings.layout)
    s = service.store
    s.set_collection_level(RESTRICTED, "restricted")
    org = s.add_org("Partner", "university")
    agreement = s.add_agreement(org.id, title="hostile", collections=(RESTRICTED, COLLECTION))
    tokens = {
        "partner": keys.issue(s, "partner", org.id)[0],
        "admin": keys.issue(s, "admin", None)[0],
    }
    return HostileData(data, item["id"], tuple(item["bbox"]), tokens, agreement.id, org.id)  # type: ignore[arg-type]


def _limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


class Server:
    """``sathub serve`` on a copy of the data, in a subprocess with RLIMIT_AS = 3 GB."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data, self.log = data, log
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        env = {**os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONUNBUFFERED": "1",
               # a lower vertex limit than the default, so the over-the-limit geometries
               # stay small bodies (and the setting is read from the environment)
               "SATHUB_MAX_GEOMETRY_VERTICES": str(MAX_VERTICES)}
        cmd = [sys.executable, "-m", "sathub.cli", "serve", "--data", str(self.data),
               "--port", str(self.port)]  # fmt: skip
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         preexec_fn=_limit_memory)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): {self.tail()}")
            try:
                if httpx.get(self.url + "/_mgmt/ping", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not start: {self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss / 1e6

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@dataclass
class Req:
    method: str
    path: str  # already percent-encoded where it must be
    params: Any = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    actor: str = "anonymous"

    def show(self) -> str:
        body = ""
        if self.json is not None:
            body = " json=" + json.dumps(self.json)[:160]
        elif self.content is not None:
            body = f" body={self.content[:80]!r}… ({len(self.content)} bytes)"
        q = f" params={str(self.params)[:160]}" if self.params else ""
        return f"{self.actor}: {self.method} {self.path[:200]}{q}{body}"


class Prober:
    """Sends requests, checks every rule after each, restarts a dead server and goes on."""

    def __init__(self, server: Server, tokens: dict[str, str], *, stop_at_first: bool = False) -> None:
        """``stop_at_first``: after the first problem send nothing more, and restart a
        server that timed out (its thread may still be working), so the next test starts clean."""
        self.server, self.tokens = server, tokens
        self.stop_at_first = stop_at_first
        self.client = httpx.Client(base_url=server.url, timeout=TIMEOUT_S)
        self.problems: list[str] = []
        self.count = 0
        self.baseline_mb = server.rss_mb()
        self.peak_mb = self.baseline_mb

    def rebase(self) -> None:
        """Take the RSS baseline now (after warm-up requests loaded rio-tiler, GDAL…)."""
        self.baseline_mb = self.peak_mb = self.server.rss_mb()

    def send(self, req: Req) -> httpx.Response | None:
        headers = dict(req.headers)
        if req.actor != "anonymous":
            headers["Authorization"] = f"Bearer {self.tokens[req.actor]}"
        self.count += 1
        t0 = time.monotonic()
        resp = None
        try:
            resp = self.client.request(req.method, req.path, params=req.params, json=req.json,
                                       content=req.content, headers=headers)  # fmt: skip
        except httpx.TimeoutException:
            self.problems.append(f"no answer within {TIMEOUT_S} s: {req.show()}")
        except httpx.TransportError as exc:
            if self.server.alive():  # e.g. the server closed a 413 early: not a failure
                pass
            else:
                self.problems.append(f"connection lost ({type(exc).__name__}): {req.show()}")
        elapsed = time.monotonic() - t0
        if resp is not None:
            if resp.status_code >= 500:
                self.problems.append(f"{resp.status_code} {resp.text[:120]!r}: {req.show()}")
            elif elapsed > TIMEOUT_S:
                self.problems.append(f"answered after {elapsed:.1f} s: {req.show()}")
        if not self.server.alive():
            self.problems.append(f"the server died ({self.server.proc.returncode if self.server.proc else '?'}): "
                                 f"{req.show()}\n{self.server.tail(1500)}")  # fmt: skip
            self.restart()
            return resp
        rss = self.server.rss_mb()
        self.peak_mb = max(self.peak_mb, rss)
        if rss - self.baseline_mb > RSS_GROWTH_MB:
            self.problems.append(f"RSS grew {rss - self.baseline_mb:.0f} MB (to {rss:.0f} MB): {req.show()}")
            self.rebase()  # report each growth once
        return resp

    def run(self, reqs: Iterable[Req]) -> None:
        for r in reqs:
            self.send(r)
            if self.stop_at_first and self.problems:
                if self.server.alive() and any("within" in p for p in self.problems):
                    self.restart()
                return

    def restart(self) -> None:
        self.server.stop()
        self.server.start()
        self.client = httpx.Client(base_url=self.server.url, timeout=TIMEOUT_S)
        self.rebase()

    def report(self) -> str:
        head = (f"{len(self.problems)} problem(s) in {self.count} requests "
                f"(RSS {self.baseline_mb:.0f} → peak {self.peak_mb:.0f} MB):\n")  # fmt: skip
        return head + "\n".join(self.problems[:60])


# ---------------------------------------------------------------- fixtures and routes
@dataclass
class Hostile:
    """A running server over a private copy of the data, and what a valid request names."""

    server: Server
    data: HostileData
    valid: dict[str, str]  # path parameter → a value that addresses something real

    def prober(self, *, stop_at_first: bool = False) -> Prober:
        return Prober(self.server, self.data.keys, stop_at_first=stop_at_first)


def start_hostile(built: HostileData, base: Path) -> Hostile:
    """Copy the data, start the server, register a mosaic, warm the rendering stack up."""
    import morecantile

    data = base / "data"
    shutil.copytree(built.data, data)
    server = Server(data, base / "server.log")
    server.start()
    w, s, e, n = built.bbox
    lon, lat = (w + e) / 2, (s + n) / 2
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 10)
    reg = httpx.post(server.url + "/mosaic/register", json={"collections": [COLLECTION]}, timeout=120)
    reg.raise_for_status()
    valid = {
        "collection_id": COLLECTION, "item_id": built.item, "asset_key": "data",
        "tms_id": "WebMercatorQuad", "z": str(t.z), "x": str(t.x), "y": str(t.y), "fmt": "png",
        "lon": f"{lon:.4f}", "lat": f"{lat:.4f}",
        "bbox": f"{lon - 0.05:.4f},{lat - 0.05:.4f},{lon + 0.05:.4f},{lat + 0.05:.4f}",
        "search_id": reg.json()["id"], "norad_id": "39084", "order_id": "1", "job_id": "1",
        "key_id": "1", "agreement_id": str(built.agreement_id), "activation_id": "1",
    }  # fmt: skip
    item = f"/collections/{COLLECTION}/items/{built.item}"
    for path in (f"{item}/preview.png", f"{item}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png",
                 f"{item}/statistics", f"/mosaic/{valid['search_id']}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png",
                 "/search?limit=5", "/search?limit=5&filter=id%20%3D%20%27x%27%20OR%20id%20%3D%20%27y%27"):  # fmt: skip
        httpx.get(server.url + path, timeout=120).raise_for_status()  # warm-up: imports, GDAL
    return Hostile(server, built, valid)


@dataclass
class RouteSpec:
    method: str
    path: str  # template, e.g. /collections/{collection_id}
    path_params: list[str]
    query_params: list[str]
    body: bool


@functools.lru_cache(maxsize=1)
def routes() -> list[RouteSpec]:
    """Every route of the app (documented or not) with its path and query parameters, read
    from the routes FastAPI builds (so a new route is walked without editing this file)."""
    import re
    import tempfile

    from sathub.api.app import create_app
    from sathub.config import Settings

    try:  # FastAPI ≥ 0.16x includes routers lazily; this walks into them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is flat
        iter_route_contexts = iter

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data=Path(tmp) / "data"))
    out = []
    for r in iter_route_contexts(app.routes):
        path = getattr(r, "path", None)
        methods = sorted(getattr(r, "methods", None) or [])
        if not path or not methods or "{path" in path:  # static file mounts
            continue
        names = re.findall(r"{(\w+)(?::\w+)?}", path)
        template = re.sub(r"{(\w+):\w+}", r"{\1}", path)
        query: list[str] = []
        body = False
        dependant = getattr(r, "dependant", None)
        if dependant is not None:
            query = sorted(_query_names(dependant))
            body = True
        for m in methods:
            out.append(RouteSpec(m, template, names, query, body and m in ("POST", "PUT", "PATCH")))
    return out


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def fill(template: str, values: dict[str, str]) -> str:
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out
