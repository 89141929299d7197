"""Admin actions: each one writes to the access store and appends its audit record in one
transaction (both or neither), with one record shape whoever calls it — the CLI
(``sathub orgs add …``, actor ``cli:<login>``) and the admin API (``/admin/…``, actor
``key:<id>``) call the same method. Also the one JSON view of each object they print.

Times are epoch seconds (UTC); callers parse what users type with :mod:`sathub.timeutil`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sathub.access import keys
from sathub.access.activations import open_activation
from sathub.access.models import Activation, Agreement, ApiKey, Organisation
from sathub.errors import InvalidInput, NotFound
from sathub.timeutil import iso

if TYPE_CHECKING:
    from sathub.access.audit import AuditLog
    from sathub.access.state import AccessState
    from sathub.catalog.store import CatalogStore

AGREEMENT_TIMES = ("signed", "valid_from", "valid_to", "acquired_from", "acquired_to")
LEVELS = ("open", "restricted")


# -------------------------------------------------------------------------- views
def org_view(o: Organisation) -> dict[str, Any]:
    return {"id": o.id, "name": o.name, "kind": o.kind, "created": iso(o.created)}


def key_view(k: ApiKey) -> dict[str, Any]:
    d = dict(k.__dict__)
    for f in ("created", "expires", "revoked", "last_used"):
        d[f] = iso(d[f])
    return d


def agreement_view(a: Agreement) -> dict[str, Any]:
    d = a.as_dict()
    for k in AGREEMENT_TIMES:
        d[k] = iso(d[k])
    return d


def activation_view(a: Activation, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    return {**a.as_dict(), "opened": iso(a.opened), "expires": iso(a.expires), "in_force": a.in_force(now)}


# ------------------------------------------------------------------------ actions
def _check_collections(catalog: CatalogStore | None, collections: Any) -> None:
    """Each named collection exists in ``catalog`` (a typo would grant nothing, silently)."""
    if catalog is None or not collections:
        return
    for cid in collections:
        try:
            catalog.get_collection(cid)
        except NotFound:
            raise NotFound(f"collection {cid!r} not found", field="collections") from None


class AdminActions:
    """Mixed into :class:`~sathub.access.service.AccessService` (its ``store`` and ``audit``)."""

    store: AccessState
    audit: AuditLog

    def add_org(self, actor: str, name: str, kind: str) -> Organisation:
        with self.store.tx():
            org = self.store.add_org(name, kind)
            self.audit.append(actor, "admin.org.add", f"org:{org.id}",
                              detail={"name": org.name, "kind": org.kind})  # fmt: skip
        return org

    def issue_key(self, actor: str, role: str, org: str | int | None = None, *, label: str = "",
                  expires: float | None = None) -> tuple[str, ApiKey]:  # fmt: skip
        """A new API key: ``(token, record)``; the token is shown once and stored hashed."""
        with self.store.tx():
            found = self.store.org(org) if org not in (None, "") else None
            token, rec = keys.issue(self.store, role, found.id if found else None, label=label,
                                    expires=expires)  # fmt: skip
            self.audit.append(actor, "admin.key.issue", f"key:{rec.id}", detail={
                "role": rec.role, "org": found.name if found else None, "org_id": rec.org_id,
                "label": rec.label, "expires": iso(rec.expires)})  # fmt: skip
        return token, rec

    def revoke_key(self, actor: str, key_id: int) -> ApiKey:
        with self.store.tx():
            self.store.revoke_key(key_id)
            self.audit.append(actor, "admin.key.revoke", f"key:{key_id}")
        return self.store.key(key_id)

    def add_agreement(self, actor: str, org: str | int, *, catalog: CatalogStore | None = None,
                      **fields: Any) -> Agreement:  # fmt: skip
        """An agreement of ``org`` (name or id); ``fields`` as :class:`Agreement`'s. With
        ``catalog``, every collection it names must exist there (NotFound: nothing written)."""
        _check_collections(catalog, fields.get("collections"))
        if fields.get("embargo_days") is not None:  # one stored form, whoever calls
            fields["embargo_days"] = float(fields["embargo_days"])
        with self.store.tx():
            o = self.store.org(org)
            a = self.store.add_agreement(o.id, **fields)
            self.audit.append(actor, "admin.agreement.add", f"agreement:{a.id}", agreement_id=a.id,
                              detail={"org": o.name, "org_id": o.id, "status": a.status,
                                      "collections": list(a.collections)})  # fmt: skip
        return a

    def _agreement_status(self, actor: str, agreement_id: int, status: str, **changes: Any) -> Agreement:
        with self.store.tx():
            a = self.store.update_agreement(agreement_id, status=status, **changes)
            self.audit.append(actor, f"admin.agreement.{status}", f"agreement:{a.id}", agreement_id=a.id,
                              detail={"status": status, **{k: iso(v) for k, v in changes.items()}})  # fmt: skip
        return a

    def suspend_agreement(self, actor: str, agreement_id: int) -> Agreement:
        """Its grants stop at once."""
        return self._agreement_status(actor, agreement_id, "suspended")

    def terminate_agreement(self, actor: str, agreement_id: int) -> Agreement:
        return self._agreement_status(actor, agreement_id, "terminated")

    def renew_agreement(self, actor: str, agreement_id: int, valid_to: float) -> Agreement:
        """Active again, until ``valid_to``."""
        return self._agreement_status(actor, agreement_id, "active", valid_to=valid_to)

    def set_collection_level(self, actor: str, collection_id: str, level: str, *,
                             catalog: CatalogStore) -> list[str]:  # fmt: skip
        """Open or restrict a collection of ``catalog`` (NotFound for an unknown one: nothing
        is written or audited). Restricting it restricts the collections holding products
        derived from it too; returns those (the record names them)."""
        if level not in LEVELS:
            raise InvalidInput("level must be open or restricted", field="level")
        catalog.get_collection(collection_id)
        with self.store.tx():
            also = [c for c in self.store.set_collection_level(collection_id, level) if c != collection_id]
            self.audit.append(actor, f"admin.collection.{level}", f"collection:{collection_id}",
                              detail={"level": level, **({"derived_also_restricted": also} if also else {})})  # fmt: skip
        return also

    def open_activation(self, actor: str, *, name: str, aoi: Any, days: float,
                        orgs: list[str] | None = None, collections: list[str] | None = None,
                        acquired_from: float | None = None,
                        acquired_to: float | None = None,
                        catalog: CatalogStore | None = None) -> Activation:  # fmt: skip
        """Open a disaster activation to ``orgs`` (None: the public) for ``days``; with
        ``catalog``, the collections it names must exist there."""
        _check_collections(catalog, collections)
        with self.store.tx():
            act = open_activation(self.store, name=name, aoi=aoi, days=days, orgs=orgs,
                                  collections=collections, acquired_from=acquired_from,
                                  acquired_to=acquired_to, opened_by=actor)  # fmt: skip
            self.audit.append(actor, "admin.activation.open", f"activation:{act.id}", activation_id=act.id,
                              detail={"name": act.name, "expires": iso(act.expires),
                                      "orgs": None if act.org_ids is None else list(act.org_ids),
                                      "collections": None if act.collections is None
                                      else list(act.collections)})  # fmt: skip
        return act

    def close_activation(self, actor: str, activation_id: int) -> Activation:
        with self.store.tx():
            act = self.store.close_activation(activation_id)
            self.audit.append(actor, "admin.activation.close", f"activation:{act.id}",
                              activation_id=act.id, detail={"expires": iso(act.expires)})  # fmt: skip
        return act
