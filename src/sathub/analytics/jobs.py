"""Analytics jobs in a long-lived process (the API server): submit, status, cancel, result.

A job is a JSON record in ``DATA/jobs/analytics-<id>.json`` (written atomically at every
change, so its state survives a restart; a job that was ``queued`` or ``running`` when its
process died reads back as ``failed`` with that reason). Its result document goes to
``DATA/jobs/analytics-<id>.result.json``. Jobs run one at a time on a worker thread; each
opens a Dask :class:`~sathub.analytics.executor.Executor` (embedded LocalCluster, or the
scheduler the setting ``SATHUB_DASK_SCHEDULER`` names). Status: ``queued → running → succeeded | failed |
cancelled``. Cancelling a running job stops it between Dask tasks.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.errors import InvalidInput, NotFound
from sathub.jobs import JobBook
from sathub.jobs import clean_json as _clean
from sathub.jobs import now_iso as _now
from sathub.jobs import write_json as _write_json
from sathub.storage.base import ObjectStore

KINDS = ("zonal", "flood", "change", "composite")
# Where each kind publishes by default (zonal statistics publish nothing).
OUTPUTS = {"flood": "derived-flood", "change": "derived-change", "composite": "derived-composite"}


def lineage_output(kind: str, params: dict[str, Any], access: Any) -> str | None:
    """The collection a job's derived items go to. A derived item is at least as restricted as
    its inputs: products of a restricted collection go to a derived collection of their own,
    restricted before anything is written to it, so that only the roles that see everything
    and agreements naming it explicitly reach it; products of open collections go where asked.
    The restricted collection's id does not name its source (``<output>--r<hash>``): the source
    is recorded in the audit record that restricted it, which admins read."""
    if kind not in OUTPUTS:
        return None
    out = str(params.get("output_collection") or OUTPUTS[kind])
    source = str(params["collection"])
    if access is None or source not in access.store.restricted_collections():
        return out
    target = f"{out}--r{hashlib.sha256(source.encode()).hexdigest()[:10]}"
    if target not in access.store.restricted_collections():
        access.store.set_collection_level(target, "restricted")
        access.audit.append("sathub analytics", "admin.collection.restricted", f"collection:{target}",
                            detail={"reason": f"derived from the restricted collection {source}"})  # fmt: skip
    return target


def run_job(
    kind: str,
    params: dict[str, Any],
    settings: Settings,
    store: CatalogStore,
    *,
    objects: ObjectStore,
    executor: Any = None,
    scheduler: str | None = None,
    progress: Any = None,
    cancel: threading.Event | None = None,
    access: Any = None,
) -> dict[str, Any]:
    """Run one job synchronously: the API's job thread and the CLI both come here. Inputs are
    parsed before any Dask cluster starts; ``executor`` (else a new one on ``scheduler``)
    runs it. ``params`` are the API's job parameters (``aoi`` may also be a file path).
    ``access`` (the installation's access service) makes derived items inherit the
    restrictions of their inputs (:func:`lineage_output`)."""
    from sathub.analytics.executor import Executor
    from sathub.analytics.select import load_zones, parse_day, parse_range, union

    if kind not in KINDS:
        raise InvalidInput(f"unknown job kind {kind!r}; one of {', '.join(KINDS)}", field="kind")
    zones = load_zones(params["aoi"])
    common: dict[str, Any] = {"collection": params["collection"], "objects": objects}
    output = lineage_output(kind, params, access)
    if output is not None:
        common["output_collection"] = output
    if kind in ("flood", "change"):
        before, after = parse_range(params["before"], "before"), parse_range(params["after"], "after")
    if kind == "zonal":
        s, e = params.get("from"), params.get("to")
        start = parse_day(s, field="from") if s else None
        end = parse_day(e, end=True, field="to") if e else None
    if kind == "composite":
        period = parse_range(params["period"], "period")

    def work(ex: Any) -> dict[str, Any]:
        if kind == "flood":
            from sathub.analytics.flood_job import run_flood

            return run_flood(settings, store, zones=zones, before=before, after=after,
                             index=params.get("index") or "mndwi", executor=ex, **common)  # fmt: skip
        if kind == "zonal":
            from sathub.analytics.zonal_job import run_zonal

            common.pop("output_collection", None)  # zonal statistics publish nothing
            return run_zonal(settings, store, ex, zones=zones, index=params["index"], start=start,
                             end=end, interval=params.get("interval"), progress=progress,
                             cancel=cancel, **common)  # fmt: skip
        if kind == "change":
            from sathub.analytics.change import DEFAULT_THRESHOLD, run_change

            threshold = params.get("threshold")
            return run_change(settings, store, ex, zones=zones, before=before, after=after,
                              index=params.get("index") or "ndvi",
                              threshold=DEFAULT_THRESHOLD if threshold is None else float(threshold),
                              progress=progress, cancel=cancel, **common)  # fmt: skip
        from sathub.analytics.composite import run_composite

        what = params.get("bands") or ["red", "green", "blue", "nir"]
        return run_composite(settings, store, ex, aoi_wgs84=union(zones), period=period,
                             what=tuple(what), progress=progress, cancel=cancel, **common)  # fmt: skip

    if executor is not None:
        return work(executor)
    with Executor(scheduler) as ex:
        return work(ex)


class AnalyticsJobs(JobBook):
    kind = "analytics"

    def __init__(self, settings: Settings, store: CatalogStore, access: Any,
                 objects: ObjectStore) -> None:  # fmt: skip
        super().__init__(settings, store)
        self.access = access
        self.objects = objects
        self._cancel: dict[str, threading.Event] = {}

    def result_path(self, job_id: str) -> Path:
        return self.settings.layout.jobs / f"analytics-{job_id}.result.json"

    def submit(self, kind: str, params: dict[str, Any], actor: str | None = None) -> dict[str, Any]:
        if kind not in KINDS:
            raise InvalidInput(
                f"unknown job kind {kind!r}; one of {', '.join(KINDS)}", field="kind"
            )
        return self._start({"kind": kind, "parameters": params,
                            "progress": {"done": 0, "total": None}, "summary": None,
                            "pid": os.getpid()}, actor)  # fmt: skip

    def _created(self, job_id: str) -> None:
        self._cancel[job_id] = threading.Event()

    def _run(self, job_id: str) -> None:
        from sathub.analytics.executor import Cancelled

        job = self._jobs[job_id]
        cancel = self._cancel[job_id]
        if cancel.is_set():
            return
        self._update(job_id, status="running", started=_now())

        def progress(done: int, total: int) -> None:
            self._progress(job_id, progress={"done": done, "total": total})

        try:
            result = run_job(job["kind"], job["parameters"], self.settings, self.store,
                             objects=self.objects, scheduler=self.settings.dask_scheduler,
                             progress=progress, cancel=cancel, access=self.access)  # fmt: skip
        except Cancelled:
            self._update(job_id, status="cancelled", finished=_now())
            return
        except Exception as exc:  # noqa: BLE001 - recorded on the job
            self._failed(job_id, exc)
            return
        if cancel.is_set():
            self._update(job_id, status="cancelled", finished=_now())
            return
        _write_json(self.result_path(job_id), result)
        summary = {k: v for k, v in result.items() if k not in ("rows", "intervals")}
        self._update(job_id, status="succeeded", summary=_clean(summary), finished=_now())

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        with self._lock:
            ev = self._cancel.get(job_id)
            if ev is not None:
                ev.set()
            if self._jobs[job_id]["status"] == "queued":
                self._jobs[job_id].update(status="cancelled", finished=_now())
                self._save(self._jobs[job_id])
        return self.get(job_id)

    def result(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job["status"] != "succeeded":
            raise NotFound(f"analytics job {job_id!r} has no result (status {job['status']})")
        try:
            return json.loads(self.result_path(job_id).read_text())
        except (OSError, ValueError):
            raise NotFound(f"the result of analytics job {job_id!r} is missing") from None
