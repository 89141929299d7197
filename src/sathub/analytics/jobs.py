"""The analytics job kinds (``zonal``, ``flood``, ``change``, ``composite``): one parameter
model and :func:`run_job`, which the API's jobs (through :class:`sathub.jobs.JobRunner`, in the
``analytics`` lane) and the CLI both run. Each opens a Dask
:class:`~sathub.analytics.executor.Executor` (embedded LocalCluster, or the scheduler the setting
``SATHUB_DASK_SCHEDULER`` names); cancelling a running job stops it between Dask tasks.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any, Literal

from pydantic import BaseModel, Field

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.errors import InvalidInput
from sathub.jobs import JobContext, job_kind
from sathub.storage.base import ObjectStore

KINDS = ("zonal", "flood", "change", "composite")
# Where each kind publishes by default (zonal statistics publish nothing).
OUTPUTS = {"flood": "derived-flood", "change": "derived-change", "composite": "derived-composite"}


def lineage_output(kind: str, params: dict[str, Any], access: Any) -> str | None:
    """The collection a job's derived items go to. A derived item is at least as restricted as
    its inputs: products of a restricted collection go to a derived collection of their own,
    restricted before anything is written to it, so that only the roles that see everything
    and agreements naming it explicitly reach it; products of open collections go where asked,
    and restricting such a source later restricts that collection too
    (:meth:`~sathub.access.store.AccessStore.set_collection_level`: fail closed).
    The restricted collection's id does not name or hash its source (``<output>--r<random>``,
    kept per output and source in the access store): the source is recorded in the audit
    record that restricted it, which admins read."""
    if kind not in OUTPUTS:
        return None
    out = str(params.get("output_collection") or OUTPUTS[kind])
    source = str(params["collection"])
    if access is None:
        return out
    if source not in access.store.restricted_collections():
        access.store.add_derived(out, source)  # restricting the source later restricts `out` too
        return out
    prefix = f"{out}--r"
    known = sorted(c for c in access.store.derived_of(source) if c.startswith(prefix)
                   and len(c) == len(prefix) + 10)  # fmt: skip
    target = known[0] if known else prefix + secrets.token_hex(5)
    if target not in access.store.restricted_collections():
        access.store.set_collection_level(target, "restricted")
        access.store.add_derived(target, source)
        access.audit.append("sathub analytics", "admin.collection.restricted", f"collection:{target}",
                            detail={"reason": f"derived from the restricted collection {source}"})  # fmt: skip
    return target


def parse_inputs(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check and parse a job's parameters without touching the catalog or Dask: the kind, the
    AOI polygons, dates and periods, index, interval and mask. Raises InvalidInput naming the
    field; the API calls it before a job is queued (400), the CLI before a cluster starts."""
    from sathub.analytics.indices import index_spec
    from sathub.analytics.scene import mask_mode
    from sathub.analytics.select import load_zones, parse_day, parse_range
    from sathub.analytics.timeseries import interval_name

    if kind not in KINDS:
        raise InvalidInput(f"unknown job kind {kind!r}; one of {', '.join(KINDS)}", field="kind")
    if params.get("aoi") is None:
        raise InvalidInput(f"a {kind} job needs 'aoi'", field="aoi")
    out: dict[str, Any] = {"zones": load_zones(params["aoi"]),
                           "mask": mask_mode(params.get("mask"))}  # fmt: skip
    if kind in ("flood", "change"):
        out["before"] = parse_range(str(params.get("before") or ""), "before")
        out["after"] = parse_range(str(params.get("after") or ""), "after")
    if kind == "zonal":
        s, e = params.get("from"), params.get("to")
        out["start"] = parse_day(s, field="from") if s else None
        out["end"] = parse_day(e, end=True, field="to") if e else None
        if params.get("interval"):
            interval_name(params["interval"])
    if kind == "composite":
        out["period"] = parse_range(str(params.get("period") or ""), "period")
    if params.get("index") and kind in ("zonal", "change"):
        index_spec(params["index"])
    if params.get("index") and kind == "flood" and params["index"] not in ("mndwi", "ndwi"):
        # any other index ran and mapped "water" from it (ndvi: the vegetation)
        raise InvalidInput(f"a flood map finds water with mndwi or ndwi, not {params['index']!r}",
                           field="index")  # fmt: skip
    return out


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
    from sathub.analytics.select import union

    parsed = parse_inputs(kind, params)
    zones, mask = parsed["zones"], parsed["mask"]
    before: Any = parsed.get("before")
    after: Any = parsed.get("after")
    period: Any = parsed.get("period")
    start, end = parsed.get("start"), parsed.get("end")
    common: dict[str, Any] = {"collection": params["collection"], "mask": mask, "objects": objects}
    output = lineage_output(kind, params, access)
    if output is not None:
        common["output_collection"] = output

    def work(ex: Any) -> dict[str, Any]:
        if kind == "flood":
            from sathub.analytics.flood_job import run_flood

            return run_flood(settings, store, zones=zones, before=before, after=after,
                             index=params.get("index") or "mndwi", executor=ex, cancel=cancel,
                             **common)  # fmt: skip
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


class AnalyticsParams(BaseModel):
    """Parameters of the analytics job kinds (``zonal``, ``flood``, ``change``, ``composite``)."""

    collection: str = Field(max_length=256, description="Source collection.")
    aoi: dict[str, Any] = Field(description="GeoJSON polygon(s), WGS84; `id` property per polygon.")
    index: str | None = Field(default=None, max_length=64, description="Index name (zonal, change, flood).")
    from_: str | None = Field(default=None, alias="from", max_length=40, description="zonal: first day.")
    to: str | None = Field(default=None, max_length=40, description="zonal: last day.")
    interval: str | None = Field(default=None, max_length=16, description="zonal: 10d or month.")
    before: str | None = Field(default=None, max_length=90, description="flood/change: D1/D2.")
    after: str | None = Field(default=None, max_length=90, description="flood/change: D3/D4.")
    period: str | None = Field(default=None, max_length=90, description="composite: D1/D2.")
    bands: list[str] | None = Field(default=None, max_length=32, description="composite: common names.")
    threshold: float | None = Field(default=None, description="change: |difference|.")
    output_collection: str | None = Field(
        default=None, pattern=r"^derived-[A-Za-z0-9._-]{1,200}$",
        description="Where derived items go (flood, change, composite): a collection named "
        "`derived-…` (created when missing); products never go into other collections.")
    mask: Literal["auto", "asset", "spectral", "none"] = Field(
        default="auto", description="Cloud mask: auto (SCL/QA_PIXEL asset if any, else none), "
        "asset, spectral, none.")

    model_config = {"populate_by_name": True, "extra": "forbid"}


class ZonalParams(AnalyticsParams):
    index: str = Field(min_length=1, max_length=64, description="Index name, e.g. ndvi.")


class FloodParams(AnalyticsParams):
    before: str = Field(min_length=1, max_length=90, description="D1/D2: before the flood.")
    after: str = Field(min_length=1, max_length=90, description="D3/D4: after it.")


class ChangeParams(FloodParams):
    pass


class CompositeParams(AnalyticsParams):
    period: str = Field(min_length=1, max_length=90, description="D1/D2.")


PARAMS: dict[str, type[AnalyticsParams]] = {"zonal": ZonalParams, "flood": FloodParams,
                                            "change": ChangeParams, "composite": CompositeParams}  # fmt: skip


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("rows", "intervals")}


def _register(kind: str) -> None:
    def run(params: AnalyticsParams, ctx: JobContext) -> dict[str, Any]:
        inst = ctx.resources
        return run_job(kind, params.model_dump(by_alias=True, exclude_none=True), inst.settings,
                       inst.catalog, objects=inst.objects, scheduler=inst.settings.dask_scheduler,
                       progress=ctx.progress, cancel=ctx.cancel, access=inst.access)  # fmt: skip

    def check(params: AnalyticsParams) -> None:  # bad input is a 400, not a failed job later
        parse_inputs(kind, params.model_dump(by_alias=True, exclude_none=True))

    job_kind(kind, PARAMS[kind], lane="analytics", summary=_summary, check=check)(run)


for _kind in KINDS:
    _register(_kind)
