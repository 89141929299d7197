"""Background jobs: kinds (a pydantic parameter model and one function each), the runner the
API, the CLI and the console submit through, and the store that keeps the records."""

from sathub.jobs.records import clean_json, now_iso, write_json
from sathub.jobs.runner import KINDS, Cancelled, JobContext, JobKind, JobRunner, job_kind, kind
from sathub.jobs.store import FileJobStore, JobStore

__all__ = ["KINDS", "Cancelled", "FileJobStore", "JobContext", "JobKind", "JobRunner", "JobStore",
           "clean_json", "job_kind", "kind", "now_iso", "write_json"]  # fmt: skip
