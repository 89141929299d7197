"""``sathub stack up`` (``make stack``): one command starts PostgreSQL, the S3 server, a Dask
cluster, two API servers and nginx; it prints the URLs and an admin key that work; Ctrl-C
stops every process it started."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stack_up_serves_and_ctrl_c_stops_everything() -> None:
    # not pytest's tmp_path: PostgreSQL's server user must reach the directory, and pytest
    # keeps its own temporary root private (as pg_support does)
    tmp_path = Path(tempfile.mkdtemp(prefix="sathub-stack-up-"))
    exe = str(Path(sys.executable).with_name("sathub"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATHUB_")}
    proc = subprocess.Popen([exe, "stack", "up", "--dir", str(tmp_path / "stack")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    urls: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.time() + 400
        for line in proc.stdout:
            name, _, value = line.rstrip("\n").rpartition("  ")
            urls[name.strip()] = value.strip()
            if line.startswith("logs") or time.time() > deadline:
                break
        assert "admin key" in urls, (urls, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        started = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        # PostgreSQL daemonises (pg_ctl): its postmaster is found by its data directory
        pg_pid = int((tmp_path / "stack" / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        api = urls["api (nginx)"]
        auth = {"Authorization": f"Bearer {urls['admin key']}"}
        r = httpx.get(api + "collections", headers=auth, timeout=60)
        assert r.status_code == 200 and r.json()["links"][0]["href"].startswith(api)
        assert httpx.get(api + "conformance", timeout=60).status_code == 200
        assert urls["dask scheduler"].startswith("tcp://127.0.0.1:")
        assert len([k for k in urls if k.startswith("api server")]) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(120)
    assert rc == 0
    shutil.rmtree(tmp_path, ignore_errors=True)
    left = [p for p in started | {pg_pid} if _alive(p)]
    assert not left, [(p, psutil.Process(p).cmdline()[:4]) for p in left]
