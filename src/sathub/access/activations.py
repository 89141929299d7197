"""Disaster activations (as the International Charter "Space and Major Disasters" works): an
admin opens an AOI and an acquisition period to named responder organisations, or to the
public, for N days; embargoes are lifted; it closes by itself when the days run out."""

from __future__ import annotations

import time
from typing import Any

from sathub.access.geo import check_aoi
from sathub.access.models import DAY_S, Activation
from sathub.access.state import AccessState
from sathub.errors import InvalidInput

MAX_DAYS = 365


def open_activation(store: AccessState, *, name: str, aoi: Any, days: float,
                    acquired_from: float | None = None, acquired_to: float | None = None,
                    orgs: list[str] | None = None, collections: list[str] | None = None,
                    opened_by: str = "", now: float | None = None) -> Activation:  # fmt: skip
    """Open an activation; ``orgs=None`` opens it to the public."""
    now = time.time() if now is None else now
    if not name.strip():
        raise InvalidInput("an activation needs a name", field="name")
    if not 0 < days <= MAX_DAYS:
        raise InvalidInput(f"days must be in (0, {MAX_DAYS}]", field="days")
    if acquired_from is not None and acquired_to is not None and acquired_from > acquired_to:
        raise InvalidInput("the acquisition period ends before it starts", field="period")
    org_ids = None if orgs is None else tuple(store.org(o).id for o in orgs)
    return store.add_activation(Activation(
        id=0, name=name.strip(), aoi=check_aoi(aoi), acquired_from=acquired_from,
        acquired_to=acquired_to, org_ids=org_ids,
        collections=None if collections is None else tuple(collections),
        opened=now, expires=now + days * DAY_S, opened_by=opened_by,
    ))  # fmt: skip
