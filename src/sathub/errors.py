"""Every error sathub raises on purpose.

Hierarchy (``api/errors.py`` maps each class to an HTTP status, once)::

    SathubError
    ├── InvalidInput            bad user input: a field and a reason          → 400
    │   ├── InvalidGeometry                                                     → 400
    │   ├── InvalidDatetime                                                     → 400
    │   └── InvalidFilter       CQL2 syntax/type errors, unknown queryables     → 400
    ├── Forbidden               a signed link that is tampered or expired       → 403
    ├── NotFound                unknown collection, item, asset                 → 404
    ├── RangeNotSatisfiable     a byte range past the end of an asset            → 416
    ├── Unauthorized            a missing, malformed, unknown, expired or revoked key → 401
    ├── QuotaExceeded           an agreement's monthly bytes are used up (Retry-After) → 429
    ├── Conflict                an id that already exists                       → 409
    ├── PayloadTooLarge         body or batch over a limit                      → 413
    ├── LoadError               a bulk-load line failed (file and line named)   → 400
    ├── IngestError             a scene could not be ingested (file named)      → 422
    ├── OrbitError              bad element sets, propagation failures          → 400
    ├── AuditUnavailable        the audit cannot record (anchor unwritable, wrong key) → 503
    ├── BackendUnavailable      PostgreSQL or the object store cannot be reached → 503
    │   ├── MissingTables       sathub's tables gone from the database           → 503
    │   └── BackendTimeout      a query ran past SATHUB_PG_STATEMENT_TIMEOUT_MS  → 504
    └── SettingError            a setting that cannot work (bad credentials…)   → start-up error
"""

from __future__ import annotations


class SathubError(Exception):
    """Root of every error sathub raises on purpose."""

    status_code = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": type(self).__name__, "description": self.message}
        if self.field:
            out["field"] = self.field
        return out


class InvalidInput(SathubError):
    """A request or file carried a value that cannot be used."""


class InvalidGeometry(InvalidInput):
    """A geometry is malformed, not closed, self-intersecting or out of range."""


class InvalidDatetime(InvalidInput):
    """A datetime or interval cannot be parsed or is reversed."""


class InvalidFilter(InvalidInput):
    """A CQL2 filter has a syntax or type error or names an unknown queryable."""


class NotFound(SathubError):
    """A collection, item or asset does not exist (or is not visible to the caller)."""


class Forbidden(SathubError):
    """The caller may not do this (e.g. a signed link that was tampered with or expired)."""


class RangeNotSatisfiable(SathubError):
    """A requested byte range lies outside the object."""

    def __init__(self, message: str, *, size: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.headers = {"Content-Range": f"bytes */{size}"}


class Unauthorized(SathubError):
    """No usable credentials: a missing, malformed, unknown, expired or revoked API key."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.headers = {"WWW-Authenticate": "Bearer"}


class QuotaExceeded(SathubError):
    """An agreement's monthly download quota is used up; retry when the month turns."""

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s
        self.headers = {"Retry-After": str(max(1, int(retry_after_s)))}


class Conflict(SathubError):
    """An object with this id already exists."""


class PayloadTooLarge(SathubError):
    """A request body or batch is larger than the configured limit."""


class LoadError(SathubError):
    """A bulk load failed; the message names the file and line."""


class IngestError(SathubError):
    """A scene could not be ingested; the message names the file and the reason."""


class OrbitError(SathubError):
    """An element set is malformed or a propagation failed."""


class AuditUnavailable(SathubError):
    """The audit log cannot record (its anchor cannot be written, or the configured key is not
    the key the log is written with): nothing that would need a record is served."""

    status_code = 503


class BackendUnavailable(SathubError):
    """A backend (PostgreSQL, the object store) cannot be reached; the message names it.
    Nothing was written: the request may be retried (503, Retry-After)."""

    def __init__(self, message: str, *, backend: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.backend = backend
        self.headers = {"Retry-After": "5"}

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "backend": self.backend}


class BackendTimeout(BackendUnavailable):
    """A backend cancelled an operation that ran past its configured time limit (``field``
    names the setting). Nothing was written (504, Retry-After)."""


class SettingError(SathubError):
    """A setting cannot work (wrong credentials, a bad address): ``field`` names it. Raised
    when an installation opens, so the server does not start."""


# pgfix (wave 5): a database whose sathub (or pgstac) tables are gone (an operator's
# ``DROP SCHEMA sathub``, a half-migrated database) under a running sathub. PostgreSQL's
# SQLSTATEs of a missing relation or schema; a missing function only when it is sathub's.
_MISSING_OBJECT = {"42P01", "3F000"}
_MISSING_SATHUB = {"42883"}
SCHEMA_HINT = (
    "sathub's tables in this database are missing or half-migrated (was the schema dropped?); "
    "sathub makes them when it starts: restart it (`sathub serve`) to migrate; tables made "
    "anew are empty, so restore the database from a backup to keep its data "
    "(docs/deploy.md, 'Missing tables')"
)


class MissingTables(BackendUnavailable):
    """sathub's tables (or schema) are missing from the PostgreSQL database (503): the message
    is sathub's own, naming the missing relation and what to do, nothing of the server's
    address, so the caller is told it as it is."""


def missing_schema(exc: BaseException) -> MissingTables | None:
    """A PostgreSQL error (or one it caused) that says a table, schema or sathub function
    does not exist, as a 503 naming PostgreSQL, the missing object and what to do; None for
    any other error. Matched by SQLSTATE, so this module needs no database driver."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        state = getattr(cur, "sqlstate", None)
        diag = getattr(cur, "diag", None)  # psycopg's: the server's message without LINE/HINT
        text = getattr(diag, "message_primary", None) or (str(cur).strip().splitlines() or [""])[0]
        if state in _MISSING_OBJECT or (state in _MISSING_SATHUB and "sathub." in text):
            return MissingTables(f"PostgreSQL: {text}: {SCHEMA_HINT}", backend="postgresql",
                                 field="SATHUB_PG_DSN")  # fmt: skip
        cur = cur.__cause__ or cur.__context__
    return None
