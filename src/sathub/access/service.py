"""One installation's access control: the store, the audit log and key resolution together.

The API and the CLI both go through :class:`AccessService`: key resolution, and the admin
actions (:mod:`sathub.access.admin`: each writes and audits in one transaction). It is built
from the settings (:meth:`AccessService.for_settings`: ``DATA/access.db``, ``DATA/secrets/`` and the audit's key
and anchors, see :mod:`sathub.access.audit_config`).
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path
from typing import Any

from sathub.access import keys
from sathub.access.admin import AdminActions
from sathub.access.audit import AuditLog
from sathub.access.audit_config import AuditConfig
from sathub.access.models import Actor
from sathub.access.store import AccessStore
from sathub.errors import NotFound, Unauthorized


class AccessService(AdminActions):
    def __init__(self, root: Path, secrets_dir: Path, *, audit: AuditConfig | None = None) -> None:
        self.store = AccessStore(Path(root) / "access.db")
        self.audit = AuditLog(self.store, secrets_dir, audit)
        self.secrets_dir = Path(secrets_dir)

    @classmethod
    def for_settings(cls, settings: Any) -> AccessService:
        """The service of an installation (:class:`sathub.config.Settings`), with the audit
        key and anchors it configures; InvalidInput names a setting that cannot be used."""
        layout = settings.layout
        return cls(layout.root, layout.secrets, audit=AuditConfig.from_settings(settings))

    @classmethod
    def for_layout(cls, layout: object) -> AccessService:
        """Default audit settings (key in ``DATA/secrets``, no anchor): tests and tools only;
        entry points use :meth:`for_settings`."""
        return cls(layout.root, layout.secrets)  # type: ignore[attr-defined]

    def _legacy_operator(self, token: str) -> Actor | None:
        """``DATA/secrets/operator.key`` (the ingest placeholder before keys existed) still
        names an operator, so installations that use it keep working."""
        try:
            legacy = (self.secrets_dir / "operator.key").read_text().strip()
        except OSError:
            return None
        if legacy and hmac.compare_digest(token.encode(), legacy.encode()):
            return Actor(role="operator", name="operator.key",
                         restricted=self.store.restricted_collections())  # fmt: skip
        return None

    def actor(self, authorization: str | None, now: float | None = None) -> Actor:
        """The actor behind an ``Authorization`` header value (None: anonymous).

        Raises :class:`~sathub.errors.Unauthorized` for a malformed, unknown, expired or
        revoked key: a caller who sends a key wants it checked, not to be served as anonymous.
        """
        now = time.time() if now is None else now
        if authorization is None:
            return self.store.anonymous()
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 512:
            raise Unauthorized("malformed Authorization header: expected 'Bearer <API key>'",
                               field="authorization")  # fmt: skip
        try:
            return keys.authenticate(self.store, token, now)
        except keys.KeyRejected as exc:
            legacy = self._legacy_operator(token)
            if legacy is not None:
                return legacy
            raise Unauthorized(str(exc), field="authorization") from exc

    def actor_for_key_id(self, key_id: int, now: float | None = None) -> Actor | None:
        """The actor of a key that is still valid (a signed link's signer), else None."""
        now = time.time() if now is None else now
        try:
            key = self.store.key(key_id)
        except NotFound:
            return None
        if (key.revoked is not None and key.revoked <= now) or (
                key.expires is not None and key.expires < now):  # fmt: skip
            return None
        return self.store.actor_for_key(key)

    def bootstrap(self) -> str | None:
        """Create the access database and secrets; the first admin key, once. Returns the new
        key's token, or None when an admin key already exists (``sathub init`` is idempotent)."""
        with self.store.tx():
            if any(k.role == "admin" for k in self.store.keys()):
                return None
            token, _ = keys.issue(self.store, "admin", None, label="first admin key (sathub init)")
            self.audit.append("sathub init", "admin.key.issue", "key:admin", detail={"role": "admin"})
        return token

    def close(self) -> None:
        self.store.close()
