"""Signed links: time-limited, HMAC-SHA256 URLs bound to one asset, for people without an
account.

The signature covers ``collection/item/asset``, the expiry (Unix seconds) and the id of the key
that signed it (``kid``), so a link cannot be reused for another asset, extended or moved to
another signer; each use is decided and counted as the signer's own download.

The key (32 random bytes) is kept by a :class:`SigningKeyStore`: :class:`FileSigningKeys`,
``DATA/secrets/signing.key`` (hex, mode 0600) of the embedded installation, or
:class:`~sathub.storage.signing_pg.PgSigningKeys` (``sathub.signing_keys``) when the state is in
PostgreSQL, so that every API machine of the installation verifies the links of every other.
It is generated on first use (the first writer wins when several workers start together);
deleting it revokes every link ever issued.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Protocol

from sathub.errors import Forbidden, InvalidInput

MAX_TTL_S = 7 * 24 * 3600  # a week
DEFAULT_TTL_S = 3600


class SigningKeyStore(Protocol):
    """Where an installation keeps its signing key (one key; there is no rotation)."""

    def get(self) -> bytes | None:
        """The key, or None when none was made yet."""

    def adopt(self, key: bytes) -> bytes:
        """Keep ``key`` unless a key is already kept; the kept key (the first writer wins)."""


class FileSigningKeys:
    """``signing.key`` of a secrets directory (32 bytes as hex, mode 0600)."""

    def __init__(self, secrets_dir: Path) -> None:
        self.path = Path(secrets_dir) / "signing.key"

    def get(self) -> bytes | None:
        try:
            return bytes.fromhex(self.path.read_text().strip())
        except FileNotFoundError:
            return None

    def adopt(self, key: bytes) -> bytes:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex() + "\n")
        try:
            os.link(tmp, path)  # first writer wins when two workers start together
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return bytes.fromhex(path.read_text().strip())


def load(store: SigningKeyStore, earlier: SigningKeyStore | None = None) -> bytes:
    """The key of ``store``, made on first use: ``earlier``'s key when it has one (an
    installation moving its state to PostgreSQL keeps its links valid), else 32 random bytes."""
    key = store.get()
    if key is not None:
        return key
    found = earlier.get() if earlier is not None else None
    return store.adopt(found if found is not None else secrets.token_bytes(32))


def load_key(secrets_dir: Path) -> bytes:
    """The key of ``secrets_dir/signing.key``, created (0600) if absent."""
    return load(FileSigningKeys(secrets_dir))


def _message(collection_id: str, item_id: str, asset_key: str, expires: int, kid: str) -> bytes:
    return "\n".join([collection_id, item_id, asset_key, str(expires), kid]).encode()


def sign(
    key: bytes,
    collection_id: str,
    item_id: str,
    asset_key: str,
    ttl_s: int = DEFAULT_TTL_S,
    now: float | None = None,
    *,
    kid: str,
) -> tuple[int, str]:
    """``(expires, signature)`` for a link valid ``ttl_s`` seconds (1 s … a week)."""
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise InvalidInput(f"expires_in must be between 1 and {MAX_TTL_S} seconds", field="expires_in")
    expires = int((time.time() if now is None else now) + ttl_s)
    mac = hmac.new(key, _message(collection_id, item_id, asset_key, expires, kid), hashlib.sha256)
    return expires, mac.hexdigest()


def verify(
    key: bytes,
    collection_id: str,
    item_id: str,
    asset_key: str,
    expires: str,
    signature: str,
    kid: str,
    now: float | None = None,
) -> None:
    """Raise :class:`Forbidden` unless the signature is right and not expired."""
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        raise Forbidden("signed link: malformed expiry")
    if not (kid.isascii() and kid.isdigit() and len(kid) <= 12):
        raise Forbidden("signed link: malformed key id")
    if not (signature.isascii() and len(signature) == 64):
        raise Forbidden("signed link: invalid signature")
    exp = int(expires)
    mac = hmac.new(key, _message(collection_id, item_id, asset_key, exp, kid), hashlib.sha256)
    if not hmac.compare_digest(mac.hexdigest(), signature.lower()):
        raise Forbidden("signed link: invalid signature")
    if (time.time() if now is None else now) > exp:
        raise Forbidden("signed link: expired")
