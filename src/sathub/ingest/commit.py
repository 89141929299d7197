"""Commit a prepared scene: item into the catalog and files into the object store, atomically.

Order (so that a kill -9 at any instant leaves at worst orphan objects, never an item whose
files are missing):

1. COGs are complete in ``staging/`` (on the local store: the same filesystem as ``assets/``).
2. ``store.transaction()`` opens; ``put_item`` writes the item (not yet visible).
3. Each file is put into the object store (:meth:`ObjectStore.put`, atomic: a rename on local
   disk) under a content-addressed key ``<collection>/<item>/<version>/<file>``, so a
   replacement never touches objects the current item points at.
4. The transaction commits when the ``with`` block exits. Only then is the item visible.
5. Objects of a replaced version are deleted after the commit.

A crash before 4 leaves objects that no item references (``sathub verify --repair`` deletes
them); a crash after 4 leaves the old version's objects as orphans.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from sathub.catalog.store import CatalogStore
from sathub.errors import BackendUnavailable, IngestError, NotFound, SathubError
from sathub.ingest import staging
from sathub.ingest.prepare import Prepared
from sathub.storage.base import ObjectStore
from sathub.storage.keys import is_key, normalize_key

Status = Literal["ingested", "replaced", "unchanged"]
log = logging.getLogger("sathub.ingest")


def find_existing(store: CatalogStore, item_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(collection id, item) for every collection holding an item with this id."""
    out = []
    for c in store.list_collections():
        try:
            out.append((c["id"], store.get_item(c["id"], item_id)))
        except NotFound:
            continue
    return out


def asset_keys(item: dict[str, Any]) -> set[str]:
    """The object keys an item's assets name (hrefs that are URLs or paths elsewhere are not
    objects of this archive)."""
    hrefs = (a.get("href") for a in (item.get("assets") or {}).values() if isinstance(a, dict))
    return {normalize_key(h) for h in hrefs if is_key(h)}


def _exists(objects: ObjectStore, key: str) -> bool:
    try:
        objects.stat(key)
    except NotFound:
        return False
    return True


def commit(
    store: CatalogStore, prep: Prepared, objects: ObjectStore, *, replace: bool, source: str
) -> Status:
    """Publish ``prep``; returns what happened. Raises IngestError (nothing published), or
    BackendUnavailable naming PostgreSQL or S3 when one of them fails (nothing published; the
    objects already put are deleted when the store answers)."""
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
    put: list[str] = []
    key = ""
    try:
        with store.transaction() as tx:
            tx.put_item(prep.item, mode="upsert" if old is not None else "insert")
            for src, key in prep.moves:
                existed = _exists(objects, key)
                objects.put(key, src)
                if not existed:
                    put.append(key)
    except BackendUnavailable:  # PostgreSQL or S3 away: a 503 naming it, not the scene's fault
        _unput(objects, put)
        raise
    except SathubError as exc:
        _unput(objects, put)
        raise IngestError(
            f"{source}: catalog refused item {prep.scene_id!r}: {exc.message}"
        ) from exc
    except OSError as exc:
        _unput(objects, put)
        raise IngestError(f"{source}: cannot store {objects.location(key)}: {exc}") from exc
    except BaseException:  # the commit itself failed (e.g. the database): no object stays
        _unput(objects, put)
        raise
    staging.remove(prep.staging_dir)
    if old is not None:
        for stale in sorted(asset_keys(old) - asset_keys(prep.item)):
            objects.delete(stale)
        return "replaced"
    return "ingested"


def _unput(objects: ObjectStore, keys: list[str]) -> None:
    """Delete the objects this commit put (best effort: when the store itself is away they
    stay as orphans, which no item names and ``sathub verify --repair`` deletes)."""
    for key in keys:
        try:
            objects.delete(key)
        except (SathubError, OSError) as exc:
            log.warning("cannot delete %s after a failed commit (an orphan for `sathub verify "
                        "--repair`): %s", key, exc)  # fmt: skip
