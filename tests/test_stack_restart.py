"""The stack as bench/bench_workers.py starts it (``sathub.stack.up.Stack``): PostgreSQL for the
catalog but no S3 server (``local_assets``) and no Dask cluster (``dask_workers=0``), and its API
servers restarted with another number of workers (``restart_apis``) on the same installation:
what was written before the restart is served after it, through the new nginx, by the new
number of worker processes, and nothing of the old servers is left running."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil
from conftest import issue_key
from pg_support import new_database

from sathub.app import Installation
from sathub.stack.up import Stack
from sathub.storage.local import LocalStore

COLL = {"type": "Collection", "id": "restart", "stac_version": "1.0.0", "description": "d",
        "license": "CC-BY-4.0", "links": [],
        "extent": {"spatial": {"bbox": [[0, 0, 10, 10]]},
                   "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}}}  # fmt: skip


def _pids(st: Stack) -> set[int]:
    assert st.nginx is not None and st.nginx.proc is not None
    out = {st.nginx.proc.pid}
    for api in st.apis:
        out |= {api.proc.pid, *(p.pid for p in psutil.Process(api.proc.pid).children(recursive=True))}
    return out


def _running(pids: set[int]) -> set[int]:
    out = set()
    for p in pids:
        try:
            if psutil.Process(p).status() != psutil.STATUS_ZOMBIE:
                out.add(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_local_assets_no_dask_and_restarted_api_servers(tmp_path: Path) -> None:
    st = Stack(tmp_path / "stack", api_servers=1, workers_per_server=1, dask_workers=0,
               local_assets=True, pg_dsn=new_database())  # fmt: skip
    with st:
        assert st.dask is None and st.s3_server is None
        assert not any(k.startswith("SATHUB_S3_") for k in st.env())
        assert "SATHUB_DASK_SCHEDULER" not in st.env()
        with Installation.open(st.settings()) as inst:
            assert isinstance(inst.objects, LocalStore)
            key = issue_key(inst, "operator")
        auth = {"Authorization": f"Bearer {key}"}
        assert st.nginx is not None
        assert len(st.apis) == 1 and len(st.apis[0].worker_pids()) == 1
        r = httpx.post(st.nginx.url + "/collections", json=COLL, headers=auth, timeout=120)
        assert r.status_code in (200, 201), r.text
        old = _pids(st)

        st.restart_apis(2)
        assert len(st.apis) == 1
        # the server answers once one worker is up; uvicorn's supervisor starts the second
        deadline = time.time() + 120
        while len(st.apis[0].worker_pids()) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(st.apis[0].worker_pids()) == 2
        assert not _running(old)
        for _ in range(4):  # both workers (nginx balances the keep-alive-less requests)
            got = httpx.get(st.nginx.url + "/collections/restart", headers=auth, timeout=120)
            assert got.status_code == 200 and got.json()["description"] == "d"
        new = _pids(st)
    assert not _running(new)
