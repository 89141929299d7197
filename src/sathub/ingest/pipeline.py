"""Batch ingest: discover scenes, prepare them (in parallel), commit each in the parent.

Failures are per scene: a bad file is reported with its reason and the rest of the batch
goes on. COG work runs in ``workers`` processes; every catalog write and file move happens
in this (parent) process, one scene per transaction (see ``commit.py``).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.errors import IngestError, SathubError
from sathub.ingest import staging
from sathub.ingest.cog import Compression
from sathub.ingest.collections import ensure_collection, widen_extent
from sathub.ingest.commit import commit, find_existing
from sathub.ingest.prepare import Prepared, prepare_scene
from sathub.ingest.readers import discover
from sathub.ingest.readers.base import Scene
from sathub.storage.base import ObjectStore

Status = Literal["ingested", "replaced", "unchanged", "failed"]


@dataclass
class SceneOutcome:
    source: str
    status: Status
    scene_id: str | None = None
    message: str | None = None


@dataclass
class IngestReport:
    collection: str
    outcomes: list[SceneOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[SceneOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "counts": self.counts(),
            "outcomes": [o.__dict__ for o in self.outcomes],
        }


Progress = Callable[[SceneOutcome], None]


def _fail(source: Path | str, exc: BaseException) -> SceneOutcome:
    msg = exc.message if isinstance(exc, SathubError) else f"{source}: {exc}"
    return SceneOutcome(source=str(source), status="failed", message=msg)


def ingest_paths(
    paths: Sequence[Path],
    collection_id: str,
    settings: Settings,
    store: CatalogStore,
    objects: ObjectStore,
    *,
    workers: int = 1,
    replace: bool = False,
    sidecar: Path | None = None,
    compression: Compression = "deflate",
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest every scene found under ``paths`` into ``collection_id``.

    Scenes are described in this process, prepared (COGs, stats, footprint) in up to
    ``workers`` processes, and committed here one by one, in input order.
    """
    layout = settings.layout
    layout.create()
    report = IngestReport(collection=collection_id)

    def done(o: SceneOutcome) -> None:
        report.outcomes.append(o)
        if progress:
            progress(o)

    tasks = discover([Path(p) for p in paths])
    if sidecar is not None and len(tasks) != 1:
        raise IngestError(f"--sidecar {sidecar} applies to one scene, but {len(tasks)} found")
    if not tasks:
        raise IngestError(f"no scenes found in {', '.join(str(p) for p in paths)}")
    if on_total:
        on_total(len(tasks))
    ensure_collection(store, collection_id)
    pool: ProcessPoolExecutor | None = None
    if workers > 1 and len(tasks) > 1:
        # this process is one of the workers (it starts at once); the others are processes,
        # started now so that they import GDAL while this process reads metadata
        pool = ProcessPoolExecutor(
            max_workers=workers - 1, mp_context=multiprocessing.get_context("spawn")
        )
        for _ in range(workers - 1):
            pool.submit(_warm)
    try:
        return _run(
            tasks,
            collection_id,
            settings,
            store,
            objects,
            report,
            done,
            pool,
            replace=replace,
            sidecar=sidecar,
            compression=compression,
            pool_size=workers - 1,
        )
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _prepare_and_commit(
    todo: list[tuple[Path, Scene]],
    pool: ProcessPoolExecutor | None,
    workers: int,
    collection_id: str,
    staging_root: Path,
    compression: Compression,
    finish: Callable[[Path, Prepared], None],
    done: Callable[[SceneOutcome], None],
) -> None:
    """Prepare scenes in this process and in the pool's ``workers`` processes (if any), each
    taking the next scene when free; commit each (``finish``) here, in input order, as soon as
    it and every scene before it are ready. A failed scene is reported (``done``) in its
    place and its staging directory removed. The CPUs are shared among the scenes prepared
    at once: each gets ``cpus() // that many`` GDAL compression threads (at least 1)."""
    threads = max(1, cpus() // (1 + (workers if pool is not None else 0)))
    cond = threading.Condition()
    queue = deque(enumerate(todo))
    ready: dict[int, tuple[Path, Path, Prepared | BaseException]] = {}

    def take() -> tuple[int, tuple[Path, Scene]] | None:
        with cond:
            return queue.popleft() if queue else None

    def store(i: int, root: Path, sdir: Path, result: Prepared | BaseException) -> None:
        with cond:
            ready[i] = (root, sdir, result)
            cond.notify_all()

    def feed() -> None:
        job = take()
        if job is None:
            return
        i, (root, scene) = job
        sdir = staging.new_dir(staging_root)
        assert pool is not None
        try:
            fut = pool.submit(
                prepare_scene, scene, collection_id, sdir, compression, threads=threads
            )
        except Exception as exc:  # noqa: BLE001 - pool shut down or broken
            store(i, root, sdir, exc)
            return

        def landed(f: Future[Prepared]) -> None:
            try:
                store(i, root, sdir, f.result())
            except BaseException as exc:  # noqa: BLE001 - reported per scene
                store(i, root, sdir, exc)
            feed()

        fut.add_done_callback(landed)

    for _ in range(workers if pool is not None else 0):
        feed()
    next_commit = 0
    while next_commit < len(todo):
        with cond:
            item = ready.pop(next_commit, None)
        if item is not None:
            root, sdir, result = item
            next_commit += 1
            if isinstance(result, BaseException):
                staging.remove(sdir)
                done(_fail(root, result))
            else:
                finish(root, result)
            continue
        job = take()
        if job is not None:  # nothing to commit yet: prepare one here
            i, (root, scene) = job
            sdir = staging.new_dir(staging_root)
            try:
                prep = prepare_scene(scene, collection_id, sdir, compression, threads=threads)
                store(i, root, sdir, prep)
            except Exception as exc:  # noqa: BLE001
                store(i, root, sdir, exc)
            continue
        with cond:
            if next_commit not in ready:
                cond.wait(timeout=1.0)


def _warm() -> None:
    import sathub.ingest.prepare  # noqa: F401


def _run(
    tasks: list[Any],
    collection_id: str,
    settings: Settings,
    store: CatalogStore,
    objects: ObjectStore,
    report: IngestReport,
    done: Callable[[SceneOutcome], None],
    pool: ProcessPoolExecutor | None,
    *,
    replace: bool,
    sidecar: Path | None,
    compression: Compression,
    pool_size: int = 0,
) -> IngestReport:
    layout = settings.layout
    todo: list[tuple[Path, Scene]] = []
    seen_ids: set[str] = set()
    for reader, root in tasks:
        try:
            scene = reader.read(root, sidecar)
            if scene.id in seen_ids:
                raise IngestError(f"{root}: scene id {scene.id!r} appears twice in this batch")
            seen_ids.add(scene.id)
            existing = find_existing(store, scene.id)
            other = [c for c, _ in existing if c != collection_id]
            if other:
                raise IngestError(
                    f"{root}: scene id {scene.id!r} already exists in collection {other[0]!r}"
                )
            if existing and not replace:
                done(SceneOutcome(str(root), "unchanged", scene.id, "already in the catalog"))
                continue
        except Exception as exc:  # noqa: BLE001 - one bad scene must not stop the batch
            done(_fail(root, exc))
            continue
        todo.append((root, scene))
    committed: list[dict[str, Any]] = []

    def finish(root: Path, prep: Prepared) -> None:
        try:
            status = commit(store, prep, objects, replace=replace, source=str(root))
        except Exception as exc:  # noqa: BLE001
            staging.remove(prep.staging_dir)
            done(_fail(root, exc))
            return
        if status != "unchanged":
            committed.append(prep.item)
        done(SceneOutcome(str(root), status, prep.scene_id))

    _prepare_and_commit(todo, pool if len(todo) > 1 else None, pool_size, collection_id,
                        layout.staging, compression, finish, done)  # fmt: skip
    try:
        widen_extent(store, collection_id, committed)
    except SathubError as exc:
        report.outcomes.append(
            SceneOutcome(
                collection_id, "failed", None, f"collection extent not updated: {exc.message}"
            )
        )
    return report
