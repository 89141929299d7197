"""The zonal time-series job and its outputs (CSV, JSON, Parquet, PNG chart)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sathub.analytics.errors import NoData
from sathub.analytics.executor import Executor
from sathub.analytics.indices import index_spec
from sathub.analytics.scene import mask_mode
from sathub.analytics.select import Zone, find_items, union
from sathub.analytics.timeseries import (
    COLUMNS,
    SceneTask,
    aggregate,
    interval_name,
    scene_rows_batch,
)
from sathub.catalog.store import CatalogStore
from sathub.config import Settings


def run_zonal(
    settings: Settings,
    store: CatalogStore,
    executor: Executor,
    *,
    collection: str,
    zones: list[Zone],
    index: str,
    start: datetime | None = None,
    end: datetime | None = None,
    interval: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    mask: str = "auto",
) -> dict[str, Any]:
    """Rows per polygon per scene (and per interval when ``interval`` is given); ``mask`` is
    the cloud mask choice (:data:`sathub.analytics.scene.MASK_MODES`)."""
    spec = index_spec(index)
    mask = mask_mode(mask)
    if interval:
        interval = interval_name(interval)
    items = find_items(store, collection, union(zones), start, end)
    if not items:
        raise NoData(f"no scene of {collection!r} intersects the AOI in the period")
    tasks = [SceneTask(it, spec.name, tuple(zones), settings.layout.assets, mask=mask)
             for it in items]  # fmt: skip
    # a few scenes per Dask task: small AOIs take milliseconds per scene, less than a
    # task's scheduling overhead; large AOIs still spread over every worker
    per = max(1, min(8, len(tasks) // (4 * executor.n_workers)))
    batches = [tasks[i : i + per] for i in range(0, len(tasks), per)]
    done_batches = executor.map(scene_rows_batch, batches, progress=progress, cancel=cancel)
    results = [r for batch in done_batches for r in batch]
    rows = [r for res in results for r in res["rows"]]
    skipped = [{"item_id": r["item_id"], "reason": r["skipped"]} for r in results if r["skipped"]]
    if not rows and skipped:
        raise NoData(f"no scene could be used: {skipped[0]['reason']}")
    if not rows:
        raise NoData("the AOI touches no data of the selected scenes")
    out: dict[str, Any] = {
        "collection": collection,
        "index": spec.name,
        "mask": mask,
        "scenes": len(items),
        "skipped": skipped,
        "rows": rows,
    }
    if interval:
        out["interval"] = interval
        out["intervals"] = aggregate(rows, interval)
    return out


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def table(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], columns=list(COLUMNS))


def write_rows(rows: list[dict[str, Any]], path: Path | None, fmt: str) -> str | None:
    """CSV, JSON (NaN → null) or Parquet to ``path``; CSV/JSON returned as text when no path."""
    if fmt == "json":
        text = json.dumps([{c: _clean(r.get(c)) for c in COLUMNS} for r in rows], indent=1)
        if path is None:
            return text
        path.write_text(text)
        return None
    df = table(rows)
    if fmt == "csv":
        text = df.to_csv(index=False)
        if path is None:
            return text
        path.write_text(text)
        return None
    if fmt == "parquet":
        if path is None:
            raise ValueError("parquet needs an output file")
        df.to_parquet(path, index=False)
        return None
    raise ValueError(f"unknown format {fmt!r}")


def chart(rows: list[dict[str, Any]], path: Path, title: str, index: str, max_lines: int = 12,
          band: bool = True) -> None:  # fmt: skip
    """PNG line chart: mean per polygon over time (±1 std band), at most ``max_lines``
    polygons, plus the mean over all polygons when there are more."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    df = table(rows)
    df["datetime"] = pd.to_datetime(df["datetime"], utc=True, format="ISO8601")
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    ids = list(dict.fromkeys(df["id"]))
    for zid in ids[:max_lines]:
        d = df[df["id"] == zid].sort_values("datetime")
        ax.plot(d["datetime"], d["mean"], marker="o", ms=3, lw=1, label=str(zid))
        if band and len(ids) <= 3:
            ax.fill_between(d["datetime"], d["mean"] - d["std"], d["mean"] + d["std"], alpha=0.15)
    if len(ids) > max_lines:
        m = df.groupby("datetime")["mean"].mean()
        ax.plot(m.index, m.values, color="black", lw=2.5, label=f"mean of {len(ids)} polygons")
    ax.set_ylabel(index.upper())
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
