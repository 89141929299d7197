"""Aggregations (pgstac has none) as SQL over pgstac's ``items`` table, each a ``GROUP BY``
under the WHERE clause pgstac's ``stac_search_to_where`` makes from the same search body, so it
sees exactly the items the search (and the caller's access filter) returns. Names, options and
answers are those of :mod:`sathub.catalog.aggregate`; keys are computed as the SQLite store's
(geohash of the bbox centre: PostGIS's ``ST_GeoHash``; WebMercator tiles: the same formula)."""

from __future__ import annotations

from typing import Any

import psycopg

from sathub.catalog.aggregate import AVAILABLE, check_options

PG_FORMATS = {"year": "YYYY", "month": "YYYY-MM", "day": "YYYY-MM-DD", "hour": 'YYYY-MM-DD"T"HH24'}
CC = ("CASE WHEN jsonb_typeof(content->'properties'->'eo:cloud_cover') = 'number' "
      "THEN (content->'properties'->>'eo:cloud_cover')::float8 END")  # fmt: skip
CX = "((ST_XMin(geometry) + ST_XMax(geometry)) / 2)"
CY = "((ST_YMin(geometry) + ST_YMax(geometry)) / 2)"


def _buckets(rows: list[tuple[Any, ...]], data_type: str = "string") -> list[dict[str, Any]]:
    return [{"key": k, "data_type": data_type, "frequency": int(n)} for k, n in rows if k is not None]


def run_aggregations(
    conn: psycopg.Connection[Any], where: str, aggregations: list[str], *,
    datetime_frequency_interval: str = "month", geohash_precision: int = 1,
    geotile_precision: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    check_options(aggregations, datetime_frequency_interval, geohash_precision, geotile_precision)
    base = f"FROM items WHERE {where}"
    out: list[dict[str, Any]] = []

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return list(conn.execute(sql).fetchall())  # type: ignore[arg-type]

    for name in aggregations:
        agg: dict[str, Any] = {"name": name, "data_type": AVAILABLE[name]["data_type"]}
        if name == "total_count":
            agg["value"] = int(rows(f"SELECT count(*) {base}")[0][0])
        elif name in ("datetime_min", "datetime_max"):
            fn = "min" if name.endswith("min") else "max"
            agg["value"] = rows(
                f"SELECT to_char({fn}(datetime) AT TIME ZONE 'UTC', "
                f"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') {base}")[0][0]  # fmt: skip
        elif name == "collection_frequency":
            agg["buckets"] = _buckets(
                rows(f"SELECT collection, count(*) {base} GROUP BY 1 ORDER BY 2 DESC, 1"))
        elif name == "datetime_frequency":
            fmt = PG_FORMATS[datetime_frequency_interval]
            agg["buckets"] = _buckets(rows(
                f"SELECT to_char(datetime AT TIME ZONE 'UTC', '{fmt}'), count(*) {base} "
                "GROUP BY 1 ORDER BY 1"), "datetime")  # fmt: skip
        elif name == "cloud_cover_frequency":
            found = rows(
                f"SELECT CASE WHEN {CC} >= 100 THEN 90 ELSE floor({CC} / 10)::int * 10 END AS b, "
                f"count(*) {base} AND {CC} IS NOT NULL GROUP BY b ORDER BY b")  # fmt: skip
            agg["buckets"] = [{"key": f"{b}-{b + 10}", "data_type": "numeric", "frequency": int(n),
                               "from": b, "to": b + 10} for b, n in found]  # fmt: skip
        elif name in ("geohash_grid_frequency", "centroid_geohash_grid_frequency"):
            agg["buckets"] = _buckets(rows(
                f"SELECT ST_GeoHash(ST_MakePoint({CX}, {CY}), {int(geohash_precision)}) AS g, "
                f"count(*) {base} GROUP BY g ORDER BY 2 DESC, 1"))  # fmt: skip
        elif name == "geotile_grid_frequency":
            z = int(geotile_precision)
            lat = f"radians(greatest(least({CY}, 85.05112878), -85.05112878))"
            x = f"least(floor(({CX} + 180.0) / 360.0 * 2 ^ {z})::bigint, (2 ^ {z})::bigint - 1)"
            y = (f"least(floor((1.0 - asinh(tan({lat})) / pi()) / 2.0 * 2 ^ {z})::bigint, "
                 f"(2 ^ {z})::bigint - 1)")  # fmt: skip
            agg["buckets"] = _buckets(rows(
                f"SELECT '{z}/' || {x} || '/' || {y} AS g, count(*) {base} "
                "GROUP BY g ORDER BY 2 DESC, 1"))  # fmt: skip
        out.append(agg)
    return out
