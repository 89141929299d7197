"""The signing key of signed links in PostgreSQL (``sathub.signing_keys``, one row): the
:class:`~sathub.storage.signing.SigningKeyStore` of an installation whose state is in
PostgreSQL, shared by all its API machines. The table is made on open under the schema's
advisory lock (as the other state tables); the first key written wins (``ON CONFLICT DO
NOTHING``), so workers starting together all end with the same key."""

from __future__ import annotations

from sathub.pg import Pool, unavailable_as_503

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS sathub;
CREATE TABLE IF NOT EXISTS sathub.signing_keys (
    name text PRIMARY KEY, key bytea NOT NULL CHECK (length(key) = 32),
    created double precision NOT NULL DEFAULT extract(epoch FROM now()));
"""
NAME = "links"  # the one key (a row name leaves room for a rotation)


class PgSigningKeys:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        with unavailable_as_503("the signing key"), pool.connection() as c, c.transaction():
            c.execute("SELECT pg_advisory_xact_lock(hashtext('sathub.schema'))")
            c.execute(SCHEMA)

    def get(self) -> bytes | None:
        with unavailable_as_503("the signing key"), self.pool.connection() as c:
            row = c.execute("SELECT key FROM sathub.signing_keys WHERE name = %s", (NAME,)).fetchone()
        return bytes(row[0]) if row else None

    def adopt(self, key: bytes) -> bytes:
        if len(key) != 32:
            raise ValueError("a signing key is 32 bytes")
        with unavailable_as_503("the signing key"), self.pool.connection() as c:
            c.execute("INSERT INTO sathub.signing_keys (name, key) VALUES (%s, %s) "
                      "ON CONFLICT (name) DO NOTHING", (NAME, key))  # fmt: skip
            row = c.execute("SELECT key FROM sathub.signing_keys WHERE name = %s", (NAME,)).fetchone()
        assert row is not None
        return bytes(row[0])


__all__ = ["PgSigningKeys"]
