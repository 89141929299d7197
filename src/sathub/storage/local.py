"""The local-disk object store: keys are paths relative to one root (``DATA/assets/``).

Every key goes through the rule of :mod:`sathub.storage.keys`, and the path it names must stay
inside the root after resolving symlinks (:func:`safe_path`): a symlink that leads out is
refused like a missing file, a directory symlink is never followed out by ``put``, ``list`` or
``delete``. ``put`` of a staged file is a rename (atomic on one filesystem; a copy then a
rename across filesystems); of a stream, a temporary file beside the target, synced, then
renamed. Empty directories are pruned after ``delete``.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sathub.errors import NotFound
from sathub.storage.base import ObjectInfo
from sathub.storage.keys import check_prefix, key_parts

MEDIA_TYPES = {
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".tiff": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".jp2": "image/jp2",
    ".nc": "application/x-netcdf",
    ".parquet": "application/vnd.apache.parquet",
}


def media_type_for(name: str, declared: str | None = None) -> str:
    """The asset's declared STAC media type, else one guessed from the file suffix."""
    if declared:
        return declared
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def safe_path(root: Path, key: str) -> Path:
    """The regular file of ``key`` inside ``root``; :class:`NotFound` if the key breaks the rule
    or the file is missing, not a regular file, or outside ``root`` after resolving symlinks."""
    parts = key_parts(key)
    root_real = Path(os.path.realpath(root))
    path = Path(os.path.realpath(root_real.joinpath(*parts)))
    if root_real not in path.parents or not path.is_file():
        raise NotFound("asset not found")
    return path


def _inside(root_real: Path, d: Path) -> bool:
    real = Path(os.path.realpath(d))
    return real == root_real or root_real in real.parents


PART = ".sathub-part-"  # temporary files of an unfinished put (orphans if left behind)


class LocalStore:
    """Objects as files under one directory (``settings.layout.assets``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return safe_path(self.root, key)

    # ----------------------------------------------------------------- writes
    def _target(self, key: str) -> Path:
        """The path to write ``key`` at: its directories made (none of them may resolve
        outside the root), the final entry not followed."""
        parts = key_parts(key)
        root_real = Path(os.path.realpath(self.root))
        root_real.mkdir(parents=True, exist_ok=True)
        parent = root_real.joinpath(*parts[:-1])
        d = root_real
        for name in parts[:-1]:  # one level at a time: a symlink out is never followed
            d = d / name
            if not _inside(root_real, d):
                raise NotFound("asset not found")
            d.mkdir(exist_ok=True)
        if not _inside(root_real, parent) or parent.joinpath(parts[-1]).is_dir():
            raise NotFound("asset not found")
        return parent / parts[-1]

    def put(self, key: str, source: Path | BinaryIO, *, media_type: str | None = None) -> ObjectInfo:
        target = self._target(key)
        tmp = target.with_name(f"{PART}{uuid.uuid4().hex}")
        try:
            if isinstance(source, (str, os.PathLike)):
                try:
                    os.replace(source, target)  # a staged file on this filesystem: a rename
                    return self.stat(key, media_type)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:  # another filesystem: copied over below
                        raise
                with open(source, "rb") as src:
                    self._write(src, tmp)
                os.replace(tmp, target)
                Path(source).unlink(missing_ok=True)
            else:
                self._write(source, tmp)
                os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.stat(key, media_type)

    @staticmethod
    def _write(src: BinaryIO, tmp: Path) -> None:
        with open(tmp, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())

    def delete(self, key: str) -> None:
        parts = key_parts(key)
        root_real = Path(os.path.realpath(self.root))
        parent = root_real.joinpath(*parts[:-1])
        if not _inside(root_real, parent):
            return  # through a symlink out: not an object of this store
        entry = parent / parts[-1]
        if entry.is_symlink() or entry.is_file():
            entry.unlink(missing_ok=True)  # a symlink itself, never what it points at
            self._prune(parent, root_real)

    @staticmethod
    def _prune(d: Path, root: Path) -> None:
        """Remove empty directories from ``d`` up to (not including) ``root``."""
        while d != root and root in d.parents:
            try:
                d.rmdir()
            except OSError:
                return
            d = d.parent

    # ------------------------------------------------------------------ reads
    def stat(self, key: str, media_type: str | None = None) -> ObjectInfo:
        path = self.path(key)
        st = path.stat()
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}"'
        return ObjectInfo(
            key="/".join(key_parts(key)),
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            etag=etag,
            media_type=media_type_for(path.name, media_type),
        )

    def open_range(
        self, key: str, start: int, end: int, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        path = self.path(key)
        return _read_range(path, start, end, chunk_size)

    def list(self, prefix: str = "") -> Iterator[str]:
        parts = check_prefix(prefix)
        norm = "/".join(parts) + ("/" if parts and prefix.endswith("/") else "")
        root_real = Path(os.path.realpath(self.root))
        # walk the deepest directory the prefix names (its last segment may be part of a name)
        base = root_real.joinpath(*(parts if norm.endswith("/") else parts[:-1]))
        if not base.is_dir() or not _inside(root_real, base):
            return iter(())
        keys: list[str] = []
        # files, symlinks to files and broken symlinks; directory symlinks are not followed
        for dirpath, _, filenames in os.walk(base):
            rel = Path(dirpath).relative_to(root_real).as_posix()
            for name in filenames:
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(norm):
                    keys.append(key)
        return iter(sorted(keys))

    def gdal_path(self, key: str) -> str:
        return str(self.path(key))

    def location(self, key: str) -> str:
        return str(self.root.joinpath(*key_parts(key)))


def _read_range(path: Path, start: int, end: int, chunk_size: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = fh.read(min(chunk_size, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
