"""A throwaway PostgreSQL cluster in a directory: ``initdb``, a free port on 127.0.0.1, trust
authentication for local connections only, ``pg_ctl`` to start and stop it. PostgreSQL refuses
to run as root, so as root the server runs as the ``postgres`` user (Debian's package makes it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Path:
    """The newest PostgreSQL server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists():
            return d
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("no PostgreSQL server found (Debian: apt-get install postgresql)")


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PgCluster:
    """A PostgreSQL cluster under ``root`` (created on :meth:`start`, kept on :meth:`stop`)."""

    def __init__(self, root: Path, port: int | None = None, *, shared_buffers: str = "128MB") -> None:
        self.root = Path(root)
        self.port = port or free_port()
        self.shared_buffers = shared_buffers
        self.datadir = self.root / "data"
        self.bindir = pg_bindir()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{dbname}"

    def _run(self, cmd: list[str]) -> None:
        subprocess.run(_as_server_user(cmd), check=True, capture_output=True, timeout=300)

    def start(self) -> PgCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            for parent in self.root.parents:  # the server user must reach its directory
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        if not (self.datadir / "PG_VERSION").exists():
            self._run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                       "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])  # fmt: skip
            with open(self.datadir / "postgresql.conf", "a") as f:
                f.write(
                    f"\nlisten_addresses = '{HOST}'\nunix_socket_directories = '{self.root}'\n"
                    f"shared_buffers = '{self.shared_buffers}'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n"
                )
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l",
                   str(self.root / "postgres.log"), "-o", f"-p {self.port}", "-w", "-t", "60",
                   "start"])  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w",
                       "stop"])  # fmt: skip

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
