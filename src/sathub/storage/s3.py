"""The S3-compatible object store (AWS S3, MinIO, Ceph RGW, moto's server): keys under one
bucket and prefix, through obstore (Rust's ``object_store`` crate; docs/dependencies.md).

- ``put`` uploads the whole object in one request, or as a multipart upload that S3 makes
  visible only when it completes: readers see the previous object or the new one, never a
  part. A stream that is not seekable is spooled first (memory, then a temporary file), so a
  source that breaks fails before anything is sent; a failed upload leaves the previous object.
  Incomplete multipart parts are invisible; a bucket lifecycle rule removes them
  (docs/deploy.md).
- ``open_range`` streams ``GetObject`` with ``Range`` (downloads pass through the API, so every
  byte is counted and audited; no presigned redirect).
- ``gdal_path`` is ``/vsis3/bucket/prefix/key``; GDAL's options for this store
  (``AWS_S3_ENDPOINT``, ``AWS_HTTPS``, ``AWS_VIRTUAL_HOSTING``, credentials, region) are set as
  process-wide GDAL configuration when the store is made (never in ``os.environ``, so child
  processes do not inherit the credentials); Dask workers unpickle the store and set them too.
  One S3 endpoint and set of credentials per process.
- Errors: a missing object and every key the rule refuses (or longer than S3's 1024 bytes) are
  NotFound; an endpoint that cannot be reached or fails is
  :class:`~sathub.errors.BackendUnavailable` (503 naming S3); a missing bucket or refused
  credentials when the installation opens are a :class:`~sathub.errors.SettingError` naming
  the setting.
"""

from __future__ import annotations

import re

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from sathub.errors import BackendUnavailable, NotFound, SettingError
from sathub.storage.base import ObjectInfo
from sathub.storage.keys import check_prefix, key_parts
from sathub.storage.local import media_type_for

_REFUSED = re.compile(r"(?<![\d.])40[13](?![\d.])")

MAX_S3_KEY = 1024  # bytes (UTF-8) of a whole S3 key, prefix included
SPOOL_IN_MEMORY = 16 * 1024 * 1024  # a non-seekable stream is kept in memory up to this


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str = ""
    endpoint: str | None = None  # http(s)://host:port; None: AWS
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    virtual_hosting: bool = False

    def gdal_options(self) -> dict[str, str]:
        """GDAL's configuration for ``/vsis3/`` on this store."""
        opts = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
                "AWS_VIRTUAL_HOSTING": "TRUE" if self.virtual_hosting else "FALSE",
                "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}  # fmt: skip
        if self.endpoint:
            parts = urlsplit(self.endpoint)
            opts["AWS_S3_ENDPOINT"] = parts.netloc + parts.path.rstrip("/")
            opts["AWS_HTTPS"] = "YES" if parts.scheme == "https" else "NO"
        if self.access_key_id and self.secret_access_key:
            opts["AWS_ACCESS_KEY_ID"] = self.access_key_id
            opts["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        return opts

    def obstore_config(self) -> Any:  # obstore's S3Config (a TypedDict)
        cfg: dict[str, Any] = {"region": self.region,
                               "virtual_hosted_style_request": self.virtual_hosting}  # fmt: skip
        if self.endpoint:
            cfg["endpoint"] = self.endpoint
        if self.access_key_id and self.secret_access_key:
            cfg["access_key_id"] = self.access_key_id
            cfg["secret_access_key"] = self.secret_access_key
        return cfg


class S3Store:
    """An :class:`~sathub.storage.base.ObjectStore` on an S3-compatible bucket."""

    def __init__(self, config: S3Config) -> None:
        from obstore.store import S3Store as ObStore
        from rasterio.env import set_gdal_config

        self.config = config
        parts = check_prefix(config.prefix) if config.prefix.strip("/") else ()
        self._prefix = "/".join(parts)
        # obstore also reads AWS_* from the environment (the usual chain when no keys are set);
        # what the settings give wins
        self._store = ObStore(
            config.bucket, prefix=self._prefix or None, config=config.obstore_config(),
            client_options={"allow_http": bool(config.endpoint and config.endpoint.startswith("http:")),
                            "connect_timeout": "5s", "timeout": "60s"},
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=10),
                          "backoff": {"init_backoff": timedelta(milliseconds=100),
                                      "max_backoff": timedelta(seconds=2), "base": 2}},
        )  # fmt: skip
        for name, value in config.gdal_options().items():
            set_gdal_config(name, value)

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"S3Store(s3://{self.config.bucket}/{self._prefix})"

    def _path(self, key: str) -> str:
        """The key's path inside the store's prefix (NotFound when the rule refuses it)."""
        path = "/".join(key_parts(key))
        full = f"{self._prefix}/{path}" if self._prefix else path
        if len(full.encode()) > MAX_S3_KEY:
            raise NotFound("asset not found")
        return path

    def _full(self, path: str) -> str:
        return f"{self._prefix}/{path}" if self._prefix else path

    def check(self) -> None:
        """The bucket answers with these credentials (when the installation opens):
        SettingError naming the setting that is wrong; BackendUnavailable when the endpoint
        cannot be reached."""
        import obstore
        from obstore.exceptions import BaseError

        try:
            next(iter(obstore.list(self._store, chunk_size=1)), None)
        except BaseError as exc:
            text = str(exc)
            if "NoSuchBucket" in text:
                raise SettingError(f"SATHUB_S3_BUCKET: bucket {self.config.bucket!r} does not exist",
                                   field="SATHUB_S3_BUCKET") from exc  # fmt: skip
            if "error sending request" in text or "ConnectError" in text:
                raise _unavailable(exc) from exc  # never reached: not a credentials question
            # a status 401/403, not the digits of an elapsed time ("… in 401.57ms" was read as
            # refused credentials when the endpoint was down)
            if _REFUSED.search(text) or any(s in text for s in (
                    "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")):  # fmt: skip
                raise SettingError(
                    "SATHUB_S3_ACCESS_KEY_ID / SATHUB_S3_SECRET_ACCESS_KEY: the S3 endpoint "
                    f"refused them for bucket {self.config.bucket!r}",
                    field="SATHUB_S3_ACCESS_KEY_ID") from exc  # fmt: skip
            raise _unavailable(exc) from exc

    # -------------------------------------------------------------------- writes
    def put(self, key: str, source: Path | BinaryIO, *, media_type: str | None = None) -> ObjectInfo:
        import obstore

        path = self._path(key)
        attributes = {"Content-Type": media_type_for(path, media_type)}
        if isinstance(source, Path):
            with open(source, "rb") as fh, _errors():
                obstore.put(self._store, path, fh, attributes=attributes)
            source.unlink(missing_ok=True)  # the staged file is the store's now
        elif _seekable(source):
            with _errors():
                obstore.put(self._store, path, source, attributes=attributes)
        else:
            with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as spool:
                shutil.copyfileobj(source, spool, 1 << 20)  # a broken source fails here
                spool.seek(0)
                with _errors():
                    obstore.put(self._store, path, spool, attributes=attributes)
        return self.stat(key, media_type)

    def delete(self, key: str) -> None:
        import obstore

        path = self._path(key)
        with _errors():
            obstore.delete(self._store, path)

    # --------------------------------------------------------------------- reads
    def stat(self, key: str, media_type: str | None = None) -> ObjectInfo:
        import obstore

        path = self._path(key)
        with _errors():
            meta = obstore.head(self._store, path)
        return ObjectInfo(key=path, size=int(meta["size"]),
                          mtime_ns=int(meta["last_modified"].timestamp()) * 1_000_000_000,
                          etag=_quoted(meta.get("e_tag")), media_type=media_type_for(path, media_type))  # fmt: skip

    def open_range(self, key: str, start: int, end: int, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        import obstore

        path = self._path(key)
        if end < start:
            return iter(())
        with _errors():
            result = obstore.get(self._store, path, options={"range": (start, end + 1)})
        return _chunks(result.stream(min_chunk_size=min(chunk_size, 64 * 1024)), chunk_size)

    def list(self, prefix: str = "") -> Iterator[str]:
        import obstore

        parts = check_prefix(prefix)
        norm = "/".join(parts) + ("/" if parts and prefix.endswith("/") else "")
        # list under the deepest directory the prefix names (its last segment may be part of a name)
        base = "/".join(parts if norm.endswith("/") else parts[:-1])
        with _errors():
            names = [m["path"] for batch in obstore.list(self._store, prefix=base or None)
                     for m in batch]  # fmt: skip
        return iter(sorted(n for n in names if n.startswith(norm)))

    def gdal_path(self, key: str) -> str:
        self.stat(key)
        return f"/vsis3/{self.config.bucket}/{self._full(self._path(key))}"

    def location(self, key: str) -> str:
        return f"s3://{self.config.bucket}/{self._full(self._path(key))}"


def _seekable(source: Any) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _quoted(etag: object) -> str:
    text = str(etag or "")
    return text if text.startswith('"') else f'"{text}"'


def _chunks(stream: Any, chunk_size: int) -> Iterator[bytes]:
    """obstore's chunks cut to at most ``chunk_size`` bytes each."""
    with _errors():
        for buf in stream:
            data = bytes(buf)
            for i in range(0, len(data), chunk_size):
                yield data[i : i + chunk_size]


def _unavailable(exc: BaseException) -> BackendUnavailable:
    first = str(exc).split("\n", 1)[0][:300]
    return BackendUnavailable(f"the S3 object store failed or is unreachable: {first}", backend="s3")


class _errors:  # noqa: N801 - a context manager used like a function
    """obstore's errors → NotFound (a missing object) or BackendUnavailable (503 naming S3)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            return
        from obstore.exceptions import BaseError, NotFoundError

        if isinstance(exc, (NotFoundError, FileNotFoundError)):  # obstore raises the builtin one
            raise NotFound("asset not found") from exc
        if isinstance(exc, BaseError):
            raise _unavailable(exc) from exc
