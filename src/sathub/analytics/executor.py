"""The job executor: Dask, embedded or remote.

* default: an embedded ``distributed.LocalCluster`` started for the job and closed after it
  (``n_workers`` processes with one thread each; ``processes=False`` runs threads in this
  process, which starts faster and suits small jobs);
* ``scheduler="tcp://host:8786"`` (CLI ``--scheduler``, setting ``SATHUB_DASK_SCHEDULER``): the
  same tasks on an existing Dask cluster. Its workers need sathub installed and the data
  directory at the same path (shared filesystem), since tasks read assets by path.

:meth:`Executor.map` submits one task per input, reports each completion to ``progress``
and stops (cancelling what is left) when ``cancel`` is set.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, Self

from sathub import jobs
from sathub.analytics.errors import AnalyticsError

class Cancelled(AnalyticsError, jobs.Cancelled):
    """The job was cancelled."""


class Executor:
    def __init__(
        self,
        scheduler: str | None = None,
        *,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        processes: bool = False,
    ) -> None:
        self.scheduler = scheduler or None
        self.n_workers = n_workers or min(2, os.cpu_count() or 1)
        self.threads_per_worker = threads_per_worker
        self.processes = processes
        self.client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> Self:
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout="5s")
            except OSError as exc:
                raise AnalyticsError(
                    f"cannot reach the Dask scheduler {self.scheduler}: {exc}"
                ) from exc
        else:
            self._cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=self.threads_per_worker,
                processes=self.processes,
                dashboard_address=None,
                silence_logs=40,
            )
            self.client = Client(self._cluster)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def map(
        self,
        fn: Callable[[Any], Any],
        tasks: Iterable[Any],
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Any]:
        """``[fn(t) for t in tasks]`` on the cluster, in input order."""
        from distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return []
        futures = self.client.map(fn, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(tasks)
        done = 0
        try:
            for fut in as_completed(futures):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("the job was cancelled")
                results[index[fut.key]] = fut.result()
                done += 1
                if progress:
                    progress(done, len(tasks))
        except BaseException:
            self.client.cancel(futures)
            raise
        return results
