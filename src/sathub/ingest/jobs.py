"""The ``ingest`` job kind: one batch of paths into one collection, in the background of a
long-lived process (the API server), through :class:`sathub.jobs.JobRunner`. The COG work
itself may use ``workers`` processes; the result is the batch report (per scene: ingested,
replaced, unchanged or failed with the reason), and a batch with failed scenes is a failed job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sathub.jobs import JobContext, job_kind

COLLECTION_ID = r"^[A-Za-z0-9._-]{1,256}$"


class IngestParams(BaseModel):
    paths: list[str] = Field(min_length=1, max_length=10_000, description="Files or folders on the server.")
    collection: str = Field(pattern=COLLECTION_ID,
                            description="Target collection (created if missing); letters, digits, '.', '_', '-'.")  # fmt: skip
    replace: bool = Field(default=False, description="Re-ingest scenes already present.")
    workers: int = Field(default=1, ge=1, le=64, description="Processes writing COGs.")


def _failed(report: dict[str, Any]) -> str | None:
    n = int((report.get("counts") or {}).get("failed", 0))
    return f"{n} scene(s) failed" if n else None


@job_kind("ingest", IngestParams, lane="ingest", failed=_failed)
def run_ingest(params: IngestParams, ctx: JobContext) -> dict[str, Any]:
    from sathub.ingest.pipeline import ingest_paths

    inst = ctx.resources
    done: list[int] = [0]
    total: list[int | None] = [None]

    def progress(_: Any) -> None:
        done[0] += 1
        ctx.progress(done[0], total[0])

    def on_total(n: int) -> None:
        total[0] = n
        ctx.progress(done[0], n)

    report = ingest_paths([Path(p) for p in params.paths], params.collection, inst.settings,
                          inst.catalog, inst.objects, workers=params.workers, replace=params.replace,
                          progress=progress, on_total=on_total)  # fmt: skip
    return report.to_dict()  # type: ignore[no-any-return]


class VerifyParams(BaseModel):
    checksums: bool = Field(default=True, description="Compare checksums too (reads every byte).")


def _verify_summary(report: dict[str, Any]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for p in report.get("problems", []):
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    return {**report, "problems": report.get("problems", [])[:100], "by_kind": kinds}


def _verify_failed(report: dict[str, Any]) -> str | None:
    n = len(report.get("problems", []))
    return None if report.get("ok") else f"{n} problem(s) found"


@job_kind("verify", VerifyParams, lane="ingest", summary=_verify_summary, failed=_verify_failed)
def run_verify(params: VerifyParams, ctx: JobContext) -> dict[str, Any]:
    """``sathub verify`` (without ``--repair``) as a job: every asset's size and checksum, and
    the files no item references; the report lists the problems."""
    from sathub.ingest.verify import verify_archive

    inst = ctx.resources
    done = [0]

    def progress(_: str) -> None:
        done[0] += 1
        ctx.progress(done[0], None)
        ctx.check()

    report = verify_archive(inst.settings, inst.catalog, inst.objects, checksums=params.checksums,
                            progress=progress)  # fmt: skip
    return report.to_dict()
