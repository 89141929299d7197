"""THE access policy: one set of rules for every entry point.

- :func:`grants_filter` turns an actor's grants into plain CQL2 (an
  :class:`~sathub.catalog.filters.AccessFilter` whose parts carry caching hints) that the
  catalog store ANDs with the user's query *inside* the query (so paging and counts are right
  and nothing leaks); :func:`collections_filter` does the same for the collection list;
- :func:`item_visible` evaluates the same rules on one item in Python (downloads, brute-force
  tests); both must agree, and a property test checks that they do;
- :func:`decide` answers (actor, action, resource) → :class:`Decision` with a reason.

Rules: admin, operator and analyst see everything. Everyone sees the items of *open*
collections (the default). An item of a *restricted* collection is visible when an agreement of
the caller's organisation is in force (status active, inside its validity period), names the
collection, and the item lies in its AOI, inside its acquisition period and past its embargo;
or when a disaster activation in force opens it to the caller's organisation or to everyone
(AOI, acquisition period, collections; no embargo). An invisible item does not exist (404).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import cached_property
from typing import Any

from sathub.access.dates import iso
from sathub.access.geo import item_shape, shape
from sathub.access.models import DAY_S, Activation, Actor, Agreement, Decision
from sathub.catalog.cql2sql import parse_timestamp
from sathub.catalog.filters import AccessFilter, Gated, Kept, any_of
from sathub.catalog.validate import parse_datetime
from sathub.errors import SathubError

Grant = Agreement | Activation
COLLECTION = {"property": "collection"}
DATETIME = {"property": "datetime"}


def _ts(t: float) -> str:
    out = iso(t)
    assert out is not None
    return out


def _rounded(t: float) -> float:
    """A bound as SQL sees it (through its ISO text), so Python and SQL agree to the µs."""
    return parse_timestamp(_ts(t))


# ------------------------------------------------------------------ the filter (SQL side)
def _scope_expr(collections: list[str] | None, aoi: dict[str, Any] | None, lo: float | None,
                hi: float | None) -> dict[str, Any]:  # fmt: skip
    """One grant as CQL2: collection and dates first (cheap), the spatial test last (a store
    may put a test of the item's bounds against the AOI's box before it; SQLite does)."""
    args: list[dict[str, Any]] = []
    if collections is not None:
        args.append({"op": "in", "args": [COLLECTION, collections]})
    if lo is not None:
        args.append({"op": ">=", "args": [DATETIME, {"timestamp": _ts(lo)}]})
    if hi is not None:
        args.append({"op": "<=", "args": [DATETIME, {"timestamp": _ts(hi)}]})
    if aoi is not None:
        args.append({"op": "s_intersects", "args": [{"property": "geometry"}, aoi]})
    if not args:
        return {"op": "=", "args": [1, 1]}
    return args[0] if len(args) == 1 else {"op": "and", "args": args}


def _agreement_bounds(a: Agreement, now: float) -> tuple[float | None, float | None]:
    hi = a.acquired_to
    if a.embargo_days > 0:
        released = now - a.embargo_days * DAY_S
        hi = released if hi is None else min(hi, released)
    return a.acquired_from, hi


def live_agreements(actor: Actor, now: float) -> list[Agreement]:
    return [a for a in actor.agreements if a.in_force(now)]


def live_activations(actor: Actor, now: float) -> list[Activation]:
    return [a for a in actor.activations if a.in_force(now) and a.applies_to(actor.org_id)]


# Bucket of the materialised grant set: the store keeps the rows an actor's grants cover, as of
# the start of the bucket, and evaluates the grants live only for rows whose embargo ended since.
MATERIALIZE_BUCKET_S = 300.0


def _grant_branches(actor: Actor, now: float, t_bounds: float, *, until: float | None = None
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[float, float]]]:  # fmt: skip
    """Each grant in force at ``now`` as CQL2 with its embargo computed at ``t_bounds``; and,
    with ``until``, the grants whose embargo bound moves between ``t_bounds`` and ``until``
    (as CQL2 at ``now``) with those bounds as (at t_bounds, at until) pairs."""
    branches: list[dict[str, Any]] = []
    live: list[dict[str, Any]] = []
    moving: list[tuple[float, float]] = []
    for a in live_agreements(actor, now):
        cols = sorted(set(a.collections) & actor.restricted)
        if cols:
            lo, hi = _agreement_bounds(a, t_bounds)
            branches.append(_scope_expr(cols, a.aoi, lo, hi))
            if until is None:
                continue
            _, hi_end = _agreement_bounds(a, until)
            if hi is not None and hi_end is not None and _rounded(hi) < _rounded(hi_end):
                moving.append((hi, hi_end))
                live.append(_scope_expr(cols, a.aoi, lo, _agreement_bounds(a, now)[1]))
    for act in live_activations(actor, now):
        act_cols = None if act.collections is None else sorted(set(act.collections) & actor.restricted)
        if act_cols == []:
            continue
        branches.append(_scope_expr(act_cols, act.aoi, act.acquired_from, act.acquired_to))
    return branches, live, moving


def grants_filter(actor: Actor, now: float, *, materialize: bool = True) -> AccessFilter | None:
    """The actor's grants as an access filter for the catalog store (None: unrestricted).

    Items of open collections pass at once. For restricted ones, evaluating every grant on every
    row (up to hundreds of comparisons and exact AOI tests) would multiply the cost of a
    search; so the restricted rows the grants cover, and the open rows, form a
    :class:`~sathub.catalog.filters.Kept` part: a store may compute that set of rows once per
    catalog version and keep it (SQLite does: a row then costs one probe of it). The set's
    embargo bounds are taken at the start of a :data:`MATERIALIZE_BUCKET_S` bucket (so the
    set's definition, and its cache key, stay the same for the whole bucket); rows whose
    embargo ends within the bucket form a :class:`~sathub.catalog.filters.Gated` part (its gate
    usually matches nothing), tested against the grants live. Grants that enter or leave force
    change the set's definition, hence its key, at once. The filter's plain CQL2
    (:attr:`AccessFilter.cql2`) is what a store without kept sets evaluates; with
    ``materialize=False`` the filter is one plain part, the grants at ``now`` (tests compare the
    two).
    """
    if actor.unrestricted or not actor.restricted:
        return None
    restricted = sorted(actor.restricted)
    open_rows = {"op": "not", "args": [{"op": "in", "args": [COLLECTION, restricted]}]}
    if not materialize:
        branches, _, _ = _grant_branches(actor, now, now)
        return AccessFilter.plain(any_of([open_rows, *branches]))
    t0 = min(now, (now // MATERIALIZE_BUCKET_S) * MATERIALIZE_BUCKET_S)
    # The filter depends on the actor, the bucket and which grants are in force (and, for the
    # live test of rows whose embargo ends inside the bucket, on ``now``): kept per actor
    # object (the access service keeps one per key while the access store is unchanged).
    key = (id(actor), t0, tuple(a.id for a in live_agreements(actor, now)),
           tuple(a.id for a in live_activations(actor, now)))  # fmt: skip
    with _CACHE_LOCK:
        hit = _FILTERS.get(key)
        if hit is not None and hit[0] is actor:
            _FILTERS.move_to_end(key)
    if hit is None or hit[0] is not actor:
        hit = (actor, _bucket_parts(actor, now, t0))
        with _CACHE_LOCK:
            _FILTERS[key] = hit
            while len(_FILTERS) > _FILTERS_MAX:
                _FILTERS.popitem(last=False)
    parts, gate, moved = hit[1]
    if gate is None:
        return parts
    # Rows whose embargo ends inside this bucket: tested live, at ``now``.
    return AccessFilter((*parts.parts, _LiveGated(gate, moved, now)))


class _LiveGated(Gated):
    """:class:`Gated` whose ``then``, the moving grants at ``now``, is built on first use: a
    store that finds no row behind the gate (the usual case) never reads it."""

    _moved: list[tuple[list[str], Agreement]]
    _now: float

    def __init__(self, gate: dict[str, Any], moved: list[tuple[list[str], Agreement]], now: float) -> None:
        object.__setattr__(self, "gate", gate)
        object.__setattr__(self, "_moved", moved)
        object.__setattr__(self, "_now", now)

    @cached_property
    def then(self) -> dict[str, Any]:  # type: ignore[override]
        return any_of([_scope_expr(cols, a.aoi, a.acquired_from, _agreement_bounds(a, self._now)[1])
                       for cols, a in self._moved])  # fmt: skip


_Bucket = tuple[AccessFilter, dict[str, Any] | None, list[tuple[list[str], Agreement]]]
_FILTERS: OrderedDict[tuple[Any, ...], tuple[Actor, _Bucket]] = OrderedDict()
_FILTERS_MAX = 512
_CACHE_LOCK = threading.Lock()


def _bucket_parts(actor: Actor, now: float, t0: float) -> _Bucket:
    """The filter's parts fixed for the bucket starting at ``t0`` (grants in force at ``now``),
    the gate of the rows whose embargo ends inside it (None: no bound moves) and the
    agreements whose bound moves (with their restricted collections)."""
    restricted = sorted(actor.restricted)
    open_rows = {"op": "not", "args": [{"op": "in", "args": [COLLECTION, restricted]}]}
    cached, _, moving = _grant_branches(actor, now, t0, until=t0 + MATERIALIZE_BUCKET_S)
    if not cached:
        return AccessFilter.plain(open_rows), None, []
    inner = {"op": "and", "args": [{"op": "in", "args": [COLLECTION, restricted]}, any_of(cached)]}
    kept = Kept(inner, cheap=open_rows)
    kept.cache_key  # computed once, while the filter is cached  # noqa: B018
    # Rows whose embargo ends inside this bucket: acquired within a moving bound's band over
    # the whole bucket. That set is fixed for the bucket too (the store keeps it; it is
    # usually empty, and then the live test is dropped unevaluated). A row in it is visible
    # now through a grant whose bound moved, tested live at ``now``; or it was covered at t0
    # already (a grant whose bound did not move covers the same rows at both times) and is in
    # the first set.
    if not moving:
        return AccessFilter((kept,)), None, []
    bands = [{"op": "and", "args": [{"op": ">", "args": [DATETIME, {"timestamp": _ts(a)}]},
                                    {"op": "<=", "args": [DATETIME, {"timestamp": _ts(b)}]}]}
             for a, b in sorted(set(moving))]  # fmt: skip
    gate = {"op": "and", "args": [{"op": "in", "args": [COLLECTION, restricted]}, any_of(bands)]}
    return AccessFilter((kept,)), gate, _moving_agreements(actor, now, t0)


def _moving_agreements(actor: Actor, now: float, t0: float) -> list[tuple[list[str], Agreement]]:
    """The agreements in force whose embargo bound moves inside the bucket starting at ``t0``
    (the same test as :func:`_grant_branches`), with their restricted collections."""
    out = []
    for a in live_agreements(actor, now):
        cols = sorted(set(a.collections) & actor.restricted)
        hi, hi_end = _agreement_bounds(a, t0)[1], _agreement_bounds(a, t0 + MATERIALIZE_BUCKET_S)[1]
        if cols and hi is not None and hi_end is not None and _rounded(hi) < _rounded(hi_end):
            out.append((cols, a))
    return out


# ---------------------------------------------------------- the same rules, in Python
def _item_dt(item: dict[str, Any]) -> float | None:
    p = item.get("properties") or {}
    value = p.get("datetime") or p.get("start_datetime")
    try:
        return parse_datetime(value, field="datetime")
    except SathubError:
        return None


def _in_scope(item: dict[str, Any], collections: tuple[str, ...] | None, aoi: dict[str, Any] | None,
              lo: float | None, hi: float | None) -> str | None:  # fmt: skip
    """None when the item is inside the scope, else why not."""
    if collections is not None and item.get("collection") not in collections:
        return "collection not covered"
    dt = _item_dt(item)
    if lo is not None and (dt is None or dt < _rounded(lo)):
        return "acquired before the covered period"
    if hi is not None and (dt is None or dt > _rounded(hi)):
        return "acquired after the covered period or still under embargo"
    if aoi is not None:
        geom = item_shape(item)
        if geom is None or not shape(aoi).intersects(geom):
            return "outside the area of interest"
    return None


def covering_grants(actor: Actor, item: dict[str, Any], now: float) -> list[Grant]:
    """The agreements and activations in force that make this restricted item visible."""
    out: list[Grant] = []
    for a in live_agreements(actor, now):
        lo, hi = _agreement_bounds(a, now)
        if _in_scope(item, a.collections, a.aoi, lo, hi) is None:
            out.append(a)
    for act in live_activations(actor, now):
        if _in_scope(item, act.collections, act.aoi, act.acquired_from, act.acquired_to) is None:
            out.append(act)
    return out


def item_visible(actor: Actor, item: dict[str, Any], now: float) -> Decision:
    """May the actor see this item? Deny means 404: existence is not leaked."""
    if actor.unrestricted:
        return Decision(True, f"role {actor.role} sees every item")
    if item.get("collection") not in actor.restricted:
        return Decision(True, "open collection")
    grants = covering_grants(actor, item, now)
    if grants:
        g = grants[0]
        if isinstance(g, Agreement):
            return Decision(True, f"agreement {g.id}", agreement_id=g.id)
        return Decision(True, f"activation {g.id}", activation_id=g.id)
    reason = "restricted collection and no agreement in force covers it"
    for a in actor.agreements:
        if item.get("collection") in a.collections:
            if not a.in_force(now):
                reason = f"agreement {a.id} is not in force ({a.status})"
            else:
                lo, hi = _agreement_bounds(a, now)
                reason = f"agreement {a.id}: {_in_scope(item, a.collections, a.aoi, lo, hi)}"
            break
    return Decision(False, reason, status=404)


def collections_filter(actor: Actor, now: float) -> dict[str, Any] | None:
    """:func:`visible_collections` as CQL2 on collection documents (for
    :meth:`~sathub.catalog.store.CatalogStore.list_collections`; None: every collection)."""
    if actor.unrestricted:
        return None
    granted: set[str] = set()
    for a in live_agreements(actor, now):
        granted |= set(a.collections)
    for act in live_activations(actor, now):
        if act.collections is None:
            return None
        granted |= set(act.collections)
    hidden = sorted(actor.restricted - granted)
    if not hidden:
        return None
    return {"op": "not", "args": [{"op": "in", "args": [{"property": "id"}, hidden]}]}


def visible_collections(actor: Actor, now: float, all_ids: list[str]) -> set[str]:
    """The collections the actor may know exist."""
    if actor.unrestricted:
        return set(all_ids)
    out = {c for c in all_ids if c not in actor.restricted}
    for a in live_agreements(actor, now):
        out |= set(a.collections) & set(all_ids)
    for act in live_activations(actor, now):
        out |= set(all_ids) if act.collections is None else set(act.collections) & set(all_ids)
    return out


def asset_allowed(grant: Grant | None, asset: dict[str, Any]) -> bool:
    """Does this grant (None: an open collection) let the asset itself be served?"""
    if not isinstance(grant, Agreement) or grant.asset_roles is None:
        return True
    return bool(set(asset.get("roles") or ["data"]) & set(grant.asset_roles))


def asset_grants(actor: Actor, item: dict[str, Any], asset: dict[str, Any],
                 now: float) -> list[Grant | None]:  # fmt: skip
    """The grants under which this asset of an item may be served to the actor, best first:
    ``[None]`` for roles that see everything and for open collections; else the covering
    activations (no quota), then the covering agreements whose asset roles include the asset's.
    Empty: the item is invisible or no grant covers this asset."""
    if actor.unrestricted or item.get("collection") not in actor.restricted:
        return [None]
    grants = covering_grants(actor, item, now)
    acts: list[Grant | None] = [g for g in grants if isinstance(g, Activation)]
    agrs: list[Grant | None] = [g for g in grants if isinstance(g, Agreement) and asset_allowed(g, asset)]
    return acts + agrs


def grant_decision(grant: Grant | None, reason: str) -> Decision:
    if isinstance(grant, Agreement):
        return Decision(True, f"{reason} (agreement {grant.id})", agreement_id=grant.id)
    if isinstance(grant, Activation):
        return Decision(True, f"{reason} (activation {grant.id})", activation_id=grant.id)
    return Decision(True, reason)


# ------------------------------------------------------------------------- decide
def decide(actor: Actor, action: str, resource: dict[str, Any] | None = None, *,
           now: float) -> Decision:  # fmt: skip
    """(actor, action, resource) → allow or deny with a reason and the HTTP status of a denial.

    Actions: ``read`` (resource ``{"item": …}``), ``download`` (``{"item": …, "asset": …}``:
    every route that returns or summarises pixels or bytes of an asset), ``collection``
    (``{"collection": id}``). Role checks (who may write, ingest, administer…) are the
    gate's: :mod:`sathub.access.permissions`.
    """
    resource = resource or {}
    if action == "collection":
        cid = resource["collection"]
        if cid in visible_collections(actor, now, [cid]):
            return Decision(True, "collection visible")
        return Decision(False, f"collection {cid!r} not found", status=404)
    if action in ("read", "download"):
        item = resource["item"]
        seen = item_visible(actor, item, now)
        if not seen or action == "read":
            return seen
        grants = asset_grants(actor, item, resource.get("asset") or {}, now)
        if not grants:
            return Decision(False, "the agreement does not cover this asset (asset roles)", status=403)
        return grant_decision(grants[0], seen.reason)
    return Decision(False, f"unknown action {action!r}", status=403)
