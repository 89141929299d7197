"""Console sessions: an API key exchanged for a short-lived browser session.

A session stands for exactly one API key. It carries no role or grants of its own: every
request made with it resolves the key again (:meth:`ConsoleSessions.resolve` →
:meth:`AccessService.actor_for_key_id`), so a session has the key's role and grants *now*, and
ends as soon as the key is revoked or expires. It also ends after ``idle_s`` without a request,
after ``max_s`` in any case, and at sign-out.

The browser holds a random token (an HttpOnly cookie); the store keeps only its SHA-256, the
key's id, a CSRF token and the times. :class:`SessionStore` is the contract; the embedded
implementation is :class:`sathub.access.sessions_sqlite.SQLiteSessionStore`
(``DATA/sessions.db``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sathub.access.models import Actor
from sathub.errors import Unauthorized

if TYPE_CHECKING:
    from sathub.access.service import AccessService

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
TOUCH_EVERY_S = 15.0  # last_seen is written at most this often per session


@dataclass(frozen=True)
class Session:
    id: str  # SHA-256 (hex) of the browser's token; the token itself is never stored
    key_id: int
    csrf: str  # sent back by the console with every state-changing request
    created: float
    last_seen: float
    expires: float  # the absolute end, whatever the activity


class SessionStore(Protocol):
    """Where sessions are kept (embedded: SQLite; a shared database for several workers)."""

    def add(self, session: Session) -> None: ...

    def get(self, session_id: str) -> Session | None: ...

    def touch(self, session_id: str, now: float) -> None: ...

    def delete(self, session_id: str) -> None: ...

    def delete_for_key(self, key_id: int) -> int: ...

    def purge(self, idle_before: float, now: float) -> int: ...  # idle or past their end

    def close(self) -> None: ...


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    """Opens, resolves and closes console sessions over a :class:`SessionStore`."""

    def __init__(self, store: SessionStore, access: AccessService, *, idle_s: float,
                 max_s: float) -> None:  # fmt: skip
        self.store = store
        self.access = access
        self.idle_s = float(idle_s)
        self.max_s = float(max_s)

    def open(self, api_key: str, now: float | None = None) -> tuple[str, Session, Actor]:
        """Exchange an API key for a session: ``(token, session, actor)``. The key is checked
        exactly as a Bearer header is (Unauthorized with the same reasons)."""
        now = time.time() if now is None else now
        key = api_key.strip()
        if not key:
            raise Unauthorized("an API key is needed to sign in", field="key")
        actor = self.access.actor(f"Bearer {key}", now)
        if actor.key_id is None:  # DATA/secrets/operator.key: no key record to follow
            raise Unauthorized("this key cannot open a console session; issue a key with "
                               "`sathub keys issue`", field="key")  # fmt: skip
        self.store.purge(now - self.idle_s, now)
        token = secrets.token_urlsafe(32)
        s = Session(session_id(token), actor.key_id, secrets.token_urlsafe(32), now, now,
                    now + self.max_s)  # fmt: skip
        self.store.add(s)
        self.access.audit.append(actor.name, "console.session.open", f"key:{actor.key_id}",
                                 detail={"role": actor.role})  # fmt: skip
        return token, s, actor

    def resolve(self, token: str, now: float | None = None) -> tuple[Session, Actor] | None:
        """The session of a token and the actor its key stands for now; None (and the session
        is removed) when it is unknown, idle too long, past its end, or its key is revoked or
        expired."""
        now = time.time() if now is None else now
        if not TOKEN_RE.match(token):
            return None
        s = self.store.get(session_id(token))
        if s is None:
            return None
        if now > s.expires or now - s.last_seen > self.idle_s:
            self.store.delete(s.id)
            return None
        actor = self.access.actor_for_key_id(s.key_id, now)
        if actor is None:
            self.store.delete_for_key(s.key_id)
            return None
        if now - s.last_seen >= TOUCH_EVERY_S:
            self.store.touch(s.id, now)
            self.access.store.touch_key(s.key_id, now)
        return s, actor

    def close(self, token: str, actor: Actor | None = None) -> bool:
        """Sign out: the session is removed (True when there was one)."""
        if not TOKEN_RE.match(token):
            return False
        s = self.store.get(session_id(token))
        if s is None:
            return False
        self.store.delete(s.id)
        who = actor.name if actor is not None else f"key:{s.key_id}"
        self.access.audit.append(who, "console.session.close", f"key:{s.key_id}")
        return True


__all__ = ["ConsoleSessions", "Session", "SessionStore", "session_id"]
