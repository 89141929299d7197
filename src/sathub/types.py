"""Shared type aliases."""

from __future__ import annotations

from typing import Literal

BBox = tuple[float, float, float, float]
"""(west, south, east, north) in degrees, WGS84. west > east crosses the antimeridian."""

OutputFormat = Literal["table", "json", "geojson", "csv"]
