"""The demo archive's generator: a synthetic, deterministic Earth-observation archive over
Myanmar, written as raw scenes (GeoTIFF + ``.sathub.json`` sidecar) that the demo
(:mod:`sathub.app.demo`) ingests through the same path as real data. Nothing is downloaded.
Two collections, from a seed:

* ``demo-mandalay-rice`` — 18 Sentinel-2-like L2A scenes through 2024 over irrigated paddy
  near Kyaukse, south of Mandalay (UTM 47N, 20 m). Fields are transplanted late June – July,
  green up, peak (NDVI ≈ 0.8) in late August – September and are harvested in late October –
  November; the dry season is fallow. Monsoon scenes are cloudy. ``demo/fields.geojson``
  holds every paddy field with its transplanting day (ground truth for analytics).
* ``demo-ayeyarwady-flood`` — 4 scenes over the delta near Bogale (UTM 46N, 20 m): dry
  season, pre-flood, flood peak, receding. ``demo/flood_truth.tif`` is the known flood mask
  of the peak date: 0 dry, 1 flood water, 2 permanent water, 255 hidden by cloud/shadow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from sathub.ingest import synth
from sathub.ingest.synth import SPECTRA

RICE = "demo-mandalay-rice"
FLOOD = "demo-ayeyarwady-flood"
SIZE = 800  # pixels per side (16 km at 20 m); shapes are designed at 1000 px and scale
RES = 20.0  # metres
FIELD = 20  # paddy field size in pixels (400 m)
CLOUD_CLIMATE = [4, 4, 6, 12, 28, 55, 65, 65, 50, 28, 10, 5]  # Mandalay, % by month
RICE_DATES = [
    datetime(2024, 1, 8, 4, 5, 31, tzinfo=UTC) + timedelta(days=20 * i) for i in range(18)
]
FLOOD_DATES = [
    (datetime(2024, 2, 20, 4, 11, 2, tzinfo=UTC), 2.0, "dry"),
    (datetime(2024, 7, 25, 4, 11, 9, tzinfo=UTC), 20.0, "pre-flood"),
    (datetime(2024, 8, 9, 4, 11, 1, tzinfo=UTC), 15.0, "flood"),
    (datetime(2024, 8, 29, 4, 11, 5, tzinfo=UTC), 25.0, "receding"),
]


@dataclass
class Aoi:
    name: str
    epsg: int
    lon: float
    lat: float
    relative_orbit: int

    def grid(self) -> tuple[Any, float, float]:
        x, y = Transformer.from_crs(4326, self.epsg, always_xy=True).transform(self.lon, self.lat)
        x0 = round((x - SIZE * RES / 2) / RES) * RES
        y0 = round((y + SIZE * RES / 2) / RES) * RES
        return from_origin(x0, y0, RES, RES), x0, y0


MANDALAY = Aoi("Kyaukse, Mandalay Region", 32647, 96.13, 21.60, 104)
DELTA = Aoi("Bogale, Ayeyarwady Region", 32646, 95.40, 16.25, 61)


# ----------------------------------------------------------------------------- scenes
def _sidecar(
    when: datetime, platform: str, cloud: float, aoi: Aoi, extra: dict[str, Any]
) -> dict[str, Any]:
    az, el = synth.sun_angles(when, aoi.lon, aoi.lat)
    return {
        "datetime": when.isoformat().replace("+00:00", "Z"),
        "platform": platform,
        "constellation": "sentinel-2",
        "instrument": "msi",
        "processing_level": "L2A",
        "cloud_cover": round(cloud, 2),
        "scale": 0.0001,
        "offset": 0.0,
        "nodata": 0,
        "bands": [
            {"name": n, "common_name": c, "center_wavelength": w, "full_width_half_max": f}
            for n, c, w, f in synth.BANDS
        ],
        "properties": {
            "sat:orbit_state": "descending",
            "sat:relative_orbit": aoi.relative_orbit,
            "view:sun_azimuth": round(az, 2),
            "view:sun_elevation": round(el, 2),
            "view:off_nadir": 0.0,
            "sathub:synthetic": True,
            "sathub:demo_aoi": aoi.name,
            **extra,
        },
    }


def _write(
    path: Path, dn: np.ndarray, transform: Any, epsg: int, sidecar: dict[str, Any] | None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=dn.shape[-1],
        height=dn.shape[-2],
        count=dn.shape[0],
        dtype=dn.dtype,
        crs=f"EPSG:{epsg}",
        transform=transform,
        nodata=0 if sidecar else 255,
        compress="deflate",
        tiled=True,
    ) as dst:
        dst.write(dn)
    if sidecar is not None:
        path.with_name(path.name + ".sathub.json").write_text(json.dumps(sidecar, indent=1))


def _compose(
    base: np.ndarray,
    texture: np.ndarray,
    rng: np.random.Generator,
    opacity: np.ndarray,
    shadow: np.ndarray,
) -> np.ndarray:
    """Surface (6,h,w) + texture, noise, cloud shadow and cloud → TOA-like L2A reflectance."""
    refl = (
        base
        * (1 + 0.04 * texture)[None]
        * (1 + 0.015 * rng.standard_normal(base.shape[1:]).astype(np.float32))[None]
    )
    refl = np.where(shadow[None], refl * 0.3 + 0.01, refl)
    cloud = SPECTRA["cloud"][:, None, None] * (0.9 + 0.1 * opacity)[None]
    return refl * (1 - opacity[None]) + cloud * opacity[None]


def _swath_edge(h: int, w: int, k: int) -> np.ndarray:
    """Nodata wedge of a scene at the edge of the swath (west side, slanted)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return xx < (0.25 + 0.1 * (k % 3)) * w - 0.3 * yy


def rice_landcover(rng: np.random.Generator) -> dict[str, np.ndarray]:
    h = w = SIZE
    k = SIZE / 1000  # shapes are designed at 1000 px and scale with SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    river = np.abs(
        xx - (0.3 * w + 40 * k * np.sin(yy / (90.0 * k)) + 15 * k * np.sin(yy / (23.0 * k)))
    ) < max(2, 9 * k)
    canal = (np.abs(yy - 0.55 * h) < 2) & (xx > 0.3 * w)
    town = (xx - 0.62 * w) ** 2 + (yy - 0.3 * h) ** 2 < (70 * k) ** 2
    hills = xx > 0.86 * w + 30 * k * synth.smooth_noise(rng, h, w, max(8, int(120 * k)))
    fid = (yy // FIELD) * (w // FIELD + 1) + xx // FIELD
    bund = (yy % FIELD == 0) | (xx % FIELD == 0)
    paddy = ~(river | canal | town | hills | bund)
    n_fields = int(fid.max()) + 1
    transplant = (188 + 9 * rng.standard_normal(n_fields)).astype(np.float32)
    peak = np.clip(0.9 + 0.05 * rng.standard_normal(n_fields), 0.75, 0.98).astype(np.float32)
    cultivated = rng.random(n_fields) > 0.08
    return {
        "river": river | canal,
        "town": town,
        "hills": hills,
        "paddy": paddy,
        "fid": fid,
        "transplant": transplant,
        "peak": peak,
        "cultivated": cultivated,
    }


def rice_scene(
    lc: dict[str, np.ndarray], when: datetime, k: int, rng: np.random.Generator, texture: np.ndarray
) -> tuple[np.ndarray, float]:
    h = w = SIZE
    doy = when.timetuple().tm_yday
    fid = lc["fid"]
    cult = lc["cultivated"][fid]
    green, sen, flooded = synth.rice_state(doy, lc["transplant"][fid], lc["peak"][fid])
    green = np.where(cult, green, 0.06)
    sen = np.where(cult, sen, 0.0)
    flooded = np.where(cult, flooded, 0.0)
    bg = (
        SPECTRA["soil"][:, None, None] * (1 - flooded)[None]
        + SPECTRA["paddy_water"][:, None, None] * flooded[None]
    )
    base = (
        bg * (1 - green - sen)[None]
        + SPECTRA["green_veg"][:, None, None] * green[None]
        + SPECTRA["senescent"][:, None, None] * sen[None]
    )
    monsoon = float(synth.logistic(doy, 150, 10) * (1 - synth.logistic(doy, 300, 10)))
    forest = SPECTRA["forest"] * (0.85 + 0.15 * monsoon) + SPECTRA["soil"] * 0.1 * (1 - monsoon)
    base = np.where(lc["hills"][None], forest[:, None, None], base)
    base = np.where(lc["town"][None], SPECTRA["urban"][:, None, None], base)
    base = np.where(
        lc["paddy"][None] | lc["hills"][None] | lc["town"][None],
        base,
        (0.5 * SPECTRA["soil"] + 0.5 * SPECTRA["green_veg"])[:, None, None],
    )
    base = np.where(lc["river"][None], SPECTRA["river"][:, None, None], base)
    climate = CLOUD_CLIMATE[when.month - 1]
    cover = float(np.clip(climate + 10 * rng.standard_normal(), 0, 95))
    opacity, cmask, shadow = synth.clouds(rng, h, w, cover, (12, 18))
    refl = _compose(base, texture, rng, opacity, shadow)
    edge = _swath_edge(h, w, k) if k % 3 == 2 else None
    valid = ~edge if edge is not None else np.ones((h, w), bool)
    actual = 100.0 * float((cmask & valid).sum()) / float(valid.sum())
    return synth.to_dn(refl, edge), actual


def fields_geojson(lc: dict[str, np.ndarray], transform: Any, epsg: int) -> dict[str, Any]:
    tr = Transformer.from_crs(epsg, 4326, always_xy=True)
    feats = []
    ncols = SIZE // FIELD + 1
    for f in range(int(lc["fid"].max()) + 1):
        r, c = divmod(f, ncols)
        r0, c0 = r * FIELD + 1, c * FIELD + 1
        r1, c1 = min((r + 1) * FIELD, SIZE), min((c + 1) * FIELD, SIZE)
        if r1 - r0 < 5 or c1 - c0 < 5:
            continue
        block = lc["paddy"][r0:r1, c0:c1]
        if block.mean() < 0.98:
            continue  # touches river, town or hills
        corners = [(c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0)]
        ring = [[round(v, 7) for v in tr.transform(*(transform * p))] for p in corners[::-1]]
        feats.append(
            {
                "type": "Feature",
                "id": f,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "field_id": int(f),
                    "crop": "rice" if lc["cultivated"][f] else "fallow",
                    "transplant_doy": round(float(lc["transplant"][f]), 1),
                    "peak_cover": round(float(lc["peak"][f]), 3),
                },
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def flood_landcover(rng: np.random.Generator) -> dict[str, np.ndarray]:
    h = w = SIZE
    k = SIZE / 1000  # shapes are designed at 1000 px and scale with SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.full((h, w), 1e9, dtype=np.float32)
    channels = np.zeros((h, w), bool)
    for cx, amp, per, width in ((0.2, 50, 140, 14), (0.55, 70, 180, 22), (0.85, 40, 110, 10)):
        centre = cx * w + amp * k * np.sin(yy / (per * k)) + 0.15 * (yy - h / 2)
        d = np.abs(xx - centre) / k  # in 1000-px-design pixels (20 m)
        channels |= d < width
        dist = np.minimum(dist, d)
    elevation = (
        1.5
        + 0.012 * np.minimum(dist, 250)
        + 0.6 * synth.smooth_noise(rng, h, w, max(8, int(90 * k)))
    )
    mangrove = (
        yy > 0.82 * h + 40 * k * synth.smooth_noise(rng, h, w, max(8, int(150 * k)))
    ) & ~channels
    villages = np.zeros((h, w), bool)
    for _ in range(14):
        vy, vx = rng.integers(0, h), rng.integers(0, w)
        villages |= (yy - vy) ** 2 + (xx - vx) ** 2 < (rng.integers(8, 20) * k) ** 2
    villages &= ~channels & (elevation > 2.4)
    return {
        "channels": channels,
        "elevation": elevation.astype(np.float32),
        "mangrove": mangrove,
        "villages": villages,
    }


FLOOD_LEVEL = {"dry": 0.0, "pre-flood": 1.0, "flood": 2.9, "receding": 2.2}


def flood_scene(
    lc: dict[str, np.ndarray],
    when: datetime,
    stage: str,
    cloud: float,
    rng: np.random.Generator,
    texture: np.ndarray,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    h = w = SIZE
    doy = when.timetuple().tm_yday
    transplant = np.full((h, w), 165.0, dtype=np.float32)
    green, sen, flooded_paddy = synth.rice_state(doy, transplant, np.full((h, w), 0.85, np.float32))
    bg = (
        SPECTRA["soil"][:, None, None] * (1 - flooded_paddy)[None]
        + SPECTRA["paddy_water"][:, None, None] * flooded_paddy[None]
    )
    base = (
        bg * (1 - green - sen)[None]
        + SPECTRA["green_veg"][:, None, None] * green[None]
        + SPECTRA["senescent"][:, None, None] * sen[None]
    )
    base = np.where(lc["mangrove"][None], SPECTRA["mangrove"][:, None, None], base)
    base = np.where(
        lc["villages"][None],
        (0.6 * SPECTRA["urban"] + 0.4 * SPECTRA["forest"])[:, None, None],
        base,
    )
    water = lc["channels"].copy()
    flood = (lc["elevation"] < FLOOD_LEVEL[stage]) & ~lc["channels"] & ~lc["villages"]
    flood_water = SPECTRA["river"] * 1.1 + 0.02 * SPECTRA["green_veg"]
    base = np.where(flood[None], flood_water[:, None, None], base)
    base = np.where(water[None], SPECTRA["river"][:, None, None], base)
    opacity, cmask, shadow = synth.clouds(rng, h, w, cloud, (10, 16))
    refl = _compose(base, texture, rng, opacity, shadow)
    actual = 100.0 * float(cmask.mean())
    truth = np.where(water, 2, np.where(flood, 1, 0)).astype(np.uint8)
    truth[cmask | shadow] = 255
    return synth.to_dn(refl), actual, truth, flood


# ----------------------------------------------------------------------------- build
def collection_doc(cid: str, title: str, description: str, keywords: list[str]) -> dict[str, Any]:
    from sathub.ingest.metadata import EXT

    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": [EXT["eo"], EXT["raster"], EXT["proj"]],
        "id": cid,
        "title": title,
        "description": description,
        "license": "CC-BY-4.0",
        "keywords": ["Myanmar", "synthetic", "demo", "Sentinel-2", *keywords],
        "providers": [
            {
                "name": "sathub demo generator",
                "roles": ["producer", "processor"],
                "description": "Synthetic data; deterministic from a seed.",
            }
        ],
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[None, None]]},
        },
        "summaries": {
            "constellation": ["sentinel-2"],
            "platform": ["sentinel-2a", "sentinel-2b"],
            "instruments": ["msi"],
            "gsd": [RES],
            "processing:level": ["L2A"],
            "eo:bands": [
                {"name": n, "common_name": c, "center_wavelength": cw, "full_width_half_max": f}
                for n, c, cw, f in synth.BANDS
            ],
        },
        "links": [],
    }


def generate(root: Path, seed: int) -> list[tuple[str, Path]]:
    """Write the raw demo scenes (GeoTIFF + sidecar) and ground truth under ``root``."""
    rng = np.random.default_rng(seed)
    raw = root / "raw"
    transform, _, _ = MANDALAY.grid()
    lc = rice_landcover(rng)
    texture = synth.smooth_noise(rng, SIZE, SIZE, 12, octaves=2)
    for k, when in enumerate(RICE_DATES):
        platform = "sentinel-2a" if k % 2 == 0 else "sentinel-2b"
        dn, cover = rice_scene(lc, when, k, rng, texture)
        sid = f"S2{platform[-1].upper()}_MSIL2A_{when:%Y%m%dT%H%M%S}_R{MANDALAY.relative_orbit:03d}_KYAUKSE"
        _write(
            raw / RICE / f"{sid}.tif",
            dn,
            transform,
            MANDALAY.epsg,
            _sidecar(when, platform, cover, MANDALAY, {}),
        )
    (root / "fields.geojson").write_text(json.dumps(fields_geojson(lc, transform, MANDALAY.epsg)))
    transform, _, _ = DELTA.grid()
    lc = flood_landcover(rng)
    texture = synth.smooth_noise(rng, SIZE, SIZE, 12, octaves=2)
    for k, (when, cloud, stage) in enumerate(FLOOD_DATES):
        platform = "sentinel-2a" if k % 2 == 0 else "sentinel-2b"
        dn, cover, truth, _ = flood_scene(lc, when, stage, cloud, rng, texture)
        sid = f"S2{platform[-1].upper()}_MSIL2A_{when:%Y%m%dT%H%M%S}_R{DELTA.relative_orbit:03d}_BOGALE"
        _write(
            raw / FLOOD / f"{sid}.tif",
            dn,
            transform,
            DELTA.epsg,
            _sidecar(when, platform, cover, DELTA, {"sathub:demo_stage": stage}),
        )
        if stage == "flood":
            _write(root / "flood_truth.tif", truth[None], transform, DELTA.epsg, None)
    return [(RICE, raw / RICE), (FLOOD, raw / FLOOD)]


#: The demo's collections: id, title, description, keywords.
COLLECTIONS = [
    (RICE, "Demo: rice near Mandalay (synthetic)",
     "Synthetic Sentinel-2-like L2A time series of 2024 over irrigated monsoon paddy near "
     "Kyaukse, Mandalay Region, Myanmar. Ground truth fields in demo/fields.geojson.",
     ["rice", "agriculture", "NDVI"]),
    (FLOOD, "Demo: Ayeyarwady delta flood (synthetic)",
     "Synthetic Sentinel-2-like L2A scenes before, during and after a monsoon flood near "
     "Bogale, Ayeyarwady Region, Myanmar. Known flood mask in demo/flood_truth.tif.",
     ["flood", "delta"]),
]  # fmt: skip
