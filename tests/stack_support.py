"""Helpers of the tests that run sathub as real processes (tests/test_stack_*.py): HTTP calls,
job polling, a load generator that records every answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

TERMINAL = ("succeeded", "failed", "cancelled")


def wait_job(get: Callable[[], httpx.Response], timeout_s: float = 300) -> dict[str, Any]:
    """Poll a job (``get`` answers its record) until it is finished."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        r = get()
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job still {job['status']} after {timeout_s} s")


def wait_until(cond: Callable[[], Any], timeout_s: float = 60, what: str = "condition") -> Any:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what}: not true after {timeout_s} s")


class Load:
    """``threads`` clients requesting ``paths`` (GET, round robin) until stopped; every
    answer's status (or the exception's name) is kept."""

    def __init__(self, base: str, paths: list[str], threads: int = 4,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.base, self.paths, self.headers = base, paths, headers or {}
        self.results: list[tuple[str, int | str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]  # fmt: skip

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=120) as c:
            n = i
            while not self._stop.is_set():
                path = self.paths[n % len(self.paths)]
                n += 1
                try:
                    status: int | str = c.get(path).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self._lock:
                    self.results.append((path, status))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self.threads:
            t.join(180)

    def count(self) -> int:
        with self._lock:
            return len(self.results)
