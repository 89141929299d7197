"""nginx (Debian's package) in front of the API workers, as a foreground process with its
configuration, logs and temporary files in one directory (tests, ``sathub stack up``).

The configuration is what docs/deploy.md shows for production: one ``upstream`` with every
API worker; a GET or HEAD whose worker fails (connection refused or reset, a worker killed
mid-request) is retried on the next one (``proxy_next_upstream``; nginx never retries a POST,
PUT or DELETE, whose effect might already have happened); ``X-Forwarded-For/-Proto/-Host``
set from the connection (what a client sent under those names is replaced) and ``Forwarded``
removed. nginx connects to the workers from ``bind`` (an address of its own), which the
workers' ``SATHUB_TRUSTED_PROXIES`` names: the forwarding headers are believed from nginx and
from no one else.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from sathub.stack.postgres import HOST, free_port
from sathub.stack.s3server import _die_with_parent

#: the address nginx connects to the API workers from (loopback: any 127.x.y.z is local)
PROXY_BIND = "127.0.0.2"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
    return found


def render_config(root: Path, port: int, upstreams: Sequence[str], *, bind: str = PROXY_BIND,
                  listen: str = HOST) -> str:  # fmt: skip
    """nginx.conf for a proxy on ``listen:port`` in front of ``upstreams`` (host:port each)."""
    servers = "\n".join(f"    server {u} max_fails=1 fail_timeout=5s;" for u in upstreams)
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers reach root's temp dirs
    tmp = root / "tmp"
    return f"""{user}worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {root}/access.log;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  client_max_body_size 64m;
  upstream sathub {{
{servers}
    keepalive 32;
  }}
  server {{
    listen {listen}:{port};
    location / {{
      proxy_pass http://sathub;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_bind {bind};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Forwarded-Prefix "";
      proxy_set_header Forwarded "";
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 5s;
      proxy_read_timeout 300s;
      proxy_buffering off;
      proxy_request_buffering on;
    }}
  }}
}}
"""


class Nginx:
    """nginx on ``127.0.0.1:port`` in front of ``upstreams``; files under ``root``."""

    def __init__(self, root: Path, upstreams: Sequence[str], port: int | None = None) -> None:
        self.root = Path(root)
        self.upstreams = list(upstreams)
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        conf.write_text(render_config(self.root, self.port, self.upstreams))
        main = threading.current_thread() is threading.main_thread()
        with open(self.root / "nginx.out", "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [nginx_binary(), "-p", str(self.root), "-c", str(conf), "-e",
                 str(self.root / "error.log"), "-g", "daemon off;"],
                stdout=log, stderr=log, start_new_session=True,
                preexec_fn=_die_with_parent if main else None)  # fmt: skip
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}: "
                                   f"{(self.root / 'error.log').read_text()[-2000:]}")  # fmt: skip
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not start in 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
