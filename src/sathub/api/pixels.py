"""THE rule for pixels and bytes of assets: one path for every route that returns or summarises
them (downloads, HEAD, signed links, tiles, previews, crops, features, points, statistics,
info, mosaics).

1. :func:`resolve` (or :func:`resolve_in_item` for an item the caller already may see) finds
   the item under the caller's grants (hidden → 404, exactly like a missing one), then the
   grant under which *this asset* may be served: the asset's roles must be covered by an
   agreement (403 otherwise) and that agreement must have quota left this month (429 with
   ``Retry-After`` otherwise). Activations and open collections have no quota.
2. The route produces its answer, then calls :func:`charge` with the number of bytes it is
   about to return: they are counted against the agreement (exactly: a concurrent request
   cannot push the month past the quota) and audited with the agreement or activation the
   asset was served under. Refusals are audited too.

A signed link stands for its signer: the link names the signer's key, and each use is decided,
counted and audited as the signer's own download (a revoked key or a lapsed agreement ends
every link it signed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from sathub.access import quotas
from sathub.access.dates import month_of
from sathub.access.models import Activation, Actor, Agreement
from sathub.access.policy import Grant, asset_grants, grant_decision
from sathub.api.access import audit, installation, now_of, visible_item
from sathub.api.gate import actor_of
from sathub.catalog.filters import AccessFilter
from sathub.errors import Forbidden, NotFound, QuotaExceeded
from sathub.storage import signing
from sathub.storage.base import ObjectInfo, ObjectStore


@dataclass(frozen=True)
class AssetAccess:
    """One asset the caller may read now, and whose grant pays for it."""

    item: dict[str, Any]
    key: str
    asset: dict[str, Any]
    info: ObjectInfo
    actor: Actor  # whose grant is charged (a signed link's signer)
    grant: Grant | None  # None: an open collection or a role that sees everything
    action: str
    objects: ObjectStore  # the store holding it

    @property
    def resource(self) -> str:
        return f"{self.item.get('collection')}/{self.item.get('id')}/{self.key}"

    @property
    def gdal_path(self) -> str:
        """A path or URL GDAL opens (the object store's)."""
        return self.objects.gdal_path(self.info.key)

    @property
    def agreement_id(self) -> int | None:
        return self.grant.id if isinstance(self.grant, Agreement) else None

    @property
    def activation_id(self) -> int | None:
        return self.grant.id if isinstance(self.grant, Activation) else None


def resolve(request: Request, collection_id: str, item_id: str, asset_key: str, *,
            action: str) -> AssetAccess:  # fmt: skip
    """The asset of a visible item, decided for the caller (see the module docstring)."""
    item = visible_item(request, collection_id, item_id)
    return resolve_in_item(request, item, asset_key, action=action)


def resolve_signed(request: Request, collection_id: str, item_id: str, asset_key: str, *,
                   expires: str, signature: str, kid: str, action: str) -> AssetAccess:  # fmt: skip
    """A signed link's asset, decided for the link's signer."""
    inst = installation(request)
    signing.verify(inst.signing_key, collection_id, item_id, asset_key, expires, signature, kid)
    signer = inst.access.actor_for_key_id(int(kid), now_of(request))
    if signer is None:
        raise Forbidden("signed link: the key that signed it is no longer valid")
    try:
        item = inst.catalog.get_item(collection_id, item_id, extra_filter=_filter(signer, request))
    except NotFound:
        raise Forbidden("signed link: its signer may no longer read this item") from None
    return resolve_in_item(request, item, asset_key, action=action, actor=signer)


def _filter(actor: Actor, request: Request) -> AccessFilter | None:
    from sathub.access.policy import grants_filter

    return grants_filter(actor, now_of(request))


def resolve_in_item(request: Request, item: dict[str, Any], asset_key: str, *, action: str,
                    actor: Actor | None = None) -> AssetAccess:  # fmt: skip
    """Decide one asset of an item the actor may see (fetched under its grants)."""
    actor = actor or actor_of(request)
    inst = installation(request)
    now = now_of(request)
    asset = (item.get("assets") or {}).get(asset_key)
    resource = f"{item.get('collection')}/{item.get('id')}/{asset_key}"
    if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
        raise NotFound(f"item {item.get('id')} has no asset {asset_key!r}")
    grants = asset_grants(actor, item, asset, now)
    if not grants:
        audit(request, action, resource, actor=actor, outcome="denied: asset roles")
        raise Forbidden(f"the agreement does not cover the asset {asset_key!r} (its roles: "
                        f"{', '.join(asset.get('roles') or ['data'])})", field="asset")  # fmt: skip
    grant = _with_quota(inst, grants, now)
    if grant is _EXHAUSTED:
        first = next(g for g in grants if isinstance(g, Agreement))
        audit(request, action, resource, actor=actor, outcome="quota exceeded",
              agreement_id=first.id)  # fmt: skip
        quotas.check(inst.access.store, first, 0, now)  # raises the 429 naming the agreement
    info = inst.objects.stat(asset["href"], asset.get("type"))
    return AssetAccess(item=item, key=asset_key, asset=asset, info=info, actor=actor,
                       grant=grant, action=action, objects=inst.objects)  # fmt: skip


_EXHAUSTED: Any = object()


def _with_quota(inst: Any, grants: list[Grant | None], now: float) -> Grant | None:
    """The first grant that can still pay: no quota, or some of this month's quota left."""
    for g in grants:
        if not isinstance(g, Agreement) or g.quota_bytes is None:
            return g
        if quotas.used(inst.access.store, g.id, month_of(now))[0] < g.quota_bytes:
            return g
    return _EXHAUSTED


def charge(request: Request, access: AssetAccess, nbytes: int, *, outcome: str = "ok",
           count: bool = True, **detail: Any) -> None:  # fmt: skip
    """Count ``nbytes`` about to be sent against the access's agreement and audit them.
    QuotaExceeded (429, audited) when they would take the month past the quota. ``count=False``
    audits without counting again (a mosaic tile drawn from several items of one agreement
    is counted once)."""
    pays = access.grant if isinstance(access.grant, Agreement) and count else None
    try:  # the charge and its record: one transaction
        audit(request, access.action, access.resource, actor=access.actor, nbytes=nbytes,
              outcome=outcome, agreement_id=access.agreement_id,
              activation_id=access.activation_id, quota=pays, **detail)  # fmt: skip
    except QuotaExceeded:
        audit(request, access.action, access.resource, actor=access.actor,
              outcome="quota exceeded", agreement_id=access.agreement_id)  # fmt: skip
        raise


def decision_reason(access: AssetAccess) -> str:
    return grant_decision(access.grant, "allowed").reason


__all__ = ["AssetAccess", "charge", "resolve", "resolve_in_item", "resolve_signed"]
