"""Where job records and results are kept: the :class:`JobStore` contract and its embedded
implementation (JSON files in ``DATA/jobs/``, written atomically).

Several processes (API workers, the CLI) may share one store. Each store object is one
*runner*: the records it writes carry its identity (kept by the store, never in the record
it returns), and :meth:`JobStore.is_live` tells whether the runner that last wrote a record is
still alive, so a job another live worker runs is reported as it is while one whose process
died reads as failed. :meth:`JobStore.transition` changes a record only if its status is the
expected one, atomically: a queued job is claimed by exactly one runner, and a job cancelled
by one worker before another claimed it never runs.
"""

from __future__ import annotations

import fcntl
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

from sathub.jobs.records import write_json

RUNNER = "_runner"  # the embedded store's field for the writer's identity (stripped on read)


class JobStore(Protocol):
    """Job records (JSON objects with at least ``id``, ``lane`` and ``status``) and results."""

    def put(self, record: dict[str, Any]) -> None: ...

    def get(self, lane: str, job_id: str) -> dict[str, Any] | None: ...

    def put_result(self, lane: str, job_id: str, result: dict[str, Any]) -> None: ...

    def get_result(self, lane: str, job_id: str) -> dict[str, Any] | None: ...

    def list(self, lane: str | None = None) -> list[dict[str, Any]]: ...

    def transition(self, lane: str, job_id: str, expect: str,
                   fields: dict[str, Any]) -> dict[str, Any] | None:  # fmt: skip
        """``fields`` merged into the record if its status is ``expect``, in one atomic step
        (the record becomes this runner's); the new record, or None (another status, or no
        such job)."""

    def is_live(self, lane: str, job_id: str) -> bool:
        """The runner that last wrote the record is alive (this one, or another process's)."""

    def close(self) -> None: ...


def _valid(lane: str, job_id: str) -> bool:
    return job_id.isascii() and job_id.isalnum() and len(job_id) <= 64 and lane.isalpha()


class FileJobStore:
    """``DATA/jobs/<lane>-<id>.json`` and ``<lane>-<id>.result.json``; a runner is alive while
    its process holds an ``flock`` on ``DATA/jobs/.runners/<runner>.lock``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runner = uuid.uuid4().hex
        self._held: IO[str] | None = None
        self._lock = threading.Lock()

    def _path(self, lane: str, job_id: str, suffix: str = ".json") -> Path | None:
        if not _valid(lane, job_id):
            return None
        return self.root / f"{lane}-{job_id}{suffix}"

    def _runner_lock(self, runner: str) -> Path:
        return self.root / ".runners" / f"{runner}.lock"

    def _alive(self) -> None:
        """Hold this runner's lock (from its first write until :meth:`close`)."""
        if self._held is None:
            path = self._runner_lock(self.runner)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._held = open(path, "a")  # noqa: SIM115 - held until close()
            fcntl.flock(self._held, fcntl.LOCK_EX)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Excludes every other writer of a transition (threads, then processes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def put(self, record: dict[str, Any]) -> None:
        path = self._path(record["lane"], record["id"])
        assert path is not None
        self._alive()
        write_json(path, {**record, RUNNER: self.runner})

    def _read(self, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def get(self, lane: str, job_id: str) -> dict[str, Any] | None:
        doc = self._read(self._path(lane, job_id))
        if doc is not None:
            doc.pop(RUNNER, None)
        return doc

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
                doc.pop(RUNNER, None)
                out.append(doc)
        return sorted(out, key=lambda r: str(r.get("created", "")), reverse=True)

    def transition(self, lane: str, job_id: str, expect: str,
                   fields: dict[str, Any]) -> dict[str, Any] | None:  # fmt: skip
        path = self._path(lane, job_id)
        with self._exclusive():
            doc = self._read(path)
            if doc is None or doc.get("status") != expect:
                return None
            doc.pop(RUNNER, None)
            doc.update(fields)
            self.put(doc)
        return doc

    def is_live(self, lane: str, job_id: str) -> bool:
        doc = self._read(self._path(lane, job_id))
        runner = None if doc is None else doc.get(RUNNER)
        if not isinstance(runner, str) or not runner.isalnum():
            return False
        if runner == self.runner:
            return self._held is not None
        lock = self._runner_lock(runner)
        if not lock.exists():
            return False  # closed: its runner stopped
        try:
            with open(lock, "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True  # its process holds it
                fcntl.flock(fh, fcntl.LOCK_UN)
                return False
        except OSError:
            return False

    def close(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            fcntl.flock(held, fcntl.LOCK_UN)
            held.close()
            self._runner_lock(self.runner).unlink(missing_ok=True)
