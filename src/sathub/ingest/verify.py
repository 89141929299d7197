"""Re-check the archive: every asset against its recorded size and checksum, and every file
under ``assets/`` against the catalog (orphans). ``repair`` deletes orphans and stale staging
directories; it never deletes an item or a referenced file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.ingest import staging
from sathub.ingest.cog import file_checksum
from sathub.ingest.commit import _prune
from sathub.ingest.hrefs import asset_path


@dataclass
class Problem:
    kind: str  # "missing" | "corrupt" | "orphan" | "stale-staging"
    path: str
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


def verify_archive(
    settings: Settings,
    store: CatalogStore,
    *,
    repair: bool = False,
    checksums: bool = True,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Check every asset of every item; list missing, corrupt and orphan files."""
    root = settings.layout.assets
    report = VerifyReport()
    referenced: set[Path] = set()
    for item in store.iter_items():
        ref = f"{item.get('collection')}/{item['id']}"
        for asset in item.get("assets", {}).values():
            href = asset.get("href", "")
            path = asset_path(root, href)
            if path is None:
                continue  # a URL: not in this archive
            referenced.add(path)
            report.checked_assets += 1
            if progress:
                progress(href)
            if not path.is_file():
                report.problems.append(Problem("missing", str(path), "file does not exist", ref))
                continue
            size = path.stat().st_size
            report.checked_bytes += size
            want_size = asset.get("file:size")
            if want_size is not None and size != want_size:
                report.problems.append(
                    Problem("corrupt", str(path), f"size {size} != recorded {want_size}", ref)
                )
                continue
            want = asset.get("file:checksum")
            if checksums and want and file_checksum(path) != want:
                report.problems.append(Problem("corrupt", str(path), "checksum mismatch", ref))
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            if p.is_file() and p not in referenced:
                report.problems.append(Problem("orphan", str(p), "no item references it"))
    for d in staging.stale_dirs(settings.layout.staging):
        report.problems.append(Problem("stale-staging", str(d), "left by a dead ingest"))
    if repair:
        for prob in report.problems:
            p = Path(prob.path)
            if prob.kind == "orphan":
                p.unlink(missing_ok=True)
                _prune(p.parent, root)
                report.repaired.append(prob.path)
            elif prob.kind == "stale-staging":
                staging.remove(p)
                report.repaired.append(prob.path)
    return report
