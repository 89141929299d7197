"""Default renderings of STAC items: what a map shows when nobody chose bands or a stretch.

Pure functions of an item's metadata (no pixels read). They produce render objects of the
STAC render extension (``renders``), which the API turns into web-map links (``xyz``,
``tilejson``, ``wmts``) whose URLs carry the same parameters, so a client that only follows a
link (STAC Browser, QGIS) draws the same picture as one that reads ``renders``.

The rules:

* **Bands.** True colour (red, green, blue by ``eo:bands`` common name) when one asset holds
  all three; otherwise the asset's first three bands for a 3- or 4-band file (an RGB(A)
  image), else its first band. Items with one file per band are drawn from a single band:
  the red one when there is one (sathub's tiler reads one asset per tile).
* **Classes.** A one-band classification raster (``classification:classes``, or role
  ``classification`` with at most 32 integer values) gets a colour per class: the classes'
  colour hints, else Okabe & Ito's colour-blind-safe palette; no stretch.
* **Stretch.** From the recorded ``raster:bands`` statistics: mean ± 2 standard deviations,
  clipped to the band's minimum and maximum; the bands of a colour composite share one range
  so colours stay balanced. Applied to every 16-bit, 32-bit and floating-point band, and to
  8-bit bands whose range so found spans less than half the byte range (e.g. Level-1 digital
  numbers); 8-bit data that already use most of it are drawn as they are. Without statistics, integer
  data are drawn as they are and floating-point data stretched over 0…1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

RENDER_EXTENSION = "https://stac-extensions.github.io/render/v2.0.0/schema.json"
WEB_MAP_LINKS_EXTENSION = "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json"
ITEM_ASSETS_EXTENSION = "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json"
SIGMAS = 2.0  # half-width of the stretch, in standard deviations
TRUE_COLOUR = ("red", "green", "blue")
MAX_CLASSES = 32  # a classification raster with more values is stretched like any other
PALETTE = [  # Okabe & Ito's colour-blind-safe qualitative palette, RGBA
    [230, 159, 0, 255], [86, 180, 233, 255], [0, 158, 115, 255], [240, 228, 66, 255],
    [0, 114, 178, 255], [213, 94, 0, 255], [204, 121, 167, 255], [153, 153, 153, 255],
]  # fmt: skip
Range = tuple[float, float]


def _bands(asset: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = asset.get(key)
    return [b if isinstance(b, dict) else {} for b in value] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def band_range(band: dict[str, Any]) -> Range | None:
    """Mean ± ``SIGMAS`` σ of one ``raster:bands`` entry, clipped to its minimum and maximum
    (None without usable statistics)."""
    stats = band.get("statistics")
    if not isinstance(stats, dict):
        return None
    lo_v, hi_v = _number(stats.get("minimum")), _number(stats.get("maximum"))
    mean, std = _number(stats.get("mean")), _number(stats.get("stddev"))
    if mean is not None and std is not None:
        lo, hi = mean - SIGMAS * std, mean + SIGMAS * std
        lo = max(lo, lo_v) if lo_v is not None else lo
        hi = min(hi, hi_v) if hi_v is not None else hi
    elif lo_v is not None and hi_v is not None:
        lo, hi = lo_v, hi_v
    else:
        return None
    if hi <= lo:  # a constant band, or statistics that disagree
        lo, hi = (lo_v, hi_v) if lo_v is not None and hi_v is not None and hi_v > lo_v else (lo, lo + 1)
    return lo, hi


def _needs_stretch(data_type: str | None, rng: Range | None) -> bool:
    if data_type in (None, "uint8"):
        # 8-bit: stretch only data whose range spans less than half of the byte range
        return rng is not None and rng[1] - rng[0] < 128
    return True


def _round(rng: Range, integer: bool) -> list[float]:
    """Outward to integers, or for floats to about four significant digits of the span (the
    rounded range always contains the exact one)."""
    lo, hi = rng
    if integer:
        return [float(math.floor(lo)), float(math.ceil(hi))]
    exp = math.floor(math.log10(hi - lo)) - 3
    step = 10.0**exp
    digits = max(0, -exp)
    r_lo, r_hi = round(math.floor(lo / step) * step, digits), round(math.ceil(hi / step) * step, digits)
    return [min(r_lo, lo), max(r_hi, hi)]


def stretch(raster_bands: Sequence[dict[str, Any]]) -> list[float] | None:
    """One display range ``[min, max]`` shared by these bands, or None to draw them as they are."""
    if not raster_bands:
        return None
    types = {b.get("data_type") for b in raster_bands}
    data_type = next(iter(types)) if len(types) == 1 else "float64"
    ranges = [band_range(b) for b in raster_bands]
    known = [r for r in ranges if r is not None]
    if len(known) < len(ranges):
        if isinstance(data_type, str) and data_type.startswith("float"):
            return [0.0, 1.0]
        return None
    rng = (min(r[0] for r in known), max(r[1] for r in known))
    if not _needs_stretch(data_type if isinstance(data_type, str) else None, rng):
        return None
    integer = isinstance(data_type, str) and "int" in data_type
    return _round(rng, integer)


def _true_colour(eo_bands: list[dict[str, Any]]) -> list[int] | None:
    index = {b.get("common_name"): i for i, b in enumerate(eo_bands, start=1)}
    if all(c in index for c in TRUE_COLOUR):
        return [index[c] for c in TRUE_COLOUR]
    return None


def _hex(colour: Any) -> list[int] | None:
    text = str(colour or "").lstrip("#")
    if len(text) != 6:
        return None
    try:
        return [int(text[i : i + 2], 16) for i in (0, 2, 4)] + [255]
    except ValueError:
        return None


def class_colormap(asset: dict[str, Any]) -> dict[str, list[int]] | None:
    """Colours of a classification raster (one band): the ``classification:classes`` colour
    hints where given, else a colour-blind-safe palette (Okabe–Ito) over its integer values
    (``role: classification``, at most ``MAX_CLASSES`` values between the band's minimum and
    maximum). None for other rasters."""
    raster = _bands(asset, "raster:bands")
    if len(raster) != 1:
        return None
    band = raster[0]
    classes = band.get("classification:classes") or asset.get("classification:classes")
    if isinstance(classes, list) and classes:
        values = [c.get("value") for c in classes if isinstance(c, dict)]
        hints = [_hex(c.get("color_hint")) for c in classes if isinstance(c, dict)]
    elif "classification" in (asset.get("roles") or []) and "int" in str(band.get("data_type", "")):
        stats = band.get("statistics") or {}
        lo, hi = _number(stats.get("minimum")), _number(stats.get("maximum"))
        if lo is None or hi is None or hi - lo >= MAX_CLASSES:
            return None
        values, hints = list(range(int(lo), int(hi) + 1)), []
    else:
        return None
    out: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        if isinstance(value, int) and not isinstance(value, bool):
            hint = hints[i] if i < len(hints) else None
            out[str(value)] = hint or PALETTE[i % len(PALETTE)]
    return out or None


def asset_render(key: str, asset: dict[str, Any]) -> dict[str, Any]:
    """The default render object of one raster asset (see the module docstring)."""
    colormap = class_colormap(asset)
    if colormap:
        return {"title": f"{asset.get('title') or key} (classes)", "assets": [key], "colormap": colormap}
    eo = _bands(asset, "eo:bands")
    raster = _bands(asset, "raster:bands")
    count = max(len(eo), len(raster))
    rgb = _true_colour(eo)
    bidx = rgb or ([1, 2, 3] if count in (3, 4) else [1])
    names = [str(eo[i - 1].get("name") or "") for i in bidx] if len(eo) >= max(bidx) else []
    if rgb:
        title = "True colour" + (f" ({', '.join(names)})" if all(names) else "")
    elif len(bidx) == 3:
        title = "Bands 1, 2, 3 as red, green, blue"
    else:
        band = eo[0] if eo else {}
        label = band.get("common_name") or band.get("name")
        title = f"{asset.get('title') or key}" + (f" ({label})" if label and label != key else "")
    render: dict[str, Any] = {"title": title, "assets": [key]}
    if count > 1 or rgb:
        render["bidx"] = bidx
        if names and all(names):
            render["bands"] = [names]
    used = [raster[i - 1] for i in bidx if i - 1 < len(raster)]
    rng = stretch(used)
    if rng is not None:
        render["rescale"] = [rng for _ in bidx]
    return render


def _pick_default(keys: Sequence[str], assets: dict[str, Any]) -> str:
    """Among single-asset renders: the asset whose bands include red, else the first."""
    for key in keys:
        if any(b.get("common_name") == "red" for b in _bands(assets[key], "eo:bands")):
            return key
    return keys[0]


def item_renders(item: dict[str, Any], raster_keys: Sequence[str]) -> tuple[dict[str, Any], str | None]:
    """``(renders, default key)`` of an item whose assets ``raster_keys`` the tiler can read.

    A colour composite of one asset is keyed ``truecolor`` (or ``rgb``); a single-band
    rendering is keyed by its asset key. The default is the composite when there is one, else
    the red band, else the first asset.
    """
    raw = item.get("assets")
    assets: dict[str, Any] = raw if isinstance(raw, dict) else {}
    keys = [k for k in raster_keys if isinstance(assets.get(k), dict)]
    if not keys:
        return {}, None
    renders: dict[str, Any] = {}
    default: str | None = None
    for key in keys:
        render = asset_render(key, assets[key])
        if len(render.get("bidx", [])) == 3 and default is None:
            name = "truecolor" if render["title"].startswith("True colour") else "rgb"
            renders[name] = render
            default = name
        else:
            renders[key] = render
    if default is None:
        default = _pick_default(keys, assets)
    return renders, default


def query_params(render: dict[str, Any], asset: bool = True) -> list[tuple[str, str]]:
    """Tile-request query parameters (sathub's tiler, rio-tiler names) of a single-asset render
    (``asset=False``: without the asset key, for mosaics, which choose it per item)."""
    params: list[tuple[str, str]] = [("asset", str(render["assets"][0]))] if asset else []
    params += [("bidx", str(int(b))) for b in render.get("bidx") or []]
    for lo, hi in render.get("rescale") or []:
        params.append(("rescale", f"{_fmt(lo)},{_fmt(hi)}"))
    for key in ("colormap_name", "resampling", "expression"):
        if isinstance(render.get(key), str):
            params.append((key, render[key]))
    if isinstance(render.get("colormap"), dict):
        params.append(("colormap", json.dumps(render["colormap"], separators=(",", ":"))))
    return params


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))
