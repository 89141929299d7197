"""Cloud and cloud-shadow masks. ``True`` means *do not use this pixel*.

Which mask a job uses is the caller's choice (``--mask`` / the job's ``mask`` field, see
:func:`sathub.analytics.scene.load_scene`): ``auto`` (the default) uses the scene's own mask
asset — Sentinel-2 L2A ``SCL`` (:func:`scl_invalid`) or Landsat Collection 2 ``QA_PIXEL``
(:func:`qa_pixel_invalid`) — when it has one and masks nothing otherwise; ``asset`` insists
on the mask asset; ``spectral`` runs the spectral test :func:`spectral_invalid`; ``none``
masks nothing. The spectral test never runs unless asked: on a clear scene it removes dark
water and bright roofs along with clouds.

The spectral test is deliberately simple (the brightness and darkness tests that open
ACCA/Fmask, not Fmask itself):

* cloud  : blue > 0.16 and SWIR1 > 0.10 (thick and medium cloud; bright soil and
  urban surfaces stay below 0.16 in blue; snow is dark in SWIR1 and is kept);
* shadow : blue < 0.05 and NIR < 0.16 (dark in every band, unlike water, which is brighter
  in blue, and vegetation, which is bright in NIR) — shadowed water is masked too;
* both are grown by ``dilate_px`` pixels (default 2) to catch thin cloud edges.

It is tuned on typical reflectances of tropical scenes (``sathub.ingest.synth``) and can
miss thin cirrus, haze over water and shadows on dark forest. Use a mask asset when the
provider ships one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SCL_INVALID = frozenset({0, 1, 3, 8, 9, 10})
"""SCL classes masked: no data, saturated/defective, cloud shadow, cloud medium and high
probability, thin cirrus. (2 dark area, 4 vegetation, 5 bare soil, 6 water, 7 unclassified,
11 snow/ice are kept.)"""

QA_PIXEL_BITS = {"fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "cloud_shadow": 4}
"""Landsat Collection 2 QA_PIXEL bits masked (bit numbers)."""

CLOUD_BLUE_MIN = 0.16
CLOUD_SWIR16_MIN = 0.10
SHADOW_BLUE_MAX = 0.05
SHADOW_NIR_MAX = 0.16
DILATE_PX = 2


def scl_invalid(scl: np.ndarray, classes: frozenset[int] = SCL_INVALID) -> np.ndarray:
    """Mask from a Sentinel-2 Scene Classification Layer."""
    return np.isin(scl, sorted(classes))


def qa_pixel_invalid(qa: np.ndarray, bits: tuple[str, ...] = tuple(QA_PIXEL_BITS)) -> np.ndarray:
    """Mask from a Landsat Collection 2 ``QA_PIXEL`` band (any of ``bits`` set)."""
    flag = 0
    for name in bits:
        flag |= 1 << QA_PIXEL_BITS[name]
    return (qa.astype(np.int64) & flag) != 0


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow a boolean mask by ``px`` pixels (square structuring element), NumPy only."""
    if px <= 0:
        return mask
    out = mask.copy()
    h, w = mask.shape
    for axis_len, axis in ((h, 0), (w, 1)):
        cur = out.copy()
        for d in range(1, min(px, axis_len - 1) + 1):
            if axis == 0:
                out[d:] |= cur[:-d]
                out[:-d] |= cur[d:]
            else:
                out[:, d:] |= cur[:, :-d]
                out[:, :-d] |= cur[:, d:]
    return out


def spectral_invalid(bands: dict[str, Any], dilate_px: int = DILATE_PX) -> np.ndarray:
    """Cloud + shadow mask from reflectances keyed by common name (needs ``blue``, ``nir``;
    uses ``swir16`` when present). NaN pixels are not flagged here (they are nodata)."""
    blue = np.asarray(bands["blue"])
    nir = np.asarray(bands["nir"])
    with np.errstate(invalid="ignore"):
        cloud = blue > CLOUD_BLUE_MIN
        if bands.get("swir16") is not None:
            cloud &= np.asarray(bands["swir16"]) > CLOUD_SWIR16_MIN
        shadow = (blue < SHADOW_BLUE_MAX) & (nir < SHADOW_NIR_MAX)
    return dilate(cloud | shadow, dilate_px)
