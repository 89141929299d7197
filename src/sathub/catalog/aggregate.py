"""Aggregations over a search (STAC API Aggregation extension): the names and options every
catalog store offers (:meth:`sathub.catalog.store.CatalogStore.aggregate`). Each aggregation
sees exactly the items the same search (and the caller's access filter) would return; the
SQLite store computes them in ``catalog/sqlite/aggregate.py``.
"""

from __future__ import annotations

from sathub.errors import InvalidInput

DATETIME_FORMATS = {
    "year": "%Y",
    "month": "%Y-%m",
    "day": "%Y-%m-%d",
    "hour": "%Y-%m-%dT%H",
}

AVAILABLE: dict[str, dict[str, str]] = {
    "total_count": {"data_type": "integer", "description": "Number of matching items"},
    "collection_frequency": {"data_type": "frequency_distribution", "description": "Items per collection"},
    "datetime_frequency": {"data_type": "frequency_distribution", "description": "Items per datetime interval (datetime_frequency_interval: year, month, day, hour)"},
    "datetime_min": {"data_type": "datetime", "description": "Earliest datetime"},
    "datetime_max": {"data_type": "datetime", "description": "Latest datetime"},
    "cloud_cover_frequency": {"data_type": "frequency_distribution", "description": "Histogram of eo:cloud_cover in 10% buckets"},
    "geohash_grid_frequency": {"data_type": "frequency_distribution", "description": "Item centres per geohash cell (geohash_grid_frequency_precision 1-12)"},
    "geotile_grid_frequency": {"data_type": "frequency_distribution", "description": "Item centres per WebMercator tile (geotile_grid_frequency_precision = zoom 0-29)"},
    "centroid_geohash_grid_frequency": {"data_type": "frequency_distribution", "description": "Alias of geohash_grid_frequency"},
}  # fmt: skip


def check_options(
    aggregations: list[str], datetime_frequency_interval: str, geohash_precision: int,
    geotile_precision: int,
) -> None:
    """InvalidInput naming the field for an unknown aggregation or an option out of range."""
    for name in aggregations:
        if name not in AVAILABLE:
            raise InvalidInput(
                f"unknown aggregation {name!r}; available: {sorted(AVAILABLE)}",
                field="aggregations",
            )
    if "datetime_frequency" in aggregations and datetime_frequency_interval not in DATETIME_FORMATS:
        raise InvalidInput(
            f"datetime_frequency_interval must be one of {sorted(DATETIME_FORMATS)}",
            field="datetime_frequency_interval",
        )
    geohash = {"geohash_grid_frequency", "centroid_geohash_grid_frequency"}
    if geohash & set(aggregations) and not 1 <= geohash_precision <= 12:
        raise InvalidInput(
            "geohash_grid_frequency_precision must be 1..12",
            field="geohash_grid_frequency_precision",
        )
    if "geotile_grid_frequency" in aggregations and not 0 <= geotile_precision <= 29:
        raise InvalidInput(
            "geotile_grid_frequency_precision must be 0..29",
            field="geotile_grid_frequency_precision",
        )
