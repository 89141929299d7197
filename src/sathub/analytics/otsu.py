"""Otsu's threshold (Otsu 1979) with a bimodality check and a documented fallback.

:func:`otsu_threshold` is the histogram form (256 bins over the data range, the threshold
is a bin centre — the same convention as ``skimage.filters.threshold_otsu``): it maximises
the between-class variance w₀·w₁·(μ₀ − μ₁)².

:func:`water_threshold` applies it to a water index (MNDWI/NDWI) and checks that the
histogram is bimodal enough for the split to mean "water vs land":

* each class holds at least ``min_class_fraction`` (default 1 %) of the valid pixels, and
* Otsu's own separability measure η = σ²_between / σ²_total (Otsu 1979) is at least
  ``min_separability`` (default 0.8): one normal mode split in two gives η ≈ 0.64 and a
  uniform distribution 0.75, while water/land histograms of real scenes give 0.85–0.98.
  Ashman's D of the two classes is reported too (for information).

If either check fails (a scene with hardly any water, or all water) the fixed threshold of
the index's authors is used instead: 0.0 for both NDWI (McFeeters 1996) and MNDWI (Xu 2006).
The result says which threshold was used and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FALLBACK_WATER_THRESHOLD = 0.0
MIN_CLASS_FRACTION = 0.01
MIN_SEPARABILITY = 0.8


def otsu_threshold(values: np.ndarray, nbins: int = 256) -> float:
    """Otsu threshold of the finite values (pixels > threshold form the upper class)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite values")
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return lo
    hist, edges = np.histogram(v, bins=nbins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    hist = hist.astype(np.float64)
    w0 = np.cumsum(hist)
    w1 = np.cumsum(hist[::-1])[::-1]
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1e-300)
    m1 = (np.cumsum((hist * centres)[::-1]) / np.maximum(w1[::-1], 1e-300))[::-1]
    between = w0[:-1] * w1[1:] * (m0[:-1] - m1[1:]) ** 2
    return float(centres[int(np.argmax(between))])


@dataclass(frozen=True)
class Threshold:
    value: float
    method: str  # "otsu" | "fallback"
    otsu: float | None  # the Otsu value even when it was rejected
    ashman_d: float | None
    separability: float | None
    lower_fraction: float | None
    reason: str | None = None  # why the fallback was used

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def bimodality(values: np.ndarray, t: float) -> tuple[float, float, float]:
    """(Ashman's D, Otsu separability η, fraction of values ≤ t) of the split at ``t``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    low, high = v[v <= t], v[v > t]
    frac = low.size / v.size if v.size else math.nan
    if low.size < 2 or high.size < 2:
        return 0.0, 0.0, frac
    var = low.var() + high.var()
    d = math.sqrt(2) * abs(low.mean() - high.mean()) / math.sqrt(var) if var > 0 else math.inf
    total = v.var()
    between = frac * (1 - frac) * (low.mean() - high.mean()) ** 2
    eta = between / total if total > 0 else 0.0
    return float(d), float(eta), float(frac)


def water_threshold(
    index_values: np.ndarray,
    *,
    fallback: float = FALLBACK_WATER_THRESHOLD,
    min_class_fraction: float = MIN_CLASS_FRACTION,
    min_separability: float = MIN_SEPARABILITY,
) -> Threshold:
    """Threshold separating water (above) from land in a water index (see module doc)."""
    v = np.asarray(index_values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size < 100:
        return Threshold(
            fallback, "fallback", None, None, None, None, "fewer than 100 valid pixels"
        )
    t = otsu_threshold(v)
    d, eta, frac = bimodality(v, t)
    reason = None
    if min(frac, 1 - frac) < min_class_fraction:
        reason = f"one class holds {100 * min(frac, 1 - frac):.2f} % of the pixels"
    elif eta < min_separability:
        reason = f"histogram not bimodal enough (separability {eta:.2f} < {min_separability})"
    if reason:
        return Threshold(fallback, "fallback", t, d, eta, frac, reason)
    return Threshold(t, "otsu", t, d, eta, frac, None)
