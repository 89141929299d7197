"""Spectral indices as pure, vectorised functions of surface reflectance (0–1).

Every function takes NumPy arrays or xarray DataArrays of *reflectance* (scale/offset already
applied, see :mod:`sathub.analytics.bands`) and broadcasts; nodata is NaN in, NaN out.
A zero denominator gives NaN (never ±inf). Results are float32 for float32 input.

References
----------
* NDVI  — Rouse et al. 1974: (NIR − red) / (NIR + red)
* EVI   — Huete et al. 2002: 2.5 (NIR − red) / (NIR + 6 red − 7.5 blue + 1)
* SAVI  — Huete 1988: (1 + L)(NIR − red) / (NIR + red + L), L = 0.5
* NDWI  — McFeeters 1996: (green − NIR) / (green + NIR)
* MNDWI — Xu 2006: (green − SWIR1) / (green + SWIR1)
* NDBI  — Zha et al. 2003: (SWIR1 − NIR) / (SWIR1 + NIR)
* NBR   — Key & Benson 2006: (NIR − SWIR2) / (NIR + SWIR2)

Band names are STAC ``eo:bands`` common names; ``nir`` accepts ``nir08`` when a scene has
no broad NIR band (Sentinel-2 B8A, Landsat OLI B5), see :data:`ALIASES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

A = TypeVar("A")  # numpy.ndarray or xarray.DataArray


def _div(num: Any, den: Any) -> Any:
    """num / den with NaN where den == 0 (no warnings, no inf); keeps xarray metadata."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    if hasattr(out, "dims"):  # xarray.DataArray
        return out.where(den != 0)
    return np.where(den != 0, out, np.nan)


def normalized_difference(a: A, b: A) -> A:
    """(a − b) / (a + b)."""
    return _div(a - b, a + b)  # type: ignore[operator]


def ndvi(red: A, nir: A) -> A:
    """Normalized Difference Vegetation Index, −1…1 (green vegetation ≈ 0.3–0.9)."""
    return normalized_difference(nir, red)


def evi(
    blue: A, red: A, nir: A, g: float = 2.5, c1: float = 6.0, c2: float = 7.5, l: float = 1.0
) -> A:
    """Enhanced Vegetation Index (MODIS coefficients)."""
    return _div(g * (nir - red), nir + c1 * red - c2 * blue + l)  # type: ignore[operator]


def savi(red: A, nir: A, l: float = 0.5) -> A:
    """Soil-Adjusted Vegetation Index, soil factor ``l`` (0.5 for intermediate cover)."""
    return _div((1 + l) * (nir - red), nir + red + l)  # type: ignore[operator]


def ndwi(green: A, nir: A) -> A:
    """Normalized Difference Water Index (McFeeters 1996); water > 0."""
    return normalized_difference(green, nir)


def mndwi(green: A, swir16: A) -> A:
    """Modified NDWI (Xu 2006) with SWIR1 (~1.6 µm); water > 0, suppresses built-up noise."""
    return normalized_difference(green, swir16)


def ndbi(swir16: A, nir: A) -> A:
    """Normalized Difference Built-up Index; built-up > 0."""
    return normalized_difference(swir16, nir)


def nbr(nir: A, swir22: A) -> A:
    """Normalized Burn Ratio; dNBR = NBR_before − NBR_after measures burn severity."""
    return normalized_difference(nir, swir22)


@dataclass(frozen=True)
class IndexSpec:
    name: str
    bands: tuple[str, ...]  # common names, in the function's argument order
    func: Callable[..., Any]
    description: str


INDICES: dict[str, IndexSpec] = {
    s.name: s
    for s in (
        IndexSpec("ndvi", ("red", "nir"), ndvi, "vegetation vigour"),
        IndexSpec("evi", ("blue", "red", "nir"), evi, "vegetation, less saturated than NDVI"),
        IndexSpec("savi", ("red", "nir"), savi, "vegetation over bright soil"),
        IndexSpec("ndwi", ("green", "nir"), ndwi, "open water (McFeeters 1996)"),
        IndexSpec("mndwi", ("green", "swir16"), mndwi, "open water (Xu 2006)"),
        IndexSpec("ndbi", ("swir16", "nir"), ndbi, "built-up areas"),
        IndexSpec("nbr", ("nir", "swir22"), nbr, "burn severity"),
    )
}

ALIASES: dict[str, tuple[str, ...]] = {
    "nir": ("nir", "nir08"),
    "nir08": ("nir08", "nir"),
    "swir16": ("swir16",),
    "swir22": ("swir22",),
}
"""Common names tried, in order, for each band an index asks for."""


def index_spec(name: str) -> IndexSpec:
    from sathub.errors import InvalidInput

    try:
        return INDICES[name.lower()]
    except KeyError:
        raise InvalidInput(
            f"unknown index {name!r}; known: {', '.join(sorted(INDICES))}", field="index"
        ) from None


def compute(name: str, bands: dict[str, Any]) -> Any:
    """Index ``name`` from reflectances keyed by common name (as :data:`INDICES` lists)."""
    spec = index_spec(name)
    return spec.func(*(bands[b] for b in spec.bands))
