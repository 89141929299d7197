"""Commit a prepared scene: item into the catalog and files into ``assets/``, atomically.

Order (so that a kill -9 at any instant leaves at worst orphan files, never an item whose
files are missing):

1. COGs are complete in ``staging/`` (same filesystem as ``assets/``).
2. ``store.transaction()`` opens; ``put_item`` writes the item (not yet visible).
3. Each file is moved with ``os.replace`` (atomic rename) into a content-addressed
   ``assets/<collection>/<item>/<version>/`` directory, so a replacement never touches files
   the current item points at.
4. The transaction commits when the ``with`` block exits. Only then is the item visible.
5. Files of a replaced version are deleted after the commit.

A crash before 4 leaves moved files that no item references (``sathub verify --repair``
deletes them); a crash after 4 leaves the old version's files as orphans.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from sathub.catalog.store import CatalogStore
from sathub.errors import IngestError, NotFound, SathubError
from sathub.ingest import staging
from sathub.ingest.hrefs import asset_path
from sathub.ingest.prepare import Prepared

Status = Literal["ingested", "replaced", "unchanged"]


def find_existing(store: CatalogStore, item_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(collection id, item) for every collection holding an item with this id."""
    out = []
    for c in store.list_collections():
        try:
            out.append((c["id"], store.get_item(c["id"], item_id)))
        except NotFound:
            continue
    return out


def asset_paths(item: dict[str, Any], assets_root: Path) -> set[Path]:
    paths = (asset_path(assets_root, a.get("href", "")) for a in item.get("assets", {}).values())
    return {p for p in paths if p is not None}


def commit(
    store: CatalogStore, prep: Prepared, assets_root: Path, *, replace: bool, source: str
) -> Status:
    """Publish ``prep``; returns what happened. Raises IngestError (nothing published)."""
    existing = find_existing(store, prep.scene_id)
    elsewhere = [c for c, _ in existing if c != prep.collection_id]
    if elsewhere:
        raise IngestError(
            f"{source}: scene id {prep.scene_id!r} already exists in collection {elsewhere[0]!r}"
        )
    old = next((i for c, i in existing if c == prep.collection_id), None)
    if old is not None and not replace:
        staging.remove(prep.staging_dir)
        return "unchanged"
    moved: list[Path] = []
    try:
        with store.transaction() as tx:
            tx.put_item(prep.item, mode="upsert" if old is not None else "insert")
            for src, rel in prep.moves:
                dst = assets_root / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                existed = dst.exists()
                os.replace(src, dst)
                if not existed:
                    moved.append(dst)
    except SathubError as exc:
        _unmove(moved)
        raise IngestError(
            f"{source}: catalog refused item {prep.scene_id!r}: {exc.message}"
        ) from exc
    except OSError as exc:
        _unmove(moved)
        raise IngestError(f"{source}: cannot move files into {assets_root}: {exc}") from exc
    staging.remove(prep.staging_dir)
    if old is not None:
        keep = asset_paths(prep.item, assets_root)
        for p in asset_paths(old, assets_root) - keep:
            p.unlink(missing_ok=True)
            _prune(p.parent, assets_root)
        return "replaced"
    return "ingested"


def _unmove(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _prune(d: Path, root: Path) -> None:
    """Remove empty directories from ``d`` up to (not including) ``root``."""
    while d != root and root in d.parents:
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent
