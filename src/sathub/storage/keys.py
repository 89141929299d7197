"""THE path-safety rule for object keys, in one place.

An asset href that ingest writes is a *key*: a relative POSIX path inside the object store
(``<collection>/<item>/<version>/<file>``). Every backend resolves keys through
:func:`key_parts` and nothing else. A key is refused (:class:`~sathub.errors.NotFound`, the
answer a missing object gets, so a probe learns nothing) when it is empty or longer than
:data:`MAX_KEY_LEN`, holds a NUL or a backslash, is a URL (``scheme://``), is absolute, or has
a ``..`` segment. ``.`` and empty segments are dropped
(``a//./b`` is ``a/b``). Backends add what their medium needs (the local store: no symlink may
lead outside its root).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TypeGuard

from sathub.errors import NotFound

MAX_KEY_LEN = 4096  # PATH_MAX


def key_parts(key: str) -> tuple[str, ...]:
    """The segments of a safe key; :class:`NotFound` for anything else (see the module)."""
    if (
        not isinstance(key, str)
        or not key
        or len(key) > MAX_KEY_LEN
        or "\x00" in key
        or "\\" in key
        or "://" in key
    ):
        raise NotFound("asset not found")
    rel = PurePosixPath(key)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise NotFound("asset not found")
    return rel.parts


def normalize_key(key: str) -> str:
    """The canonical spelling of a safe key (``a//./b`` → ``a/b``); NotFound otherwise."""
    return "/".join(key_parts(key))


def is_key(href: object) -> TypeGuard[str]:
    """Is this href a key of the object store (a safe relative path), not a URL or a path
    elsewhere? Hrefs that are not keys belong to no store of this installation."""
    if not isinstance(href, str):
        return False
    try:
        key_parts(href)
    except NotFound:
        return False
    return True


def check_prefix(prefix: str) -> tuple[str, ...]:
    """The directory segments of a listing prefix (``""``: everything); NotFound if unsafe."""
    if prefix == "":
        return ()
    return key_parts(prefix.rstrip("/") or "/")
