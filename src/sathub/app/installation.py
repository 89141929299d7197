"""One installation: its catalog store, object store, access service, jobs and executor.

``Installation.open(settings)`` is the only place that constructs a backend. The embedded
default (SQLite catalog and state in the data directory, assets on local disk, an embedded Dask
cluster per job) is chosen by settings alone; a scale-out backend is another branch here, not a
change in the API, the CLI or the domain packages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from sathub.config import Settings
from sathub.errors import BackendUnavailable, InvalidInput

if TYPE_CHECKING:
    from sathub.access.service import AccessService
    from sathub.access.sessions import ConsoleSessions
    from sathub.budget.service import BudgetService
    from sathub.catalog.store import CatalogStore
    from sathub.jobs import JobRunner
    from sathub.orbits.store import OrbitStore
    from sathub.storage.base import ObjectStore
    from sathub.storage.signing import SigningKeyStore
    from sathub.tiles.searches import SearchStore


T = TypeVar("T")
log = logging.getLogger("sathub.app")
STATE_POOL_MIN = 3  # connections of the state pool, whatever SATHUB_PG_POOL_SIZE says (see state_pool)


class part(Generic[T]):  # noqa: N801 - used as a decorator, like cached_property
    """A part built on first use, once, even when two threads ask at the same time."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self.build = build
        self.name = build.__name__

    @overload
    def __get__(self, obj: None, owner: type) -> part[T]: ...
    @overload
    def __get__(self, obj: Any, owner: type) -> T: ...
    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self
        try:
            return obj.__dict__[self.name]
        except KeyError:
            pass
        with obj._lock:
            if self.name not in obj.__dict__:
                obj.__dict__[self.name] = self.build(obj)
            return obj.__dict__[self.name]


class NotADataDirectory(InvalidInput):
    """``--data`` names something that is not a sathub data directory."""


class Installation:
    """Everything one installation owns. Build it with :meth:`open` (or :meth:`create`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._creating = False

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, settings: Settings | None = None, *, create: bool = False) -> Installation:
        """The installation of ``settings.data``; :class:`NotADataDirectory` unless it exists
        (``create=True``: make it, as ``sathub init`` does)."""
        settings = settings or Settings()
        layout = settings.layout
        if create:
            check_creatable(layout.root)
            layout.create()
        elif not is_data_directory(layout.root, settings):
            raise NotADataDirectory(
                f"{layout.root} is not a sathub data directory (create one with "
                f"`sathub init {layout.root}`)", field="data")  # fmt: skip
        inst = cls(settings)
        inst._creating = create
        if create:
            inst.catalog  # noqa: B018 - creates the catalog database
            inst.access  # noqa: B018 - and the access database
        # a wrong scale-out setting stops the opening, named (SettingError); a backend that
        # cannot be reached yet does not: its part is built on first use, and until then every
        # request that needs it answers 503 naming it (sathub serve starts before its database)
        for needed, name in ((settings.pg_dsn, "catalog"), (settings.s3_bucket, "objects")):
            if needed:
                try:
                    getattr(inst, name)
                except BackendUnavailable as exc:
                    if create:
                        raise
                    log.warning("%s; serving 503 until it answers", exc.message)
        return inst

    @classmethod
    def create(cls, settings: Settings) -> Installation:
        return cls.open(settings, create=True)

    # ------------------------------------------------------------------- parts
    @part
    def catalog(self) -> CatalogStore:
        from sathub.catalog.sqlite import SQLiteStore

        s = self.settings
        if s.pg_dsn:
            return open_pgstac(s, create=self._creating)
        return SQLiteStore(s.layout.catalog_db, count_cap=s.count_cap,
                           cache_mb=s.sqlite_cache_mb, mmap_mb=s.sqlite_mmap_mb)  # fmt: skip

    @part
    def objects(self) -> ObjectStore:
        from sathub.storage.local import LocalStore

        s = self.settings
        if s.s3_bucket:
            from sathub.storage.s3 import S3Config, S3Store

            store = S3Store(S3Config(
                bucket=s.s3_bucket, prefix=s.s3_prefix, endpoint=s.s3_endpoint,
                region=s.s3_region, access_key_id=s.s3_access_key_id,
                secret_access_key=s.s3_secret_access_key, virtual_hosting=s.s3_virtual_hosting))  # fmt: skip
            store.check()  # a missing bucket or refused keys: SettingError naming the setting
            return store
        return LocalStore(s.layout.assets)

    @part
    def access(self) -> AccessService:
        from sathub.access.service import AccessService

        store = None
        if self.settings.pg_dsn:  # the access state beside the catalog (area pgaccess, issue 14)
            from sathub.access.pg_store import PgAccessStore

            store = PgAccessStore(self.state_pool)
        return AccessService.for_settings(self.settings, store=store)

    @part
    def state_pool(self) -> Any:
        """Connections to ``SATHUB_PG_DSN`` for the state stores (access, sessions, jobs, orbits,
        budget: tables in the schema ``sathub`` beside pgstac's), a psycopg_pool pool."""
        from sathub.access.pg_store import open_pool

        assert self.settings.pg_dsn
        # at least 3: a budget write holds one connection while its audit record takes a second
        # and a link's check may read on a third (budget/pg.py: one such writer per process)
        return open_pool(self.settings.pg_dsn, max_size=max(STATE_POOL_MIN, self.settings.pg_pool_size))

    @part
    def budget(self) -> BudgetService:
        from sathub.budget.service import BudgetService

        store = None
        if self.settings.pg_dsn:
            from sathub.budget.pg import PgBudgetStore

            store = PgBudgetStore(self.state_pool)
        return BudgetService.for_settings(self.settings, audit=self.access.audit, store=store,
                                          orbits=self.orbits)  # fmt: skip

    @part
    def orbits(self) -> OrbitStore:
        """Satellites, element sets and orders (``DATA/orbits/``, or PostgreSQL)."""
        if self.settings.pg_dsn:
            from sathub.orbits.pg_store import PgOrbitStore

            return PgOrbitStore(self.state_pool)
        from sathub.orbits.store import FileOrbitStore

        return FileOrbitStore(self.settings.layout.root)

    @part
    def sessions(self) -> ConsoleSessions:
        """Console sessions (``DATA/sessions.db``): API keys exchanged for browser sessions."""
        from sathub.access.sessions import ConsoleSessions, SessionStore
        from sathub.access.sessions_sqlite import SQLiteSessionStore

        s = self.settings
        store: SessionStore
        if s.pg_dsn:
            from sathub.access.sessions_pg import PgSessionStore

            store = PgSessionStore(self.state_pool)
        else:
            store = SQLiteSessionStore(s.layout.sessions_db)
        return ConsoleSessions(store, self.access,
                               idle_s=s.console_idle_minutes * 60,
                               max_s=s.console_session_hours * 3600)  # fmt: skip

    @part
    def signing_keys(self) -> SigningKeyStore:
        """Where the key of signed links is kept: ``DATA/secrets/signing.key``, or PostgreSQL
        (``sathub.signing_keys``), shared by every API machine."""
        if self.settings.pg_dsn:
            from sathub.storage.signing_pg import PgSigningKeys

            return PgSigningKeys(self.state_pool)
        from sathub.storage.signing import FileSigningKeys

        return FileSigningKeys(self.settings.layout.secrets)

    @part
    def signing_key(self) -> bytes:
        """The key of signed links, made on first use. With PostgreSQL, a key this data
        directory already had (``DATA/secrets/signing.key``) is adopted, not replaced: links
        signed before the move keep working."""
        from sathub.storage import signing

        earlier = signing.FileSigningKeys(self.settings.layout.secrets) if self.settings.pg_dsn else None
        return signing.load(self.signing_keys, earlier)

    @part
    def mosaic_searches(self) -> SearchStore:
        """Registered mosaic searches (``DATA/searches/``, or PostgreSQL), shared by the API's
        workers (and, in PostgreSQL, by every API machine)."""
        if self.settings.pg_dsn:
            from sathub.tiles.searches_pg import PgSearchStore

            return PgSearchStore(self.state_pool, self.settings.mosaic_searches_max)
        from sathub.tiles.searches import FileSearchStore

        return FileSearchStore(self.settings.layout.root / "searches", self.settings.mosaic_searches_max)

    @part
    def jobs(self) -> JobRunner:
        """Background jobs of every registered kind (ingest, analytics), records in the store."""
        import sathub.analytics.jobs  # noqa: F401 - registers the analytics job kinds
        import sathub.ingest.jobs  # noqa: F401 - registers the ingest job kind
        from sathub.jobs import FileJobStore, JobRunner, JobStore

        store: JobStore
        if self.settings.pg_dsn:
            from sathub.jobs.pg import PgJobStore

            store = PgJobStore(self.state_pool)
        else:
            store = FileJobStore(self.settings.layout.jobs)
        return JobRunner(store, self)

    def executor(self, scheduler: str | None = None, **options: Any) -> Any:
        """A Dask executor: ``scheduler`` or the configured one, else an embedded cluster."""
        from sathub.analytics.executor import Executor

        return Executor(scheduler or self.settings.dask_scheduler, **options)

    def close(self) -> None:
        budget = self.__dict__.pop("budget", None)
        if budget is not None:
            budget.store.close()
        sessions = self.__dict__.pop("sessions", None)
        if sessions is not None:
            sessions.store.close()
        jobs = self.__dict__.pop("jobs", None)
        if jobs is not None:
            jobs.store.close()
        orbits = self.__dict__.pop("orbits", None)
        if orbits is not None:
            orbits.close()
        for name in ("catalog", "access", "state_pool"):  # the pool last: the stores use it
            part = self.__dict__.pop(name, None)
            if part is not None:
                part.close()

    def __enter__(self) -> Installation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_data_directory(root: Path, settings: Settings | None = None) -> bool:
    """A data directory holds its catalog database (``sathub init`` makes it); with the
    catalog in PostgreSQL, its secrets directory."""
    if settings is not None and settings.pg_dsn:
        return (Path(root) / "secrets").is_dir()
    return (Path(root) / "catalog.db").is_file()


def open_pgstac(s: Settings, *, create: bool) -> CatalogStore:
    """The pgstac catalog of ``SATHUB_PG_DSN``: the login checked first (a refused one names
    the setting), pgstac's schema made by ``create`` (``sathub init``) or else required."""
    from sathub.catalog.pgstac import PgstacStore
    from sathub.catalog.pgstac import db as pg
    from sathub.errors import SettingError

    assert s.pg_dsn
    pg.check_login(s.pg_dsn, "SATHUB_PG_DSN")
    if s.pg_reader_dsn:
        pg.check_login(s.pg_reader_dsn, "SATHUB_PG_READER_DSN")
    if create:
        pg.migrate(s.pg_dsn)
    elif pg.installed_version(s.pg_dsn) is None:
        raise SettingError(
            f"SATHUB_PG_DSN: the database ({pg.describe(s.pg_dsn)}) has no pgstac schema; "
            "make it with `sathub init`", field="SATHUB_PG_DSN")  # fmt: skip
    else:
        pg.ensure_sathub(s.pg_dsn)
    return PgstacStore(s.pg_dsn, s.pg_reader_dsn, pool_size=s.pg_pool_size,
                       statement_timeout_ms=s.pg_statement_timeout_ms, count_cap=s.count_cap)  # fmt: skip


def check_creatable(root: Path) -> None:
    """A data directory can be made at ``root``: it is a directory or absent, and writable."""
    import os

    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADataDirectory(f"{root} exists and is not a directory", field="data")
    parent = root if root.exists() else next((p for p in root.parents if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise NotADataDirectory(f"{parent} is not writable: cannot create {root}", field="data")
