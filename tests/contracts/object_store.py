"""The ObjectStore contract suite: what every asset backend must do, checked against the bytes
put in (Python slices, hashlib, a GeoTIFF read back through GDAL), and the hostile keys every
backend must refuse like missing objects.

Every test runs once per entry of :data:`IMPLEMENTATIONS` (today the local disk; an
S3-compatible store adds itself there, built by :class:`sathub.app.Installation` from its
settings). The symlink cases run for the implementations in :data:`FILESYSTEMS`, those whose
objects are files under a root directory (a bucket has no symlinks).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from pg_support import s3_store

from sathub.app import Installation
from sathub.config import Settings
from sathub.errors import NotFound
from sathub.storage.base import ObjectStore, gdal_href


@contextmanager
def local_store(tmp: Path) -> Iterator[ObjectStore]:
    with Installation.create(Settings(data=tmp / "data")) as inst:
        yield inst.objects


# name → a fresh, empty store in a temporary directory
IMPLEMENTATIONS: dict[str, Callable[[Path], AbstractContextManager[ObjectStore]]] = {
    "local": local_store,
    "s3": s3_store,  # a new bucket of the test process's S3 server (moto)
}
# name → the directory the store keeps its objects in (for the symlink cases)
FILESYSTEMS: dict[str, Callable[[Path], Path]] = {
    "local": lambda tmp: Settings(data=tmp / "data").layout.assets,
}
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def objects(request: Any, tmp_path: Path) -> Iterator[ObjectStore]:
    with IMPLEMENTATIONS[request.param](tmp_path) as store:
        yield store


@pytest.fixture(params=sorted(FILESYSTEMS))
def on_disk(request: Any, tmp_path: Path) -> Iterator[tuple[ObjectStore, Path, Path]]:
    """(store, its root directory, a directory outside it holding a secret file)."""
    with IMPLEMENTATIONS[request.param](tmp_path) as store:
        root = FILESYSTEMS[request.param](tmp_path)
        root.mkdir(parents=True, exist_ok=True)
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret.tif").write_bytes(b"secret")
        yield store, root, outside


def _read(store: ObjectStore, key: str) -> bytes:
    size = store.stat(key).size
    return b"".join(store.open_range(key, 0, size - 1)) if size else b""


# ------------------------------------------------------------------ put and read
def test_put_stat_read_replace_delete(objects: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    info = objects.put("c/item/v1/data.tif", io.BytesIO(data))
    assert info.key == "c/item/v1/data.tif" and info.size == len(data)
    assert info.etag.startswith('"') and info.etag.endswith('"')
    assert info.media_type.startswith("image/tiff")
    assert objects.stat("c/item/v1/data.tif") == info
    assert _read(objects, "c/item/v1/data.tif") == data
    assert objects.stat("c/item/v1/data.tif", "image/jp2").media_type == "image/jp2"
    staged = tmp_path / "staged.json"
    staged.write_bytes(b'{"a": 1}')
    assert objects.put("c/item/v1/meta.json", staged).size == 8  # from a staged file
    assert _read(objects, "c/item/v1/meta.json") == b'{"a": 1}'
    assert objects.stat("c//item/./v1/meta.json").key == "c/item/v1/meta.json"  # one spelling
    new = os.urandom(1000)
    replaced = objects.put("c/item/v1/data.tif", io.BytesIO(new))  # replace
    assert _read(objects, "c/item/v1/data.tif") == new and replaced.etag != info.etag
    empty = objects.put("c/empty.txt", io.BytesIO(b""))
    assert empty.size == 0 and _read(objects, "c/empty.txt") == b""
    objects.delete("c/item/v1/data.tif")
    objects.delete("c/item/v1/data.tif")  # deleting a missing object is not an error
    with pytest.raises(NotFound):
        objects.stat("c/item/v1/data.tif")
    assert list(objects.list()) == ["c/empty.txt", "c/item/v1/meta.json"]


@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH)
@given(size=st.integers(1, 5000), a=st.integers(0, 4999), b=st.integers(0, 4999),
       chunk=st.integers(1, 700))  # fmt: skip
def test_open_range_is_the_slice(objects: ObjectStore, size: int, a: int, b: int, chunk: int) -> None:
    data = bytes((i * 7 + size) % 256 for i in range(size))
    objects.put("r/obj.bin", io.BytesIO(data))
    start, end = min(a, b) % size, max(a, b) % size
    start, end = min(start, end), max(start, end)
    got = list(objects.open_range("r/obj.bin", start, end, chunk_size=chunk))
    assert b"".join(got) == data[start : end + 1]
    assert all(0 < len(c) <= chunk for c in got)


@settings(max_examples=30, deadline=None, suppress_health_check=HEALTH)
@given(keys=st.sets(st.lists(st.sampled_from(["a", "b", "ab", "b.tif", "c"]), min_size=1,
                             max_size=3).map("/".join), max_size=8),
       prefix=st.sampled_from(["", "a", "a/", "ab", "b", "b/", "a/b", "c/c"]))  # fmt: skip
def test_list_is_sorted_and_filtered_by_prefix(objects: ObjectStore, keys: set[str],
                                               prefix: str) -> None:  # fmt: skip
    for k in list(objects.list()):
        objects.delete(k)
    # a key cannot be both an object and a "directory" of others: keep the leaves only
    leaves = {k for k in keys if not any(o.startswith(k + "/") for o in keys)}
    for k in leaves:
        objects.put(k, io.BytesIO(k.encode()))
    assert list(objects.list()) == sorted(leaves)
    assert list(objects.list(prefix)) == sorted(k for k in leaves if k.startswith(prefix))


def test_put_is_atomic(objects: ObjectStore) -> None:
    """While a put streams, readers see the previous object whole; a put that fails leaves the
    previous object (or none) and no visible partial object."""
    objects.put("atomic/x.bin", io.BytesIO(b"old" * 1000))
    release, halfway = threading.Event(), threading.Event()

    class Slow(io.RawIOBase):
        def __init__(self, fail: bool) -> None:
            self.sent, self.fail = 0, fail

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            if self.sent >= 4:
                if self.fail:
                    raise OSError("the source broke")
                return 0
            if self.sent == 2:
                halfway.set()
                release.wait(30)
            b[:1000] = b"n" * 1000
            self.sent += 1
            return 1000

    for fail in (False, True):
        release.clear()
        halfway.clear()
        before = _read(objects, "atomic/x.bin")
        errors: list[BaseException] = []

        def put(fail: bool = fail) -> None:
            try:
                objects.put("atomic/x.bin", io.BufferedReader(Slow(fail)))
                objects.put("atomic/new.bin", io.BufferedReader(Slow(fail)))
            except OSError as exc:
                errors.append(exc)

        t = threading.Thread(target=put)
        t.start()
        assert halfway.wait(30)
        assert _read(objects, "atomic/x.bin") == before  # the old one, whole
        release.set()
        t.join(30)
        if fail:
            assert errors and _read(objects, "atomic/x.bin") == before
            assert "atomic/new.bin" not in set(objects.list()) or _read(objects, "atomic/new.bin") == b"n" * 4000
        else:
            assert not errors and _read(objects, "atomic/x.bin") == b"n" * 4000


def test_gdal_reads_what_was_put(objects: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "cog.tif"
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(1, 64, 64)
    with rasterio.open(src, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint16",
                       crs="EPSG:32647", transform=from_origin(600000, 2400000, 10, 10)) as ds:  # fmt: skip
        ds.write(pixels)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    objects.put("g/item/v1/data.tif", src)
    assert hashlib.sha256(_read(objects, "g/item/v1/data.tif")).hexdigest() == digest
    with rasterio.open(objects.gdal_path("g/item/v1/data.tif")) as ds:
        assert np.array_equal(ds.read(), pixels) and ds.crs.to_epsg() == 32647
    with pytest.raises(NotFound):
        objects.gdal_path("g/item/v1/missing.tif")
    assert objects.location("g/item/v1/data.tif") != objects.location("g/item/v1/other.tif")


def test_gdal_href_of_any_asset_href(objects: ObjectStore) -> None:
    """What GDAL opens for an href: keys through the store, URLs and absolute paths as given,
    a relative href that is not a safe key nowhere."""
    objects.put("h/x.tif", io.BytesIO(b"x"))
    assert gdal_href(objects, "h/x.tif") == objects.gdal_path("h/x.tif")
    assert gdal_href(objects, "https://example.com/a.tif") == "/vsicurl/https://example.com/a.tif"
    assert gdal_href(objects, "/abs/elsewhere.tif") == "/abs/elsewhere.tif"
    assert gdal_href(objects, "s3://bucket/key.tif") == "s3://bucket/key.tif"
    for bad in ("../x.tif", "h/../../x.tif", "h\\x.tif", "h/missing.tif"):
        with pytest.raises(NotFound):
            gdal_href(objects, bad)


def test_a_store_travels_to_workers(objects: ObjectStore) -> None:
    """Dask sends the store to its workers: a pickled copy reads the same objects."""
    objects.put("p/x.bin", io.BytesIO(b"payload"))
    copy = pickle.loads(pickle.dumps(objects))
    assert _read(copy, "p/x.bin") == b"payload"


# ------------------------------------------------------------------- hostile keys
HOSTILE = ["", ".", "..", "../x", "a/../../x", "a/b/../../../x", "/etc/passwd", "//etc/passwd",
           "a\x00b", "a/b.tif\x00.png", "a\\..\\..\\x", "..\\x", "file:///etc/passwd",
           "http://example.com/x.tif", "s3://bucket/x", "a" * 5000]  # fmt: skip


@pytest.mark.parametrize("key", HOSTILE, ids=repr)
def test_hostile_keys_are_refused_like_missing_objects(objects: ObjectStore, key: str,
                                                       tmp_path: Path) -> None:  # fmt: skip
    objects.put("ok/x.bin", io.BytesIO(b"x"))
    before = sorted(p for p in tmp_path.rglob("*"))
    calls: list[Callable[[], Any]] = [
        lambda: objects.stat(key), lambda: list(objects.open_range(key, 0, 0)),
        lambda: objects.gdal_path(key), lambda: objects.put(key, io.BytesIO(b"evil")),
        lambda: objects.delete(key), lambda: objects.location(key),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert list(objects.list()) == ["ok/x.bin"]


def test_absolute_paths_outside_are_refused(on_disk: tuple[ObjectStore, Path, Path]) -> None:
    store, _, outside = on_disk
    for key in (str(outside / "secret.tif"), str(outside)):
        with pytest.raises(NotFound):
            store.stat(key)
        with pytest.raises(NotFound):
            store.put(key, io.BytesIO(b"evil"))
    assert (outside / "secret.tif").read_bytes() == b"secret"


def test_symlinks_out_are_refused(on_disk: tuple[ObjectStore, Path, Path]) -> None:
    store, root, outside = on_disk
    (root / "c").mkdir()
    (root / "c" / "link.tif").symlink_to(outside / "secret.tif")  # a file link out
    (root / "c" / "dir").symlink_to(outside, target_is_directory=True)  # a directory link out
    (root / "c" / "ok.tif").write_bytes(b"fine")
    (root / "c" / "inside.tif").symlink_to(root / "c" / "ok.tif")  # a link that stays inside
    assert _read(store, "c/inside.tif") == b"fine"
    for key in ("c/link.tif", "c/dir/secret.tif"):
        for call in (store.stat, store.gdal_path, lambda k: list(store.open_range(k, 0, 0))):
            with pytest.raises(NotFound):
                call(key)  # type: ignore[operator]
    with pytest.raises(NotFound):
        store.put("c/dir/new.tif", io.BytesIO(b"evil"))  # never written through the link
    assert sorted(p.name for p in outside.iterdir()) == ["secret.tif"]
    listed = list(store.list())
    assert not any(k.startswith("c/dir/") for k in listed)  # a directory link is not followed
    assert "c/link.tif" in listed  # the link itself is an object (an orphan to verify)
    store.delete("c/dir/secret.tif")  # not an object of this store: nothing happens
    store.delete("c/link.tif")  # removes the link, never its target
    assert (outside / "secret.tif").read_bytes() == b"secret"
    assert not (root / "c" / "link.tif").is_symlink()
    store.put("c/link2.tif", io.BytesIO(b"new"))
    (root / "c" / "swap.tif").symlink_to(outside / "secret.tif")
    store.put("c/swap.tif", io.BytesIO(b"replaced"))  # replaces the link, not the target
    assert (outside / "secret.tif").read_bytes() == b"secret"
    assert _read(store, "c/swap.tif") == b"replaced"
