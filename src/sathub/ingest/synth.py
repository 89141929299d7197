"""Building blocks of the synthetic demo imagery: smooth noise, spectra, phenology, sun.

Reflectances are surface reflectance (0–1) in the Sentinel-2 L2A 20 m bands
B02 (blue), B03 (green), B04 (red), B8A (nir08), B11 (swir16), B12 (swir22); values are
typical library/field values for the Ayeyarwady basin (turbid river water, red dry-zone
soils, rice canopy) rather than measurements.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

BANDS = [
    ("B02", "blue", 0.490, 0.098),
    ("B03", "green", 0.560, 0.045),
    ("B04", "red", 0.665, 0.038),
    ("B8A", "nir08", 0.865, 0.033),
    ("B11", "swir16", 1.610, 0.143),
    ("B12", "swir22", 2.190, 0.242),
]

SPECTRA: dict[str, np.ndarray] = {
    k: np.array(v, dtype=np.float32)
    for k, v in {
        "river": [0.070, 0.090, 0.085, 0.045, 0.020, 0.012],  # turbid, sediment-laden
        "paddy_water": [0.060, 0.080, 0.080, 0.060, 0.030, 0.020],  # shallow muddy water
        "green_veg": [0.030, 0.075, 0.035, 0.420, 0.210, 0.100],
        "senescent": [0.060, 0.090, 0.110, 0.300, 0.300, 0.200],
        "soil": [0.110, 0.150, 0.200, 0.260, 0.340, 0.280],  # dry-zone red soil / stubble
        "forest": [0.025, 0.050, 0.030, 0.320, 0.160, 0.070],
        "mangrove": [0.025, 0.045, 0.028, 0.280, 0.130, 0.055],
        "urban": [0.120, 0.130, 0.140, 0.190, 0.220, 0.200],
        "cloud": [0.550, 0.550, 0.560, 0.580, 0.420, 0.300],
    }.items()
}


def smooth_noise(
    rng: np.random.Generator, h: int, w: int, cell: int, octaves: int = 3
) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise: bilinear-upsampled random grids, ``octaves`` scales."""
    out = np.zeros((h, w), dtype=np.float32)
    amp = 1.0
    for _ in range(octaves):
        gh, gw = h // cell + 2, w // cell + 2
        g = rng.standard_normal((gh, gw)).astype(np.float32)
        y, x = np.arange(h) / cell, np.arange(w) / cell
        y0, x0 = y.astype(int), x.astype(int)
        fy, fx = (y - y0)[:, None], (x - x0)[None, :]
        top = g[y0][:, x0] * (1 - fx) + g[y0][:, x0 + 1] * fx
        bot = g[y0 + 1][:, x0] * (1 - fx) + g[y0 + 1][:, x0 + 1] * fx
        out += amp * (top * (1 - fy) + bot * fy)
        amp *= 0.5
        cell = max(2, cell // 2)
    return out / 1.3


def logistic(t: np.ndarray | float, mid: float, width: float) -> np.ndarray:
    z = np.clip(-(np.asarray(t, dtype=np.float32) - mid) / width, -60, 60)
    return 1.0 / (1.0 + np.exp(z))


def rice_state(
    doy: float, transplant: np.ndarray, peak_cover: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monsoon rice on day-of-year ``doy`` for fields transplanted on ``transplant``.

    Returns (green canopy fraction, senescent fraction, flooded-background fraction).
    Land is prepared and flooded ~3 weeks before transplanting; the canopy grows for ~50
    days (logistic, mid-point +35 d), peaks ~+60–80 d (NDVI ~0.8), yellows from ~+95 d and is
    harvested ~+115 d, leaving dry stubble.
    """
    t = doy - transplant
    grow = logistic(t, 35.0, 8.0) * peak_cover
    ripen = logistic(t, 100.0, 6.0)
    harvested = logistic(t, 116.0, 3.0)
    canopy = (grow * (1 - harvested)).astype(np.float32)
    green = canopy * (1 - ripen)
    senescent = canopy * ripen + 0.10 * harvested  # stubble
    flooded = (logistic(t, -20.0, 3.0) * (1 - logistic(t, 90.0, 5.0))).astype(np.float32)
    fallow = 0.06 * (1 - logistic(t, -20.0, 3.0))  # dry-season weeds
    return green + fallow, senescent, flooded


def sun_angles(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Solar (azimuth°, elevation°) — NOAA approximation, good to ~0.5°."""
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60 + when.second / 3600
    g = 2 * math.pi / 365 * (doy - 1 + (hour - 12) / 24)
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    eqt = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    tst = hour * 60 + eqt + 4 * lon
    ha = math.radians(tst / 4 - 180)
    la = math.radians(lat)
    cos_z = math.sin(la) * math.sin(decl) + math.cos(la) * math.cos(decl) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_z)))
    az = math.degrees(
        math.atan2(math.sin(ha), math.cos(ha) * math.sin(la) - math.tan(decl) * math.cos(la))
    )
    return (az + 180) % 360, 90 - math.degrees(zen)


def clouds(
    rng: np.random.Generator, h: int, w: int, cover_pct: float, shift: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cloud opacity 0–1, cloud mask, shadow mask) for about ``cover_pct`` % cloud."""
    if cover_pct <= 0.5:
        z = np.zeros((h, w), dtype=np.float32)
        return z, z.astype(bool), z.astype(bool)
    n = smooth_noise(rng, h, w, max(8, w // 6), octaves=4)
    thr = np.quantile(n, 1 - cover_pct / 100)
    opacity = np.clip((n - thr) / 0.25, 0, 1).astype(np.float32)
    mask = opacity > 0.3
    dy, dx = shift
    shadow = np.zeros_like(mask)
    shadow[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    shadow &= ~mask
    return opacity, mask, shadow


def to_dn(refl: np.ndarray, nodata_mask: np.ndarray | None = None) -> np.ndarray:
    """Reflectance → uint16 DN (×10 000, as L2A with scale 0.0001); 0 is nodata."""
    dn = np.clip(np.rint(refl * 10000), 1, 65535).astype(np.uint16)
    if nodata_mask is not None:
        dn[:, nodata_mask] = 0
    return dn
