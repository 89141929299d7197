"""The demo's story, end to end: what ``sathub demo`` runs on the archive it has just built.

1. **Rice near Mandalay**: NDVI per paddy field and month over 2024 (exact zonal statistics
   on every scene, clouds masked by the spectral test: the synthetic scenes have no SCL),
   written as ``demo/story/rice_ndvi_monthly.csv`` with the
   season curve as ``rice_ndvi.png``; and the cloud-free NDVI median composite of the peak
   month (September) as a derived item, so the season's peak is on the map as tiles.
2. **The Ayeyarwady delta flood**: flood extent after the event minus permanent water, with
   its area in km², as a derived item (class COG + flooded polygons), on the map as tiles.

The summary (``demo/story/story.json``) is printed by the CLI; the derived items appear in
the viewer (``/viewer``) like any scene. Idempotent: a second run finds ``story.json`` and
does nothing. It runs on an :class:`~sathub.app.Installation`'s catalog and Dask executor.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sathub.config import Settings
from sathub.errors import SathubError
from sathub.ingest.demo import FLOOD, RICE

if TYPE_CHECKING:
    from sathub.app.installation import Installation

DEMO_MASK = "spectral"  # the synthetic scenes have clouds and shadows but no mask asset
PEAK_MONTH = (datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 9, 30, 23, 59, 59, tzinfo=UTC))
FLOOD_BEFORE = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 31, 23, 59, 59, tzinfo=UTC))
FLOOD_AFTER = (datetime(2024, 8, 1, tzinfo=UTC), datetime(2024, 8, 20, 23, 59, 59, tzinfo=UTC))


def story_dir(settings: Settings) -> Path:
    return settings.layout.root / "demo" / "story"


def season_curve(intervals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean NDVI over the fields observed in each month, with how many were observed."""
    by_month: dict[str, list[float]] = defaultdict(list)
    for row in intervals:
        month = str(row["datetime"])[:7]
        v = row.get("mean")
        if isinstance(v, float) and not math.isnan(v):
            by_month[month].append(v)
        else:
            by_month.setdefault(month, [])
    return [
        {"month": m, "mean_ndvi": (sum(v) / len(v)) if v else None, "fields_observed": len(v)}
        for m, v in sorted(by_month.items())
    ]


def run_story(inst: Installation, *, workers: int = 2) -> dict[str, Any]:
    """Run the story's analytics (see the module docstring); returns the summary."""
    from sathub.analytics.composite import run_composite
    from sathub.analytics.flood_job import run_flood
    from sathub.analytics.select import load_zones, union
    from sathub.analytics.zonal_job import chart, run_zonal, write_rows
    from sathub.catalog.store import SearchQuery

    settings, store = inst.settings, inst.catalog
    out = story_dir(settings)
    summary_file = out / "story.json"
    if summary_file.exists():
        return json.loads(summary_file.read_text())  # type: ignore[no-any-return]
    out.mkdir(parents=True, exist_ok=True)
    with inst.executor(n_workers=workers) as ex:
        fields = load_zones(settings.layout.root / "demo" / "fields.geojson")
        # the demo's synthetic scenes carry no SCL: the story asks for the spectral test
        zonal = run_zonal(settings, store, ex, collection=RICE, zones=fields, index="ndvi",
                          interval="month", mask=DEMO_MASK, objects=inst.objects)  # fmt: skip
        write_rows(zonal["intervals"], out / "rice_ndvi_monthly.csv", "csv")
        chart(zonal["intervals"], out / "rice_ndvi.png",
              "NDVI of rice fields near Mandalay, 2024 (monthly)", "ndvi")  # fmt: skip
        # the peak composite over the whole scene (the fields alone would be a sparse map)
        rice_scene = store.search(SearchQuery(collections=[RICE], limit=1), count=False).items
        peak = run_composite(settings, store, ex, collection=RICE,
                             aoi_wgs84=union(load_zones(rice_scene[0]["geometry"])),
                             period=PEAK_MONTH, what=("ndvi",), mask=DEMO_MASK,
                             objects=inst.objects)  # fmt: skip

        # the delta AOI: the footprint of the flood-peak scene
        scenes = store.search(SearchQuery(collections=[FLOOD], start=FLOOD_AFTER[0],
                                          end=FLOOD_AFTER[1], limit=1), count=False).items  # fmt: skip
        if not scenes:
            raise SathubError(f"no {FLOOD} scene in the flood period")
        delta = load_zones({"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": scenes[0]["id"], "geometry": scenes[0]["geometry"],
             "properties": {"id": "Bogale delta"}}]})  # fmt: skip
        flood = run_flood(settings, store, collection=FLOOD, zones=delta, before=FLOOD_BEFORE,
                          after=FLOOD_AFTER, executor=ex, mask=DEMO_MASK,
                          objects=inst.objects)  # fmt: skip
    zone = flood["zones"][0]
    summary = {
        "rice": {
            "collection": RICE,
            "fields": len(fields),
            "scenes": zonal["scenes"],
            "season": season_curve(zonal["intervals"]),
            "table": str(out / "rice_ndvi_monthly.csv"),
            "chart": str(out / "rice_ndvi.png"),
            "peak_composite": {"collection": peak["item"]["collection"], "id": peak["item"]["id"]},
        },
        "flood": {
            "collection": FLOOD,
            "aoi": zone["id"],
            "flooded_km2": zone["flooded_km2"],
            "unobserved_km2": zone["unobserved_km2"],
            "area_km2": zone["area_km2"],
            "item": {"collection": flood["item"]["collection"], "id": flood["item"]["id"]},
        },
    }
    tmp = summary_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(summary_file)  # written last: its presence means the story is complete
    return summary


def describe(summary: dict[str, Any]) -> str:
    """The story in a few lines for the terminal."""
    rice, flood = summary["rice"], summary["flood"]
    curve = ", ".join(
        f"{s['month'][5:]}: {s['mean_ndvi']:.2f}" if s["mean_ndvi"] is not None
        else f"{s['month'][5:]}: cloudy"
        for s in rice["season"]
    )  # fmt: skip
    pc, fi = rice["peak_composite"], flood["item"]
    return (
        f"rice near Mandalay — mean NDVI of {rice['fields']} fields by month (2024): {curve}\n"
        f"  table {rice['table']}, chart {rice['chart']}, "
        f"peak composite {pc['collection']}/{pc['id']}\n"
        f"Ayeyarwady delta flood — {flood['flooded_km2']:.1f} km² flooded of "
        f"{flood['area_km2']:.1f} km² ({flood['unobserved_km2']:.1f} km² unobserved): "
        f"{fi['collection']}/{fi['id']}"
    )
