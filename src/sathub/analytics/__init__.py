"""Analytics on the archive: spectral indices, cloud masks, zonal statistics, flood mapping,
change detection and composites, run on Dask, written back as derived STAC items.

Pure science lives in :mod:`indices`, :mod:`masks`, :mod:`otsu`, :mod:`zonal`; I/O adapters
in :mod:`bands` (STAC item → arrays) and :mod:`products` (arrays → COG + STAC item);
orchestration in :mod:`timeseries`, :mod:`flood`, :mod:`change`, :mod:`composite` and
:mod:`jobs` (Dask).
"""

from __future__ import annotations

ALGORITHM_VERSION = "1.0.0"
"""Version recorded in the lineage of every derived product (bump when results change)."""
