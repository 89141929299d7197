"""What console pages read, through the same functions the API's routes use (the route
functions themselves where one exists: the console never has a second implementation of what
an API route answers). Nothing here writes: writes are the API's routes, called by the page.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sathub.access.dates import month_of
from sathub.access.models import Actor
from sathub.access.quotas import used
from sathub.api.access import installation, visible_collection_ids
from sathub.api.gate import actor_of
from sathub.errors import InvalidInput

_size_cache: dict[int, tuple[float, dict[str, int]]] = {}
_size_lock = threading.Lock()
SIZE_TTL_S = 60.0
FRESH_DAYS = 7.0  # element sets older than this are flagged; SGP4 degrades after a week or two


def body(result: Any) -> Any:
    """A route function's answer as plain data (routes return data or a JSON Response)."""
    if isinstance(result, Response):
        return json.loads(bytes(result.body))
    return result


# ---------------------------------------------------------------------------- archive
def archive_sizes(request: Request) -> dict[str, int]:
    """Bytes of the assets of each collection (their ``file:size``), kept for a minute."""
    inst = installation(request)
    with _size_lock:
        hit = _size_cache.get(id(inst))
        if hit and time.monotonic() - hit[0] < SIZE_TTL_S:
            return hit[1]
    sizes: dict[str, int] = {}
    for item in inst.catalog.iter_items():
        total = sum(int(a.get("file:size") or 0) for a in (item.get("assets") or {}).values())
        sizes[str(item.get("collection"))] = sizes.get(str(item.get("collection")), 0) + total
    with _size_lock:
        _size_cache[id(inst)] = (time.monotonic(), sizes)
    return sizes


def collections(request: Request) -> list[dict[str, Any]]:
    """The collections the caller may see, with item counts, sizes and access levels."""
    inst = installation(request)
    counts = inst.catalog.counts()
    restricted = inst.access.store.restricted_collections()
    cols = inst.catalog.list_collections()
    visible = visible_collection_ids(request, [c["id"] for c in cols])
    sizes = archive_sizes(request)
    return [{"id": c["id"], "title": c.get("title") or "", "items": counts.get(c["id"], 0),
             "bytes": sizes.get(c["id"], 0),
             "level": "restricted" if c["id"] in restricted else "open"}
            for c in cols if c["id"] in visible]  # fmt: skip


def jobs(request: Request, lane: str) -> list[dict[str, Any]]:
    return installation(request).jobs.list(lane)


# ---------------------------------------------------------------------------- partners
def org_names(request: Request) -> dict[int, str]:
    return {o.id: o.name for o in installation(request).access.store.orgs()}


def agreements(request: Request, org_id: int | None = None) -> list[dict[str, Any]]:
    """Agreements as ``GET /admin/agreements`` gives them, with the organisation's name and
    this month's use."""
    from sathub.api.routers.admin import list_agreements

    store = installation(request).access.store
    names = org_names(request)
    month = month_of(time.time())
    now = time.time()
    held = {a.id: a for a in store.agreements(org_id)}  # one read, not one per row
    rows = [a for a in list_agreements(request) if a["id"] in held]
    for a in rows:
        a["org"] = names.get(a["org_id"], "")
        a["used_bytes"] = used(store, a["id"], month)[0]
        a["in_force"] = held[a["id"]].in_force(now)
        a["use_share"] = (a["used_bytes"] / a["quota_bytes"]) if a["quota_bytes"] else None
    return rows


def keys(request: Request, org_id: int | None = None) -> list[dict[str, Any]]:
    from sathub.api.routers.admin import list_keys

    names = org_names(request)
    rows = [k for k in list_keys(request) if org_id is None or k["org_id"] == org_id]
    for k in rows:
        k["org"] = names.get(k["org_id"], "") if k["org_id"] is not None else ""
        k["state"] = "revoked" if k["revoked"] else (
            "expired" if k["expires"] and k["expires"] < _iso_now() else "valid")
    return rows


def _iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def activations(request: Request) -> list[dict[str, Any]]:
    """Activations as ``GET /admin/activations`` gives them, with responders' names and what
    was distributed under each (from the audit log)."""
    from sathub.api.routers.admin import list_activations

    names = org_names(request)
    audit = installation(request).access.audit
    audit.flush_tiles()
    rows = list_activations(request)
    for a in rows:
        a["responders"] = None if a["org_ids"] is None else [names.get(i, str(i)) for i in a["org_ids"]]
        recs = audit.records(activation_id=a["id"])
        ok = [r for r in recs if r["outcome"] == "ok"]
        a["bytes"] = sum(int(r["bytes"]) for r in ok)
        a["requests"] = sum(_requests(r) for r in ok)
        by: dict[str, dict[str, int]] = {}
        for r in ok:
            b = by.setdefault(r["actor"], {"bytes": 0, "requests": 0})
            b["bytes"] += int(r["bytes"])
            b["requests"] += _requests(r)
        a["by_actor"] = [{"actor": k, **v} for k, v in sorted(by.items())]
    return rows


def _requests(record: dict[str, Any]) -> int:
    d = record.get("detail")
    return int(d.get("requests", 1)) if isinstance(d, dict) else 1


# ----------------------------------------------------------------------------- orbits
def stations(request: Request) -> list[dict[str, Any]]:
    """Ground stations of the setting ``SATHUB_GROUND_STATIONS`` (``CODE:Name:LAT,LON[,ALT]``
    separated by ``;``); a malformed entry is an InvalidInput naming the setting."""
    from sathub.orbits.frames import Station

    text = installation(request).settings.ground_stations
    out = []
    for n, part in enumerate(p.strip() for p in text.split(";")):
        if not part:
            continue
        code, _, rest = part.partition(":")
        name, _, pos = rest.partition(":")
        if not code or not pos:
            raise InvalidInput(f"SATHUB_GROUND_STATIONS entry {n + 1}: expected CODE:Name:LAT,LON[,ALT_M]",
                               field="ground_stations")  # fmt: skip
        st = Station.parse(pos, name=name or code)
        out.append({"code": code.strip(), "name": name.strip() or code.strip(), "lat_deg": st.lat_deg,
                    "lon_deg": st.lon_deg, "alt_m": st.alt_m})  # fmt: skip
    return out


def registry(request: Request, now: datetime | None = None) -> list[dict[str, Any]]:
    """The satellite registry (as ``GET /orbits/satellites``) with the newest element set's
    epoch and age of each satellite."""
    from sathub.api.routers.orbits import satellites
    from sathub.orbits.elements import STALE_AFTER_DAYS
    from sathub.orbits.registry import Registry

    now = now or datetime.now(UTC)
    hist = Registry(installation(request).orbits).history()
    rows = satellites(request)["satellites"]
    for s in rows:
        sets = hist.history(s["norad_id"])
        s["epoch"] = sets[-1].epoch.isoformat().replace("+00:00", "Z") if sets else None
        s["age_days"] = round(sets[-1].age_days(now), 2) if sets else None
        s["age"] = ("none" if not sets else "stale" if sets[-1].age_days(now) > STALE_AFTER_DAYS
                    else "old" if sets[-1].age_days(now) > FRESH_DAYS else "fresh")  # fmt: skip
        s["sensor_count"] = len(s.get("sensors") or [])
    return rows


def passes(request: Request, station: dict[str, Any], start: datetime, hours: float,
           min_elevation_deg: float = 10.0) -> dict[str, Any]:  # fmt: skip
    """Passes over one station of every registered satellite with element sets, through the
    API's ``POST /orbits/passes`` route function."""
    from sathub.api.routers.orbits import PassRequest
    from sathub.api.routers.orbits import passes as passes_route

    ids = [s["norad_id"] for s in registry(request, start) if s["epoch"]]
    if not ids:
        return {"passes": [], "sgp4_failures": [], "warnings": []}
    body_ = PassRequest(norad_ids=ids, start=start, hours=hours, min_elevation_deg=min_elevation_deg,
                        stations=[{"lat_deg": station["lat_deg"], "lon_deg": station["lon_deg"],
                                   "alt_m": station["alt_m"], "name": station["code"]}])  # type: ignore[list-item]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dict(passes_route(request, body_))


def conflicts(passes_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs of passes of different satellites that overlap at one station (one antenna)."""
    out = []
    ordered = sorted(passes_, key=lambda p: p["aos"])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b["aos"] >= a["los"]:
                break
            if b["norad_id"] != a["norad_id"]:
                out.append({"a": a, "b": b, "start": b["aos"], "end": min(a["los"], b["los"])})
    return out


def orders(request: Request) -> list[dict[str, Any]]:
    from sathub.api.routers.orbits import list_orders

    rows: list[dict[str, Any]] = list_orders(request)["orders"]
    return rows


def window(days: float) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    return start, start + timedelta(days=days)


def this_month() -> str:
    return month_of(time.time())


def partner_of(actor: Actor, org_id: int) -> bool:
    """Whether the caller may open organisation ``org_id``'s pages (admins: every one)."""
    return actor.role == "admin" or (actor.role == "partner" and actor.org_id == org_id)


def caller(request: Request) -> Actor:
    return actor_of(request)
