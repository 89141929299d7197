"""Secrets: files in ``DATA/secrets/`` created once (mode 0600, the first writer wins), and
the audit key read from a file or a setting kept outside the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sathub.errors import InvalidInput

MIN_KEY_BYTES = 32
HOW_TO_CREATE = "create one with `openssl rand -hex 32 > FILE && chmod 600 FILE`"


def load_or_create(path: Path, nbytes: int = 32) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_bytes(nbytes).hex() + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, mode 0600."""
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def parse_key(text: str, *, source: str, field: str) -> bytes:
    """A key written as hexadecimal, at least 32 bytes; InvalidInput naming ``source``."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise InvalidInput(f"{source}: the audit key must be hexadecimal ({HOW_TO_CREATE})",
                           field=field) from None  # fmt: skip
    if len(key) < MIN_KEY_BYTES:
        raise InvalidInput(f"{source}: the audit key must be at least {MIN_KEY_BYTES} bytes "
                           f"({2 * MIN_KEY_BYTES} hex characters)", field=field)  # fmt: skip
    return key


def read_key_file(path: Path, *, field: str) -> bytes:
    """The key in ``path``. A configured key file is never created here: a mistyped path must
    not start a second chain with a new key."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InvalidInput(
            f"SATHUB_{field.upper()}={path}: no such file; {HOW_TO_CREATE}, or move the existing "
            "DATA/secrets/audit.key there to keep the log verifiable", field=field) from None
    except OSError as exc:
        raise InvalidInput(f"SATHUB_{field.upper()}={path}: {exc.strerror}", field=field) from None
    return parse_key(text, source=str(path), field=field)
