"""The demo story end to end (what `sathub demo` runs after building the archive): the rice
season curve per field and month, the peak-NDVI composite and the delta flood, as derived
items served as map tiles; checked against the generator's ground truth."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image

from sathub.catalog.store import SearchQuery
from sathub.config import Settings

SIZE = 300  # px, as the other analytics tests (the demo designs at 1000 px and scales)


@pytest.fixture(scope="module")
def story() -> Iterator[tuple[Settings, dict[str, Any]]]:
    from sathub.app import Installation
    from sathub.app.demo import build
    from sathub.app.story import run_story
    from sathub.ingest import demo

    mp = pytest.MonkeyPatch()
    mp.setattr(demo, "SIZE", SIZE)
    root = Path(tempfile.mkdtemp(prefix="sathub-story-"))
    try:
        settings = Settings(data=root / "data")
        with Installation.create(settings) as inst:
            assert build(inst, seed=42, workers=1).ok
            summary = run_story(inst, workers=1)
        yield settings, summary
    finally:
        mp.undo()
        shutil.rmtree(root, ignore_errors=True)


def test_rice_season_curve_follows_the_generated_crop_calendar(story) -> None:  # type: ignore[no-untyped-def]
    settings, summary = story
    rice = summary["rice"]
    season = {s["month"]: s["mean_ndvi"] for s in rice["season"] if s["mean_ndvi"] is not None}
    # fallow dry season low, flooded for transplanting lower still, peak in the monsoon
    peak = max(season, key=lambda m: season[m])
    assert peak in ("2024-08", "2024-09", "2024-10"), season
    assert season[peak] > 0.6
    dry = [v for m, v in season.items() if m <= "2024-04"]
    assert dry and max(dry) < 0.35
    # the CSV holds a row per field per month, named by the field's id, with the columns asked
    rows = list(csv.DictReader(io.StringIO(Path(rice["table"]).read_text())))
    fields = json.loads((settings.layout.root / "demo" / "fields.geojson").read_text())["features"]
    assert rice["fields"] == len(fields)
    assert {"id", "datetime", "mean", "median", "std", "min", "max", "count", "valid_fraction"} <= set(rows[0])
    assert len({r["id"] for r in rows}) == len(fields)
    # the curve is the mean of the table's monthly means
    sept = [float(r["mean"]) for r in rows if r["datetime"].startswith("2024-09") and r["mean"]]
    assert season["2024-09"] == pytest.approx(sum(sept) / len(sept), rel=1e-9)
    with Image.open(rice["chart"]) as png:
        assert png.format == "PNG" and png.width > 300


def test_flood_area_matches_the_generated_truth(story) -> None:  # type: ignore[no-untyped-def]
    settings, summary = story
    flood = summary["flood"]
    with rasterio.open(settings.layout.root / "demo" / "flood_truth.tif") as src:
        truth = src.read(1)
        cell_km2 = abs(src.transform.a * src.transform.e) / 1e6
    true_flood = float((truth == 1).sum()) * cell_km2
    hidden = float((truth == 255).sum()) * cell_km2
    # what the map calls flooded is the truth's flood water minus what clouds hid, within 10 %
    assert true_flood - hidden - 0.1 * true_flood <= flood["flooded_km2"] <= true_flood * 1.1
    assert flood["area_km2"] > flood["flooded_km2"] > 0


def test_derived_items_are_searchable_and_served_as_tiles(story) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from sathub.api.app import create_app

    settings, summary = story
    with TestClient(create_app(settings)) as client:
        # the flood map shows water only (dry land is transparent); the composite covers all
        for ref, painted in ((summary["flood"]["item"], 0.02), (summary["rice"]["peak_composite"], 0.2)):
            base = f"/collections/{ref['collection']}/items/{ref['id']}"
            item = client.get(base)
            assert item.status_code == 200, item.text
            tj = client.get(f"{base}/tiles/WebMercatorQuad/tilejson.json")
            assert tj.status_code == 200, tj.text
            url = tj.json()["tiles"][0]
            z = tj.json()["maxzoom"]  # full resolution: a tile inside the item
            lon, lat = (np.array(item.json()["bbox"][:2]) + np.array(item.json()["bbox"][2:])) / 2
            t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
            path = url.split("://", 1)[-1].split("/", 1)[1]
            path = "/" + path.replace("{z}", str(z)).replace("{x}", str(t.x)).replace("{y}", str(t.y))
            tile = client.get(path)
            assert tile.status_code == 200, (path, tile.text[:300])
            with Image.open(io.BytesIO(tile.content)) as img:
                assert img.size == (256, 256)
                alpha = np.asarray(img.convert("RGBA"))[..., 3]
                assert (alpha > 0).mean() > painted, ref  # the item's pixels, not an empty tile


def test_second_run_does_nothing(story) -> None:  # type: ignore[no-untyped-def]
    from sathub.app import Installation
    from sathub.app.story import run_story

    settings, summary = story
    with Installation.open(settings) as inst:
        derived = SearchQuery(collections=["derived-flood", "derived-composite"], limit=100)
        before = inst.catalog.search(derived).matched
        assert run_story(inst, workers=1) == summary
        after = inst.catalog.search(derived).matched
    assert before == after == 2
