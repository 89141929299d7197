"""A local S3-compatible server for tests and ``make stack``: moto's standalone server (PyPI
``moto[server]``), on 127.0.0.1 and a free port, as its own process. Its objects live in its
memory: a development stand-in for MinIO, Ceph RGW or AWS (docs/deploy.md)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from sathub.stack.postgres import HOST, free_port

ACCESS_KEY = "sathub-test"
SECRET_KEY = "sathub-test-secret"


class S3Server:
    def __init__(self, port: int | None = None, log: Path | None = None,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.port = port or free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self.log = log
        self.env = env or {}  # e.g. INITIAL_NO_AUTH_ACTION_COUNT=0: moto checks credentials
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> S3Server:
        beside = Path(sys.executable).with_name("moto_server")  # this environment's first
        exe = str(beside) if beside.exists() else shutil.which("moto_server") or "moto_server"
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true", **self.env}
        main = threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen([exe, "-H", HOST, "-p", str(self.port)], stdout=out,
                                     stderr=out, env=env, start_new_session=True,
                                     preexec_fn=_die_with_parent if main else None)  # fmt: skip
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("moto_server did not start in 60 s")

    def create_bucket(self, name: str) -> None:
        """A new bucket (moto's server takes an unsigned path-style ``PUT /bucket``)."""
        req = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        urllib.request.urlopen(req, timeout=120).close()  # a loaded machine: moto is Python

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started the server dies, even
    by SIGKILL (Linux PR_SET_PDEATHSIG), so no test run leaves a server behind."""
    import ctypes

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
