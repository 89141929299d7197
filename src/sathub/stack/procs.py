"""Foreground service processes of the stack: a Dask scheduler with its workers, and
``sathub serve`` processes. Each runs in its own session (killed with its process group) and
dies with the process that started it (Linux PR_SET_PDEATHSIG), so nothing outlives a test."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from sathub.stack.postgres import HOST, free_port
from sathub.stack.s3server import _die_with_parent


def _exe(name: str) -> str:
    beside = Path(sys.executable).with_name(name)  # this environment's first
    return str(beside) if beside.exists() else name


class Proc:
    """One foreground process with its output in ``log``."""

    def __init__(self, argv: list[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.argv = argv
        self.log = Path(log)
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        main = threading.current_thread() is threading.main_thread()
        with open(self.log, "ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=out, env=self.env,
                                         start_new_session=True,
                                         preexec_fn=_die_with_parent if main else None)  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_port(self, port: int, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.argv[0]} exited: {self.log.read_text()[-3000:]}")
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{' '.join(self.argv[:3])} did not listen on {port} in {timeout:.0f} s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the process group; return once every process of it has exited (uvicorn's
        workers may outlive their supervisor by a moment), SIGKILL after 15 s."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            for last in (signal.SIGKILL, None):
                deadline = time.time() + 15
                while _group_alive(self.proc.pid) and time.time() < deadline:
                    time.sleep(0.05)
                if last is None or not _group_alive(self.proc.pid):
                    break
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.killpg(self.proc.pid, last)


class DaskCluster:
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes on TCP localhost."""

    def __init__(self, root: Path, n_workers: int = 2, *, threads: int = 1,
                 memory_limit: str = "1GiB") -> None:  # fmt: skip
        self.root = Path(root)
        self.port = free_port()
        self.address = f"tcp://{HOST}:{self.port}"
        self.scheduler = Proc([_exe("dask"), "scheduler", "--host", HOST, "--port", str(self.port),
                               "--no-dashboard"], self.root / "scheduler.log")  # fmt: skip
        self.workers = [
            Proc([_exe("dask"), "worker", self.address, "--host", HOST, "--nworkers", "1",
                  "--nthreads", str(threads), "--memory-limit", memory_limit, "--no-dashboard",
                  "--local-directory", str(self.root / f"worker-{i}"), "--name", f"worker-{i}"],
                 self.root / f"worker-{i}.log")  # fmt: skip
            for i in range(n_workers)
        ]

    def start(self, timeout: float = 300) -> DaskCluster:
        self.scheduler.start().wait_port(self.port, timeout)
        for w in self.workers:
            w.start()
        from distributed import Client

        with Client(self.address, timeout=f"{timeout:.0f}s") as client:
            client.wait_for_workers(len(self.workers), timeout=timeout)
        return self

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.scheduler.stop()

    def __enter__(self) -> DaskCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ApiServer:
    """``sathub serve`` on ``127.0.0.1:port`` with ``env`` (its settings) and ``workers``."""

    def __init__(self, root: Path, env: Mapping[str, str], *, workers: int = 1,
                 port: int | None = None, name: str = "api") -> None:  # fmt: skip
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.address = f"{HOST}:{self.port}"
        self.proc = Proc([_exe("sathub"), "serve", "--host", HOST, "--port", str(self.port),
                          "--workers", str(workers)], Path(root) / f"{name}.log", env)  # fmt: skip

    def start(self, timeout: float = 300) -> ApiServer:
        self.proc.start()
        return self.start_wait(timeout)

    def start_wait(self, timeout: float = 300) -> ApiServer:
        """Wait until the started server answers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.proc.alive():
                raise RuntimeError(f"sathub serve exited: {self.proc.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url + "/_mgmt/ping", timeout=2).close()
                return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"sathub serve did not answer in {timeout:.0f} s: "
                           f"{self.proc.log.read_text()[-2000:]}")  # fmt: skip

    def worker_pids(self) -> list[int]:
        """The processes serving requests (the children of uvicorn's supervisor, or itself)."""
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = [int(p) for p in kids.read_text().split()] if kids.exists() else []
        return [p for p in pids if _is_worker(p)] or [self.proc.pid]

    def stop(self) -> None:
        self.proc.stop()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies aside)."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
    return False


def _is_worker(pid: int) -> bool:
    """A uvicorn worker (spawned by multiprocessing), not its resource tracker."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing.spawn" in cmd or b"multiprocessing.forkserver" in cmd
