"""What one rendering request may ask for: its own module, so that the expression checker
and the parameter parser (which calls it) both import it without a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sathub.errors import InvalidInput

MAX_IMAGE_PX = 4096  # longest side of a preview or crop: Settings.max_image_px's default


@dataclass(frozen=True)
class RenderLimits:
    """What one rendering request may ask for (the ``SATHUB_MAX_*`` settings of that name)."""

    max_image_px: int = MAX_IMAGE_PX
    max_tile_px: int = 1024
    max_render_values: int = 4096 * 4096 * 3
    max_expression_length: int = 1000
    max_expression_outputs: int = 16
    max_expression_nodes: int = 256

    @classmethod
    def from_settings(cls, settings: Any) -> RenderLimits:
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})

    def check_values(self, width: int, height: int, bands: int, field: str) -> None:
        """InvalidInput naming ``field`` when width × height × bands is over the budget."""
        n = width * height * max(1, bands)
        if n > self.max_render_values:
            raise InvalidInput(
                f"{width}×{height} px × {bands} band(s) is {n:,} values, more than "
                f"{self.max_render_values:,} (SATHUB_MAX_RENDER_VALUES); ask for a smaller "
                "image or fewer bands", field=field,
            )  # fmt: skip
