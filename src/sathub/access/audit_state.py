"""The access-control rows the audit chains: organisations, keys, agreements, activations and
collection levels. Every change made through :class:`~sathub.access.store.AccessStore` writes,
in the same transaction, a ``state`` record carrying the SHA-256 of the row as stored; verify
compares each current row with its latest chained digest, so a row edited, added or deleted
outside the API is named. ``keys.last_used`` is left out (it changes on every use)."""

from __future__ import annotations

import hashlib
import orjson

from sathub.access.state import StateConn

#: kind → (table, key column, columns digested); a row's resource is ``kind:key``.
TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "org": ("orgs", "id", ("id", "name", "kind", "created")),
    "key": ("keys", "id", ("id", "key_hash", "prefix", "role", "org_id", "label", "created",
                           "expires", "revoked")),
    "agreement": ("agreements", "id", ("id", "org_id", "content")),
    "activation": ("activations", "id", ("id", "content")),
    "collection": ("collection_access", "collection", ("collection", "level")),
}  # fmt: skip


def row_digest(row: tuple[object, ...]) -> str:
    return hashlib.sha256(orjson.dumps(list(row))).hexdigest()


def digest_of(c: StateConn, kind: str, ident: object) -> str | None:
    """The digest of one row as stored now (None: the row does not exist)."""
    table, keycol, cols = TABLES[kind]
    row = c.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {keycol} = ?", (ident,)).fetchone()
    return None if row is None else row_digest(tuple(row))


def snapshot(c: StateConn) -> dict[str, str]:
    """``kind:key`` → digest of every chained row."""
    out: dict[str, str] = {}
    for kind, (table, _, cols) in TABLES.items():
        for row in c.execute(f"SELECT {', '.join(cols)} FROM {table}"):
            out[f"{kind}:{row[0]}"] = row_digest(tuple(row))
    return out


def compare(chained: dict[str, str | None], current: dict[str, str]) -> list[str]:
    """Problems between the latest chained digests and the rows as they are."""
    problems = []
    for resource in sorted(set(chained) | set(current), key=_order):
        want, have = chained.get(resource), current.get(resource)
        if want == have:
            continue
        if want is None and have is not None:
            problems.append(f"{resource}: the row has no chained record (added outside the API)")
        elif have is None:
            problems.append(f"{resource}: the row was deleted outside the API")
        else:
            problems.append(f"{resource}: the row differs from its last chained version "
                            "(edited outside the API)")  # fmt: skip
    return problems


def _order(resource: str) -> tuple[str, int, str]:
    kind, _, ident = resource.partition(":")
    return (kind, int(ident) if ident.isdigit() else 0, ident)
