"""Disaster activations (``/console/activations``, admins): open one with an AOI drawn on the
map (``POST /admin/activations``), close it (``POST /admin/activations/{id}/close``), and see
what was distributed under each (the audit records that name it)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from sathub.api.console import data
from sathub.api.console.listing import Column, listing
from sathub.api.console.render import ConsoleRoute, page
from sathub.api.gate import requires

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

ACTIVATIONS = (
    Column("id", "col.id", numeric=True), Column("name", "col.name"),
    Column("state", "col.state", filter=True, labels="activation.state."),
    Column("opened", "col.opened"), Column("expires", "col.expires"),
    Column("audience", "col.audience", sortable=False),
    Column("bytes", "col.distributed", numeric=True), Column("requests", "col.requests", numeric=True),
)  # fmt: skip


@router.get("/activations", dependencies=[requires("admin")])
def activations(request: Request) -> Response:
    from sathub.api.routers.admin import list_orgs

    rows = data.activations(request)
    for a in rows:
        a["state"] = "open" if a["in_force"] else "closed"
    shapes = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": a["aoi"], "properties": {"id": a["id"], "name": a["name"]}}
        for a in rows if a["in_force"]]}  # fmt: skip
    return page(request, "activations.html", "activations.title", needs=("map",),
                activations=listing(request, rows, ACTIVATIONS, sort="id", desc=True),
                orgs=list_orgs(request), collections=[c["id"] for c in data.collections(request)],
                shapes=shapes, now=time.time())  # fmt: skip
