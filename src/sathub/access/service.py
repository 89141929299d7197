"""One installation's access control: the store, the audit log and key resolution together.

The API and the CLI both go through :class:`AccessService`: key resolution, and the admin
actions (:mod:`sathub.access.admin`: each writes and audits in one transaction). It is built
from the settings (:meth:`AccessService.for_settings`: ``DATA/access.db``, ``DATA/secrets/`` and the audit's key
and anchors, see :mod:`sathub.access.audit_config`).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sathub.access import keys
from sathub.access.admin import AdminActions
from sathub.access.audit import AuditLog
from sathub.access.audit_config import AuditConfig
from sathub.access.models import Actor, ApiKey
from sathub.access.state import AccessState
from sathub.access.store import AccessStore
from sathub.errors import NotFound, Unauthorized


class AccessService(AdminActions):
    def __init__(self, root: Path, secrets_dir: Path, *, audit: AuditConfig | None = None,
                 store: AccessState | None = None) -> None:  # fmt: skip
        """``store``: the state store the installation built (default: ``root/access.db``)."""
        self.store: AccessState = store if store is not None else AccessStore(Path(root) / "access.db")
        self.audit = AuditLog(self.store, secrets_dir, audit)
        self.secrets_dir = Path(secrets_dir)
        # Resolved actors by key digest, kept while the access store's version is unchanged
        # (any change of an organisation, key, agreement, collection level or activation, by
        # any process, bumps it; checked on every request): version, key, actor, last touch.
        self._actors: OrderedDict[str, tuple[int, ApiKey, Actor, list[float]]] = OrderedDict()
        self._anonymous: tuple[int, Actor] | None = None
        self._cache_lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Any, store: AccessState | None = None) -> AccessService:
        """The service of an installation (:class:`sathub.config.Settings`), with the audit
        key and anchors it configures; InvalidInput names a setting that cannot be used.
        ``store``: the state store :class:`sathub.app.Installation` built (default: SQLite)."""
        layout = settings.layout
        return cls(layout.root, layout.secrets, audit=AuditConfig.from_settings(settings), store=store)

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
            if not hasattr(self.store, "version"):  # a store without a change counter
                return self.store.anonymous()
            version = self.store.version()
            anon = self._anonymous
            if anon is None or anon[0] != version:
                anon = self._anonymous = (version, self.store.anonymous())
            return anon[1]
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 512:
            raise Unauthorized("malformed Authorization header: expected 'Bearer <API key>'",
                               field="authorization")  # fmt: skip
        try:
            return self._authenticate(token, now)
        except keys.KeyRejected as exc:
            legacy = self._legacy_operator(token)
            if legacy is not None:
                return legacy
            raise Unauthorized(str(exc), field="authorization") from exc

    ACTOR_CACHE = 1024

    def _authenticate(self, token: str, now: float) -> Actor:
        """:func:`keys.authenticate`, with the key and its actor kept per store version: a
        revoked or expired key, a changed agreement, takes effect on the next request."""
        if not hasattr(self.store, "version"):  # a store without a change counter: no cache
            return keys.authenticate(self.store, token, now)
        if not keys.TOKEN_RE.match(token):
            raise keys.KeyRejected("malformed API key")
        digest = keys.hash_token(token)
        version = self.store.version()
        with self._cache_lock:
            hit = self._actors.get(digest)
            if hit is not None and hit[0] == version:
                self._actors.move_to_end(digest)
        if hit is None or hit[0] != version:
            key = keys.find_key(self.store, token)
            actor = self.store.actor_for_key(key)
            hit = (version, key, actor, [key.last_used or 0.0])
            with self._cache_lock:
                self._actors[digest] = hit
                while len(self._actors) > self.ACTOR_CACHE:
                    self._actors.popitem(last=False)
        _, key, actor, touched = hit
        keys.check_key(key, now)
        if touched[0] < now - 60:  # record the last use at most once a minute
            touched[0] = now
            self.store.touch_key(key.id, now)
        return actor

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
