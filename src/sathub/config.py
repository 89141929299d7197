"""Settings (``SATHUB_`` environment variables) and the data-directory layout."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """One installation's settings. Every field can be set as ``SATHUB_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SATHUB_", extra="ignore")

    data: Path = Field(default=Path("sathub-data"), description="The data directory.")
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8080, description="Port the API listens on.")
    root_path: str = Field(default="", description="Path prefix when served behind a proxy.")
    max_limit: int = Field(default=10_000, description="Largest `limit` a search accepts.")
    default_limit: int = Field(default=10, description="`limit` of a search that gives none.")
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, description="Largest request body accepted (bytes)."
    )
    count_cap: int = Field(
        default=10_000,
        description="numberMatched is exact up to this many items, then an estimate.",
    )
    title: str = Field(default="sathub", description="Title of the landing page.")
    sqlite_cache_mb: int = Field(
        default=16, ge=1, description="SQLite page cache per connection (MB) of the catalog."
    )
    sqlite_mmap_mb: int = Field(
        default=0, ge=0,
        description="SQLite memory-mapped I/O of the catalog file (MB; 0: plain reads).",
    )
    # --- audit (area: audit; docs/security.md "Audit") ---------------------------------
    audit_key: SecretStr | None = Field(
        default=None,
        description="The audit key itself (≥ 64 hex characters), e.g. from a secret store.",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="File holding the audit key (hex), kept outside the data directory "
        "(default: DATA/secrets/audit.key, created on first use).",
    )
    audit_anchor: str = Field(
        default="",
        description="Where the chain's head is anchored outside the data directory: "
        "comma-separated absolute file paths (appended with O_APPEND) and/or syslog targets "
        "(`syslog:`, `syslog:/dev/log`, `syslog:HOST:PORT`).",
    )
    audit_anchor_every: int = Field(
        default=1, ge=1, le=1_000_000,
        description="Anchor the head every N records (1: every record).",
    )

    # application layer and access (core)
    dask_scheduler: str | None = Field(
        default=None,
        description="Address of a Dask scheduler (tcp://host:8786) for analytics; none: an "
        "embedded cluster per job.",
    )
    dev_open_writes: bool = Field(
        default=False,
        description="DEVELOPMENT ONLY: callers without a key may write (as an operator). "
        "The server prints a warning at start-up.",
    )
    mosaic_search_max_bytes: int = Field(
        default=16_384, ge=256, le=1_048_576,
        description="Largest search body `POST /mosaic/register` keeps (bytes of its JSON).",
    )
    mosaic_searches_max: int = Field(
        default=2000, ge=10, le=1_000_000,
        description="Registered mosaic searches kept (the least recently used go first).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-* and "
        "Forwarded headers are believed (empty: none; '*': any, only behind a proxy you run).",
    )

    # --- budget (issue 15; see docs/budget.md)
    budget_currency: str = Field(default="USD", description="Reporting currency of budget reports (ISO 4217).")
    budget_approval_threshold: str = Field(
        default="50000",
        description="Commitments above this amount (reporting currency) need a second person's approval.",
    )
    budget_rate_max_age_days: int = Field(
        default=31, ge=0, le=366,
        description="Oldest exchange rate (days before the value date) a conversion may use.",
    )
    budget_fy_start_month: int = Field(
        default=1, ge=1, le=12, description="Month a new fiscal year starts in (1 = January)."
    )
    budget_org_ref: str = Field(
        default="XM-DAC-SATHUB", description="IATI organisation identifier of the reporting agency."
    )
    budget_org_name: str = Field(
        default="National space agency", description="Name of the reporting agency (IATI exports)."
    )

    # --- console (area: console; docs/console.md)
    console_idle_minutes: float = Field(
        default=30, gt=0, le=1440,
        description="A console session ends after this many minutes without a request.",
    )
    console_session_hours: float = Field(
        default=12, gt=0, le=168,
        description="A console session ends this many hours after sign-in, whatever the activity.",
    )
    console_secure_cookie: bool = Field(
        default=False,
        description="Always mark the console's session cookie Secure (it is whenever the request "
        "came over HTTPS).",
    )
    console_locale: str = Field(
        default="en", pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$",
        description="Language of the console when the browser asks for none it has.",
    )
    ground_stations: str = Field(
        default="", max_length=10_000,
        description="Ground stations of the console's pass timeline: "
        "`CODE:Name:LAT,LON[,ALT_M]` separated by `;`.",
    )

    # scale-out (issue 14): PostgreSQL + pgstac. With pg_dsn set, the catalog lives in that
    # database (pgstac's schema, made by `sathub init`); the data directory keeps the rest.
    pg_dsn: str | None = Field(
        default=None,
        description="PostgreSQL DSN (postgresql://user:pass@host:5432/db) of the pgstac "
        "catalog; writes go there. Empty: the embedded SQLite catalog.",
    )
    pg_reader_dsn: str | None = Field(
        default=None,
        description="DSN for reads (a replica); empty: reads use SATHUB_PG_DSN.",
    )
    pg_pool_size: int = Field(
        default=10, ge=1, le=200,
        description="Largest number of PostgreSQL connections per pool and API worker.",
    )
    # faults (issue 14, area pgbench): a query of the catalog that runs longer is cancelled (504)
    pg_statement_timeout_ms: int = Field(
        default=30_000, ge=0,
        description="PostgreSQL statement_timeout of the catalog's queries (ms; 0: none).",
    )

    # scale-out (issue 14): assets on an S3-compatible store when s3_bucket is set
    s3_bucket: str | None = Field(
        default=None, description="Bucket of the assets (S3, MinIO, Ceph RGW); empty: DATA/assets."
    )
    s3_prefix: str = Field(default="", description="Key prefix of the assets inside the bucket.")
    s3_endpoint: str | None = Field(
        default=None,
        description="Endpoint URL of an S3-compatible server (http://host:9000); empty: AWS.",
    )
    s3_region: str = Field(default="us-east-1", description="Region of the bucket.")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key id.")
    s3_secret_access_key: str | None = Field(default=None, description="S3 secret access key.")
    s3_virtual_hosting: bool = Field(
        default=False,
        description="Virtual-hosted-style addressing (bucket.host); false: path style "
        "(MinIO, Ceph RGW, moto).",
    )

    # bounds: input limits, checked before any parser or C library sees the input
    # (docs/security.md, "Input limits")
    # CQL2 filters (area cql2): bounded in catalog/cql2input.py before any parser sees them
    cql2_max_chars: int = Field(
        default=100_000, ge=1, description="Longest CQL2 filter accepted (characters)."
    )
    cql2_max_depth: int = Field(
        default=20, ge=1, le=100,
        description="Deepest nesting of a CQL2 filter (JSON objects and arrays; in text, "
        "parentheses plus chained NOT and arithmetic).",
    )
    cql2_max_nodes: int = Field(
        default=5_000, ge=1,
        description="Most nodes in a CQL2 filter (JSON objects, strings and numbers; words, "
        "strings, numbers and comparisons of a text filter; coordinates are not counted).",
    )
    max_json_depth: int = Field(
        default=128, ge=2, le=1000,
        description="Deepest nesting of arrays and objects in a JSON request body.",
    )
    max_geometry_vertices: int = Field(
        default=100_000, ge=4,
        description="Most positions (and GeometryCollection members) in one GeoJSON geometry.",
    )
    max_image_px: int = Field(
        default=4096, ge=1024,  # 1024: the routes' default max_size
        description="Largest width, height or max_size of a rendered image.",
    )
    max_tile_px: int = Field(default=1024, ge=256, description="Largest tilesize of a map tile.")
    max_render_values: int = Field(
        default=4096 * 4096 * 3, ge=256 * 256,
        description="Most values (pixels × output bands) one image or statistics request reads.",
    )
    max_expression_length: int = Field(
        default=1000, ge=10, description="Longest band-math expression (characters)."
    )
    max_expression_outputs: int = Field(
        default=16, ge=1, description="Most outputs (';'-separated) of one band-math expression."
    )
    max_expression_nodes: int = Field(
        default=256, ge=8,
        description="Most terms (bands, numbers, operators, function calls) in one expression.",
    )

    # tutorials: the learning path (docs/tutorials.md)
    tutorials: Path | None = Field(
        default=None, description="Folder of the tutorial sources (default: tutorials/ of the repository)."
    )
    sample_data: Path | None = Field(
        default=None,
        description="Folder of real public sample files the tutorials read (default: shared/data "
        "beside the repository).",
    )
    learn_dir: Path | None = Field(
        default=None, description="Rendered tutorials served at /learn (default: DATA/learn)."
    )

    @cached_property
    def layout(self) -> DataLayout:
        return DataLayout(self.data)


def load_settings(**values: Any) -> Settings:
    """Settings from the environment and ``values``; a value that cannot be used raises
    InvalidInput naming its variable (for the CLIs: exit 2, not a traceback)."""
    from pydantic import ValidationError

    from sathub.errors import InvalidInput

    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        raise InvalidInput(f"SATHUB_{name.upper()}: {first['msg']}", field=name) from None


class DataLayout:
    """Where each part of an installation lives inside its data directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def catalog_db(self) -> Path:
        return self.root / "catalog.db"

    @property
    def assets(self) -> Path:
        return self.root / "assets"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def budget_db(self) -> Path:
        return self.root / "budget.db"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def sessions_db(self) -> Path:
        return self.root / "sessions.db"

    def create(self) -> None:
        """Create the directory tree (idempotent)."""
        for d in (self.root, self.assets, self.staging, self.secrets, self.jobs):
            d.mkdir(parents=True, exist_ok=True)
        self.secrets.chmod(0o700)
