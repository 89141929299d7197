"""Band tables of known instruments: name → (common_name, centre µm, FWHM µm)."""

from __future__ import annotations

from sathub.ingest.readers.base import BandInfo

Spec = tuple[str | None, float, float]

SENTINEL2_MSI: dict[str, Spec] = {
    "B01": ("coastal", 0.443, 0.027),
    "B02": ("blue", 0.490, 0.098),
    "B03": ("green", 0.560, 0.045),
    "B04": ("red", 0.665, 0.038),
    "B05": ("rededge", 0.704, 0.019),
    "B06": ("rededge", 0.740, 0.018),
    "B07": ("rededge", 0.783, 0.028),
    "B08": ("nir", 0.842, 0.145),
    "B8A": ("nir08", 0.865, 0.033),
    "B09": ("nir09", 0.945, 0.026),
    "B10": ("cirrus", 1.375, 0.075),
    "B11": ("swir16", 1.610, 0.143),
    "B12": ("swir22", 2.190, 0.242),
}

LANDSAT_TM: dict[str, Spec] = {  # Landsat 4/5 TM; Landsat 7 ETM+ adds B8 (pan)
    "B1": ("blue", 0.485, 0.07),
    "B2": ("green", 0.56, 0.08),
    "B3": ("red", 0.66, 0.06),
    "B4": ("nir08", 0.83, 0.14),
    "B5": ("swir16", 1.65, 0.2),
    "B6": ("lwir", 11.45, 2.1),
    "B7": ("swir22", 2.215, 0.27),
    "B8": ("pan", 0.71, 0.38),
}

LANDSAT_OLI_TIRS: dict[str, Spec] = {
    "B1": ("coastal", 0.44, 0.02),
    "B2": ("blue", 0.48, 0.06),
    "B3": ("green", 0.56, 0.06),
    "B4": ("red", 0.655, 0.04),
    "B5": ("nir08", 0.865, 0.03),
    "B6": ("swir16", 1.61, 0.08),
    "B7": ("swir22", 2.2, 0.2),
    "B8": ("pan", 0.59, 0.18),
    "B9": ("cirrus", 1.37, 0.02),
    "B10": ("lwir11", 10.9, 0.8),
    "B11": ("lwir12", 12.0, 1.0),
}

LANDSAT_MSS: dict[str, Spec] = {
    "B1": ("green", 0.55, 0.1),
    "B2": ("red", 0.65, 0.1),
    "B3": ("nir08", 0.75, 0.1),
    "B4": ("nir09", 0.95, 0.3),
}


def band_from_table(table: dict[str, Spec], name: str) -> BandInfo:
    spec = table.get(name)
    if spec is None:
        return BandInfo(name=name)
    common, centre, fwhm = spec
    return BandInfo(
        name=name, common_name=common, center_wavelength=centre, full_width_half_max=fwhm
    )
