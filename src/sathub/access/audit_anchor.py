"""Anchors: the chain's head (sequence number, hash, time), signed with the audit key, written
outside the data directory as it grows, so that removing or rewriting records that were
anchored is detected even by someone who can rewrite the whole data directory.

Targets (``SATHUB_AUDIT_ANCHOR``, comma-separated):

- an absolute file path: one line per anchor, appended with ``O_APPEND`` (make the file
  append-only for the service's user, e.g. ``chattr +a``, or owned by another user);
- ``syslog:`` (the local ``/dev/log``), ``syslog:/path/to/socket`` or ``syslog:HOST:PORT``
  (UDP): the same line as a syslog message (facility user, tag ``sathub-audit-anchor``).

A line is ``sathub-audit-anchor {"id": …, "seq": …, "hash": …, "ts": …, "mac": …}``;
``mac = HMAC-SHA256(key, "anchor" ‖ [id, seq, hash, ts])``. Since every record's hash covers
the previous one, one anchored (seq, hash) pins every record up to ``seq``. Lines are found
anywhere in a text line, so an export of the syslog can be checked as it is.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from sathub.errors import InvalidInput

TAG = "sathub-audit-anchor"
_TAG_BYTES = TAG.encode()


class Anchor(Protocol):
    def write(self, line: str) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class FileAnchor:
    path: Path

    def write(self, line: str) -> None:
        data = (line + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {self.path}")
        finally:
            os.close(fd)

    def describe(self) -> str:
        return str(self.path)


class _StrictSysLog(logging.handlers.SysLogHandler):
    """The standard handler, but a failed send raises instead of printing to stderr."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        raise


class SyslogAnchor:
    def __init__(self, address: str | tuple[str, int], spec: str) -> None:
        self.address, self.spec = address, spec
        self._handler: _StrictSysLog | None = None
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            if self._handler is None:
                self._handler = _StrictSysLog(address=self.address)
                self._handler.append_nul = False
            record = logging.LogRecord("sathub.audit", logging.INFO, "", 0, line, None, None)
            self._handler.emit(record)

    def describe(self) -> str:
        return self.spec


def parse_targets(value: str) -> list[Anchor]:
    """``SATHUB_AUDIT_ANCHOR`` → targets; InvalidInput naming the setting."""
    out: list[Anchor] = []
    for raw in value.split(","):
        spec = raw.strip()
        if not spec:
            continue
        if spec.startswith("syslog:"):
            out.append(SyslogAnchor(_syslog_address(spec), spec))
            continue
        path = Path(spec).expanduser()
        if not path.is_absolute():
            raise InvalidInput(f"SATHUB_AUDIT_ANCHOR: {spec!r} is neither an absolute file path nor "
                               "syslog:…", field="audit_anchor")  # fmt: skip
        if not path.parent.is_dir():
            raise InvalidInput(f"SATHUB_AUDIT_ANCHOR: the directory of {spec} does not exist",
                               field="audit_anchor")  # fmt: skip
        out.append(FileAnchor(path))
    return out


def _syslog_address(spec: str) -> str | tuple[str, int]:
    rest = spec[len("syslog:"):]
    if not rest:
        return "/dev/log"
    if rest.startswith("/"):
        return rest
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"SATHUB_AUDIT_ANCHOR: {spec!r}: expected syslog:, syslog:/socket or "
                           "syslog:HOST:PORT", field="audit_anchor")  # fmt: skip
    return (host.strip("[]"), int(port))


# --------------------------------------------------------------------------- lines
def line_mac_body(key_id: str, seq: int, digest: str, ts: float) -> bytes:
    return orjson.dumps([key_id, seq, digest, ts])


def make_line(key: Any, seq: int, digest: str, ts: float) -> str:
    """The anchor line of record ``seq`` (``key`` an :class:`~sathub.access.audit_config.AuditKey`)."""
    mac = key.mac(b"anchor", line_mac_body(key.id, seq, digest, ts))
    return f"{TAG} " + orjson.dumps({"id": key.id, "seq": seq, "hash": digest, "ts": ts, "mac": mac}).decode()


@dataclass(frozen=True)
class AnchorLine:
    lineno: int
    key_id: str
    seq: int
    hash: str
    ts: float
    mac: str


def read_lines(path: Path, limit: int | None = None) -> Iterator[AnchorLine | int]:
    """The anchor lines of a file (its first ``limit`` bytes); a malformed line yields its
    line number instead."""
    with path.open("rb") as fh:
        remaining = limit
        for lineno, raw in enumerate(fh, 1):
            if remaining is not None:
                if len(raw) > remaining:  # written after the size was taken
                    return
                remaining -= len(raw)
            at = raw.find(_TAG_BYTES)
            if at < 0:
                continue
            start = raw.find(b"{", at)  # a syslog daemon may add ':' after the tag
            try:
                d = orjson.loads(raw[start:].rstrip(b"\0\r\n"))
                yield AnchorLine(lineno, str(d["id"]), int(d["seq"]), str(d["hash"]),
                                 float(d["ts"]), str(d["mac"]))  # fmt: skip
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                yield lineno
