"""The whole scale-out stack on one machine (``sathub stack up``, ``make stack``, the
end-to-end test): PostgreSQL with pgstac in a directory, the S3 server, a Dask scheduler with
its workers, API servers sharing one installation, nginx in front of them. Production runs
the same pieces on their own machines with the same settings (docs/deploy.md).

Every API server gets the same ``SATHUB_*`` settings (:meth:`Stack.env`): the catalog in
PostgreSQL, the assets in the bucket, analytics on the Dask scheduler, nginx's address as the
only trusted proxy; the other state in the shared data directory (or PostgreSQL, when the
installation is configured so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sathub.stack.nginx import PROXY_BIND, Nginx
from sathub.stack.procs import ApiServer, DaskCluster

BUCKET = "sathub"


class Stack:
    """The stack under ``root``. ``pg_dsn`` / ``s3``: use that database (pgstac migrated) and
    bucket settings instead of starting PostgreSQL and the S3 server (the tests share theirs).
    ``local_assets``: no S3 server, the assets stay in the data directory; ``dask_workers=0``:
    no Dask cluster (bench/bench_workers.py measures the API processes without them)."""

    def __init__(self, root: Path, *, api_servers: int = 2, workers_per_server: int = 1,
                 dask_workers: int = 2, pg_dsn: str | None = None,
                 s3: dict[str, Any] | None = None, local_assets: bool = False,
                 extra: dict[str, str] | None = None) -> None:  # fmt: skip
        self.root = Path(root)
        self.data = self.root / "data"
        self.n_api = api_servers
        self.workers_per_server = workers_per_server
        self.n_dask = dask_workers
        self.pg_dsn = pg_dsn
        self.s3 = {} if local_assets else s3
        self.extra = extra or {}
        self.pg: Any = None
        self.s3_server: Any = None
        self.dask: DaskCluster | None = None
        self.apis: list[ApiServer] = []
        self.nginx: Nginx | None = None

    # ------------------------------------------------------------------ settings
    def settings_values(self) -> dict[str, Any]:
        """The settings every process of the stack shares (as Settings field values)."""
        assert self.pg_dsn and self.s3 is not None, "start() first"
        values: dict[str, Any] = {"data": self.data, "pg_dsn": self.pg_dsn,
                                  "trusted_proxies": PROXY_BIND, **self.s3}  # fmt: skip
        if self.dask is not None:
            values["dask_scheduler"] = self.dask.address
        return values

    def env(self) -> dict[str, str]:
        """The same as ``SATHUB_*`` environment variables."""
        out = {f"SATHUB_{k.upper()}": str(v) for k, v in self.settings_values().items()}
        return {**out, **self.extra}

    def settings(self) -> Any:
        from sathub.config import load_settings

        return load_settings(**{k: v for k, v in self.settings_values().items()})

    # ------------------------------------------------------------------ start / stop
    def start(self, say: Any = None) -> Stack:
        say = say or (lambda msg: None)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._start(say)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, say: Any) -> None:
        from sathub.app import Installation

        if self.pg_dsn is None:
            import psycopg

            from sathub.catalog.pgstac.db import migrate
            from sathub.stack.postgres import PgCluster

            say("starting PostgreSQL (pgstac)")
            self.pg = PgCluster(self.root / "pg").start()
            with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE sathub")
            self.pg_dsn = self.pg.dsn("sathub")
            migrate(self.pg_dsn)
        if self.s3 is None:
            from sathub.stack.s3server import ACCESS_KEY, SECRET_KEY, S3Server

            say("starting the S3 server (moto)")
            self.s3_server = S3Server(log=self.root / "s3.log").start()
            self.s3_server.create_bucket(BUCKET)
            self.s3 = {"s3_bucket": BUCKET, "s3_prefix": "archive",
                       "s3_endpoint": self.s3_server.endpoint, "s3_access_key_id": ACCESS_KEY,
                       "s3_secret_access_key": SECRET_KEY}  # fmt: skip
        if self.n_dask:
            say(f"starting a Dask scheduler and {self.n_dask} workers")
            self.dask = DaskCluster(self.root / "dask", self.n_dask).start()
        Installation.open(self.settings(), create=True).close()  # the data directory, once
        self._start_apis(say)

    def _start_apis(self, say: Any) -> None:
        say(f"starting {self.n_api} API servers")
        self.apis = [ApiServer(self.root, self.env(), workers=self.workers_per_server,
                               name=f"api-{i}") for i in range(self.n_api)]  # fmt: skip
        for api in self.apis:
            api.proc.start()
        for api in self.apis:
            api.start_wait()
        say("starting nginx")
        self.nginx = Nginx(self.root / "nginx", [a.address for a in self.apis]).start()

    def restart_apis(self, workers_per_server: int) -> None:
        """Stop nginx and the API servers, start them again with ``workers_per_server``."""
        self._stop_apis()
        self.workers_per_server = workers_per_server
        self._start_apis(lambda msg: None)

    def _stop_apis(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None
        for api in self.apis:
            api.stop()
        self.apis = []

    def urls(self) -> dict[str, str]:
        assert self.nginx is not None
        out = {"api (nginx)": self.nginx.url + "/"}
        out.update({f"api server {i}": a.url + "/" for i, a in enumerate(self.apis)})
        out["dask scheduler"] = self.dask.address if self.dask is not None else "(none)"
        out["postgresql"] = str(self.pg_dsn)
        out["s3 endpoint"] = f"{self.s3['s3_endpoint']} (bucket {self.s3['s3_bucket']})" if self.s3 else ""
        out["data directory"] = str(self.data)
        return out

    def stop(self) -> None:
        self._stop_apis()
        if self.dask is not None:
            self.dask.stop()
        if self.s3_server is not None:
            self.s3_server.stop()
        if self.pg is not None:
            self.pg.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
