"""Where job records and results are kept: the :class:`JobStore` contract and its embedded
implementation (JSON files in ``DATA/jobs/``, written atomically)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from sathub.jobs.records import write_json


class JobStore(Protocol):
    """Job records (JSON objects with at least ``id``, ``lane`` and ``status``) and results."""

    def put(self, record: dict[str, Any]) -> None: ...

    def get(self, lane: str, job_id: str) -> dict[str, Any] | None: ...

    def put_result(self, lane: str, job_id: str, result: dict[str, Any]) -> None: ...

    def get_result(self, lane: str, job_id: str) -> dict[str, Any] | None: ...

    def list(self, lane: str | None = None) -> list[dict[str, Any]]: ...


class FileJobStore:
    """``DATA/jobs/<lane>-<id>.json`` and ``<lane>-<id>.result.json``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, lane: str, job_id: str, suffix: str = ".json") -> Path | None:
        if not (job_id.isascii() and job_id.isalnum() and len(job_id) <= 64 and lane.isalpha()):
            return None
        return self.root / f"{lane}-{job_id}{suffix}"

    def put(self, record: dict[str, Any]) -> None:
        path = self._path(record["lane"], record["id"])
        assert path is not None
        write_json(path, record)

    def _read(self, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def get(self, lane: str, job_id: str) -> dict[str, Any] | None:
        return self._read(self._path(lane, job_id))

    def put_result(self, lane: str, job_id: str, result: dict[str, Any]) -> None:
        path = self._path(lane, job_id, ".result.json")
        assert path is not None
        write_json(path, result)

    def get_result(self, lane: str, job_id: str) -> dict[str, Any] | None:
        return self._read(self._path(lane, job_id, ".result.json"))

    def list(self, lane: str | None = None) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.root.glob(f"{lane or '*'}-*.json")):
            if path.name.endswith(".result.json") or ".tmp" in path.name:
                continue
            doc = self._read(path)
            if doc is not None and "id" in doc:
                out.append(doc)
        return sorted(out, key=lambda r: str(r.get("created", "")), reverse=True)
