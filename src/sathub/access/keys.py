"""API keys: random tokens shown once, stored as SHA-256 hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from sathub.access.models import Actor, ApiKey
from sathub.access.state import AccessState

PREFIX = "sh_"
TOKEN_RE = re.compile(r"^sh_[A-Za-z0-9_-]{43}$")  # token_urlsafe(32) is 43 characters


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(store: AccessState, role: str, org_id: int | None, *, label: str = "",
          expires: float | None = None) -> tuple[str, ApiKey]:  # fmt: skip
    """A new key: ``(token, record)``. The token is never stored; show it once."""
    token = new_token()
    rec = store.add_key(hash_token(token), token[:10], role, org_id, label=label, expires=expires)
    return token, rec


class KeyRejected(Exception):
    """A bearer token that is malformed, unknown, expired or revoked (the reason is the message)."""


def find_key(store: AccessState, token: str) -> ApiKey:
    """The key record of a bearer token (whatever its state), or KeyRejected."""
    if not TOKEN_RE.match(token):
        raise KeyRejected("malformed API key")
    digest = hash_token(token)
    found = store.key_by_hash(digest)
    if found is None or not hmac.compare_digest(found[1], digest):
        raise KeyRejected("unknown API key")
    return found[0]


def check_key(key: ApiKey, now: float) -> None:
    """KeyRejected when the key is revoked or expired at ``now``."""
    if key.revoked is not None and key.revoked <= now:
        raise KeyRejected("this API key was revoked")
    if key.expires is not None and key.expires < now:
        raise KeyRejected("this API key has expired")


def authenticate(store: AccessState, token: str, now: float | None = None) -> Actor:
    """The actor a bearer token stands for, or KeyRejected."""
    now = time.time() if now is None else now
    key = find_key(store, token)
    check_key(key, now)
    if key.last_used is None or key.last_used < now - 60:  # spare the writer
        store.touch_key(key.id, now)
    return store.actor_for_key(key)
