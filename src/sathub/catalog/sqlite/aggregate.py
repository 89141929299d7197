"""Aggregations in SQL (see :mod:`sathub.catalog.aggregate` for the names and options): each
one ``GROUP BY`` over the same ``WHERE`` as the search, so it sees exactly the items the search
(and the caller's access filter) would return.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sathub.catalog.aggregate import AVAILABLE, DATETIME_FORMATS, check_options
from sathub.catalog.query import FROM, Plan
from sathub.errors import InvalidFilter


def _buckets(rows: list[tuple[Any, int]], data_type: str = "string") -> list[dict[str, Any]]:
    return [
        {"key": key, "data_type": data_type, "frequency": int(n)}
        for key, n in rows
        if key is not None
    ]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_aggregations(conn: sqlite3.Connection, plan: Plan, aggregations: list[str],
                     **options: Any) -> list[dict[str, Any]]:  # fmt: skip
    """The aggregations of the items ``plan`` selects. A filter SQLite cannot evaluate is a
    400, as in search (catalog/query.py ``fetch_page``)."""
    try:
        return _run(conn, plan, aggregations, **options)
    except sqlite3.OperationalError as exc:
        raise InvalidFilter(f"the filter cannot be evaluated: {exc}", field="filter") from exc


def _run(
    conn: sqlite3.Connection,
    plan: Plan,
    aggregations: list[str],
    *,
    datetime_frequency_interval: str = "month",
    geohash_precision: int = 1,
    geotile_precision: int = 0,
) -> list[dict[str, Any]]:
    check_options(aggregations, datetime_frequency_interval, geohash_precision, geotile_precision)
    where, params = plan.where_sql(), plan.params
    base = f"FROM {FROM} WHERE {where}"
    out: list[dict[str, Any]] = []
    for name in aggregations:
        agg: dict[str, Any] = {"name": name, "data_type": AVAILABLE[name]["data_type"]}
        if name == "total_count":
            agg["value"] = conn.execute(f"SELECT count(*) {base}", params).fetchone()[0]
        elif name in ("datetime_min", "datetime_max"):
            fn = "min" if name.endswith("min") else "max"
            agg["value"] = _iso(conn.execute(f"SELECT {fn}(i.dt) {base}", params).fetchone()[0])
        elif name == "collection_frequency":
            rows = conn.execute(
                f"SELECT i.collection, count(*) {base} GROUP BY 1 ORDER BY 2 DESC, 1", params
            ).fetchall()
            agg["buckets"] = _buckets(rows)
        elif name == "datetime_frequency":
            fmt = DATETIME_FORMATS[datetime_frequency_interval]
            rows = conn.execute(
                f"SELECT strftime('{fmt}', i.dt, 'unixepoch'), count(*) {base} GROUP BY 1 ORDER BY 1",
                params,
            ).fetchall()
            agg["buckets"] = _buckets(rows, "datetime")
        elif name == "cloud_cover_frequency":
            rows = conn.execute(
                "SELECT CASE WHEN i.cloud_cover >= 100 THEN 90 "
                "ELSE CAST(i.cloud_cover / 10 AS INTEGER) * 10 END AS b, count(*) "
                f"{base} AND i.cloud_cover IS NOT NULL GROUP BY b ORDER BY b",
                params,
            ).fetchall()
            agg["buckets"] = [
                {"key": f"{b}-{b + 10}", "data_type": "numeric", "frequency": n,
                 "from": b, "to": b + 10}
                for b, n in rows
            ]  # fmt: skip
        elif name in ("geohash_grid_frequency", "centroid_geohash_grid_frequency"):
            rows = conn.execute(
                f"SELECT sathub_geohash((i.minx + i.maxx) / 2, (i.miny + i.maxy) / 2, "
                f"{int(geohash_precision)}) AS g, count(*) {base} GROUP BY g ORDER BY 2 DESC, 1",
                params,
            ).fetchall()
            agg["buckets"] = _buckets(rows)
        elif name == "geotile_grid_frequency":
            rows = conn.execute(
                f"SELECT sathub_geotile((i.minx + i.maxx) / 2, (i.miny + i.maxy) / 2, "
                f"{int(geotile_precision)}) AS g, count(*) {base} GROUP BY g ORDER BY 2 DESC, 1",
                params,
            ).fetchall()
            agg["buckets"] = _buckets(rows)
        out.append(agg)
    return out
