"""Several API processes on one installation (issue 14.4): two ``sathub serve`` servers (the
first with ``--workers 2``) behind nginx, all real processes.

- nothing in a worker's memory is needed for correctness: what is written through one server
  is read through the other at once (collections, items, queryables, keys), and a job is
  polled and cancelled through a server that did not start it;
- nginx is the one trusted proxy: the links follow its address, while X-Forwarded-* or
  Forwarded from any other client are ignored;
- a worker killed (SIGKILL) under load loses no GET: nginx retries it on the other server, and
  uvicorn's supervisor starts a new worker.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import issue_key
from stack_support import Load, wait_job, wait_until
from test_ingest_support import copy_real_imagery

from sathub.access import keys
from sathub.app import Installation
from sathub.config import Settings
from sathub.stack.nginx import PROXY_BIND, Nginx
from sathub.stack.procs import ApiServer

COLL = {"type": "Collection", "id": "shared", "stac_version": "1.0.0", "description": "d",
        "license": "CC-BY-4.0", "links": [],
        "extent": {"spatial": {"bbox": [[0, 0, 10, 10]]},
                   "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}}}  # fmt: skip


def _item(iid: str, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": "shared",
            "geometry": {"type": "Point", "coordinates": [5, 5]}, "bbox": [5, 5, 5, 5],
            "properties": {"datetime": "2024-01-01T00:00:00Z", **props}, "links": [],
            "assets": {}}  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("workers")
    settings = Settings(data=root / "data", trusted_proxies=PROXY_BIND)
    inst = Installation.create(settings)
    key = issue_key(inst, "operator")
    env = {"SATHUB_DATA": str(settings.data), "SATHUB_TRUSTED_PROXIES": PROXY_BIND}
    a, b = ApiServer(root, env, workers=2, name="a"), ApiServer(root, env, name="b")
    a.proc.start(), b.proc.start()
    try:
        a.start_wait(), b.start_wait()
        with Nginx(root / "nginx", [a.address, b.address]) as ng:
            auth = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=a.url, headers=auth, timeout=120) as ca, \
                 httpx.Client(base_url=b.url, headers=auth, timeout=120) as cb:  # fmt: skip
                yield {"a": a, "b": b, "nginx": ng, "ca": ca, "cb": cb, "inst": inst,
                       "auth": auth, "root": root}  # fmt: skip
    finally:
        a.stop(), b.stop()
        inst.close()


def test_a_write_through_one_server_is_read_through_the_other(stack: dict[str, Any]) -> None:
    ca, cb = stack["ca"], stack["cb"]
    assert ca.post("/collections", json=COLL).status_code in (200, 201)
    assert cb.get("/collections/shared").json()["description"] == "d"
    assert ca.post("/collections/shared/items", json=_item("i1", cloud=3)).status_code in (200, 201)
    # B reads (and caches) the queryables, then A writes an item with a new property
    assert "cloud" in cb.get("/collections/shared/queryables").json()["properties"]
    assert "platform_x" not in cb.get("/collections/shared/queryables").json()["properties"]
    assert ca.post("/collections/shared/items", json=_item("i2", platform_x="s2")).status_code in (200, 201)
    assert "platform_x" in cb.get("/collections/shared/queryables").json()["properties"]
    found = cb.post("/search", json={"collections": ["shared"], "filter-lang": "cql2-json",
                                     "filter": {"op": "=", "args": [{"property": "platform_x"}, "s2"]}})  # fmt: skip
    assert [f["id"] for f in found.json()["features"]] == ["i2"]
    # an update and a delete through A, read through B
    assert ca.put("/collections/shared", json=COLL | {"description": "changed"}).status_code in (200, 204)
    assert cb.get("/collections/shared").json()["description"] == "changed"
    assert ca.delete("/collections/shared/items/i1").status_code in (200, 204)
    assert cb.get("/collections/shared/items/i1").status_code == 404
    # a mosaic search registered through A is known to B (content-addressed, kept in DATA)
    sid = ca.post("/mosaic/register", json={"collections": ["shared"]}).json()["id"]
    assert cb.get(f"/mosaic/{sid}/tiles/WebMercatorQuad/tilejson.json").status_code == 200
    # a key revoked (here, by the admin CLI's store) is refused by every server at once
    store = stack["inst"].access.store
    doomed, rec = keys.issue(store, "operator", None)
    hdr = {"Authorization": f"Bearer {doomed}"}
    assert ca.post("/ingest/verify", headers=hdr).status_code == 202
    assert cb.get("/ingest/jobs/x", headers=hdr).status_code == 404  # known key, unknown job
    store.revoke_key(rec.id)
    assert ca.get("/ingest/jobs/x", headers=hdr).status_code == 401
    assert cb.get("/ingest/jobs/x", headers=hdr).status_code == 401


def test_a_job_is_polled_and_cancelled_through_the_other_server(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    ca, cb = stack["ca"], stack["cb"]
    src = copy_real_imagery(tmp_path / "in")
    r = ca.post("/ingest", json={"paths": [str(src)], "collection": "real"})
    assert r.status_code == 202, r.text
    # B did not start the job: it reads it as it is (queued, running), not as failed
    seen = cb.get(f"/ingest/jobs/{r.json()['id']}").json()
    assert seen["status"] in ("queued", "running", "succeeded"), seen
    done = wait_job(lambda: cb.get(f"/ingest/jobs/{r.json()['id']}"))
    assert done["status"] == "succeeded", done
    features = cb.get("/collections/real/items", params={"limit": 50}).json()["features"]
    assert len(features) == done["summary"]["counts"]["ingested"] == 5  # tests/test_ingest_real.py
    # two analytics jobs started through A (one lane: the second waits); B cancels the second
    l8 = next(f for f in features if f["id"] == "LC80130312015295LGN00_toa")
    w, s, e, n = l8["bbox"]
    aoi = {"type": "Feature", "properties": {"id": "z"}, "geometry": {"type": "Polygon",
           "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}  # fmt: skip
    body = {"kind": "zonal", "collection": "real", "aoi": aoi, "index": "ndvi",
            "from": "2015-01-01", "to": "2015-12-31", "mask": "none"}  # fmt: skip
    first, second = (ca.post("/analytics/jobs", json=body) for _ in range(2))
    assert first.status_code == second.status_code == 202, first.text
    assert cb.delete(f"/analytics/jobs/{second.json()['id']}").status_code == 200
    ok = wait_job(lambda: cb.get(f"/analytics/jobs/{first.json()['id']}"))
    assert ok["status"] == "succeeded", ok
    cancelled = wait_job(lambda: cb.get(f"/analytics/jobs/{second.json()['id']}"))
    assert cancelled["status"] == "cancelled", cancelled
    assert ca.get(f"/analytics/jobs/{second.json()['id']}").json()["status"] == "cancelled"


def test_forwarded_headers_are_believed_from_nginx_only(stack: dict[str, Any]) -> None:
    import http.client

    ng, a = stack["nginx"], stack["a"]
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
              "Forwarded": "host=evil.example;proto=https"}  # fmt: skip

    def root_link(r: httpx.Response) -> str:
        return next(lk["href"] for lk in r.json()["links"] if lk["rel"] == "root")

    assert root_link(httpx.get(ng.url + "/collections")) == ng.url + "/"  # nginx's address
    assert root_link(httpx.get(ng.url + "/collections", headers=forged)) == ng.url + "/"
    assert root_link(httpx.get(a.url + "/collections", headers=forged)) == a.url + "/"
    # the same headers from nginx's own address are believed (so the check above can fail)
    conn = http.client.HTTPConnection("127.0.0.1", a.port, source_address=(PROXY_BIND, 0))
    conn.request("GET", "/collections", headers={"X-Forwarded-Host": "proxy.example"})
    assert root_link(httpx.Response(200, content=conn.getresponse().read())) == "http://proxy.example/"


def test_a_worker_killed_under_load_loses_no_get(stack: dict[str, Any]) -> None:
    ng, a, ca = stack["nginx"], stack["a"], stack["ca"]
    ca.post("/collections", json=COLL | {"id": "load"})
    paths = ["/collections", "/search?limit=5", "/collections/load", "/conformance"]
    before = a.worker_pids()
    assert len(before) == 2, before  # --workers 2: two uvicorn workers under one supervisor
    with Load(ng.url, paths, threads=4) as load:
        wait_until(lambda: load.count() > 20, 120, "load started")
        os.kill(before[0], signal.SIGKILL)
        n = load.count()
        wait_until(lambda: load.count() > n + 40, 120, "load went on")
    bad = [(p, s) for p, s in load.results if s != 200]
    assert not bad, bad[:10]
    # uvicorn's supervisor replaced the killed worker
    after = wait_until(lambda: (p := a.worker_pids()) and len(p) == 2 and before[0] not in p and p,
                       120, "a new worker")  # fmt: skip
    assert before[1] in after
    time.sleep(0.5)
    assert httpx.get(a.url + "/collections/load").status_code == 200
