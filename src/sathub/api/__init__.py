"""The HTTP API: the only place that wires the domain packages together."""

import os

from sathub import __version__

# stac-fastapi reads these once, at import time, for its default landing page; give it
# sathub's own so it neither warns nor calls the catalog "stac-fastapi".
for _name, _value in (
    ("STAC_FASTAPI_TITLE", "sathub"),
    ("STAC_FASTAPI_DESCRIPTION", "sathub STAC API"),
    ("STAC_FASTAPI_LANDING_ID", "sathub"),
    ("STAC_FASTAPI_VERSION", __version__),
):
    os.environ.setdefault(_name, _value)
