"""Re-check the archive: every asset against its recorded size and checksum, and every object
of the object store against the catalog (orphans). ``repair`` deletes orphans and stale staging
directories; it never deletes an item or a referenced object."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.errors import NotFound
from sathub.ingest import staging
from sathub.storage.base import ObjectStore
from sathub.storage.keys import is_key, normalize_key


@dataclass
class Problem:
    kind: str  # "missing" | "corrupt" | "orphan" | "stale-staging"
    path: str  # where the object (or staging directory) is (ObjectStore.location)
    detail: str = ""
    item: str | None = None  # "collection/item" for missing/corrupt


@dataclass
class VerifyReport:
    checked_assets: int = 0
    checked_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not [p for p in self.problems if p.path not in self.repaired]

    def by_kind(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked_assets": self.checked_assets,
            "checked_bytes": self.checked_bytes,
            "ok": self.ok,
            "problems": [p.__dict__ for p in self.problems],
            "repaired": self.repaired,
        }


def object_checksum(objects: ObjectStore, key: str, size: int) -> str:
    """Multihash (sha2-256) of an object, as hex: the ``file:checksum`` format ingest records
    (see :func:`sathub.ingest.cog.file_checksum`), read through the store."""
    h = hashlib.sha256()
    if size:
        for chunk in objects.open_range(key, 0, size - 1, chunk_size=4 << 20):
            h.update(chunk)
    return "1220" + h.hexdigest()


def _opens(objects: ObjectStore, key: str) -> str | None:
    """What reading ``key`` opens (the local store: the file after resolving symlinks inside
    its root), so that the object an item reads through a link is never taken for an orphan."""
    try:
        return objects.gdal_path(key)
    except NotFound:
        return None


def verify_archive(
    settings: Settings,
    store: CatalogStore,
    objects: ObjectStore,
    *,
    repair: bool = False,
    checksums: bool = True,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Check every asset of every item; list missing, corrupt and orphan objects."""
    report = VerifyReport()
    referenced: set[str] = set()
    reached: set[str] = set()  # what the referenced keys open (a key may lead to another's object)
    orphans: dict[str, str] = {}  # location → key
    for item in store.iter_items():
        ref = f"{item.get('collection')}/{item['id']}"
        for asset in item.get("assets", {}).values():
            href = asset.get("href", "")
            if not is_key(href):
                continue  # a URL or a path elsewhere: not in this archive
            key = normalize_key(href)
            where = objects.location(key)
            referenced.add(key)
            report.checked_assets += 1
            if progress:
                progress(href)
            try:
                info = objects.stat(key)
            except NotFound:
                report.problems.append(Problem("missing", where, "file does not exist", ref))
                continue
            reached.add(_opens(objects, key) or key)
            size = info.size
            report.checked_bytes += size
            want_size = asset.get("file:size")
            if want_size is not None and size != want_size:
                report.problems.append(
                    Problem("corrupt", where, f"size {size} != recorded {want_size}", ref)
                )
                continue
            want = asset.get("file:checksum")
            if checksums and want and object_checksum(objects, key, size) != want:
                report.problems.append(Problem("corrupt", where, "checksum mismatch", ref))
    for key in objects.list():
        if key not in referenced and (_opens(objects, key) or key) not in reached:
            orphans[objects.location(key)] = key
            report.problems.append(Problem("orphan", objects.location(key), "no item references it"))
    for d in staging.stale_dirs(settings.layout.staging):
        report.problems.append(Problem("stale-staging", str(d), "left by a dead ingest"))
    if repair:
        for prob in report.problems:
            if prob.kind == "orphan":
                objects.delete(orphans[prob.path])
                report.repaired.append(prob.path)
            elif prob.kind == "stale-staging":
                staging.remove(Path(prob.path))
                report.repaired.append(prob.path)
    return report
