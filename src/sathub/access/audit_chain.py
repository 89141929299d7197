"""The audit chain's primitives, shared by the log (:mod:`sathub.access.audit`) and its
verification (:mod:`sathub.access.audit_verify`): the record layout and the MACs of records,
the head and pending tile rows."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import orjson

from sathub.access.audit_config import AuditKey

GENESIS = "0" * 64
FMT = 2  # records of the first format (fmt NULL) have no ``charged`` column in their hash
COLUMNS = ("seq", "ts", "actor", "action", "resource", "bytes", "outcome", "agreement_id",
           "activation_id", "detail")  # fmt: skip
RECORD = (*COLUMNS, "charged")


def record_digest(key: bytes, prev: str, record: Sequence[Any], fmt: int | None) -> str:
    """The chain hash of ``record`` (the values of :data:`RECORD`, in order)."""
    if fmt is None:
        body = orjson.dumps(list(record[:10]))
    elif fmt == 2:
        body = orjson.dumps([2, *record[:11]])
    else:
        return ""  # an unknown format never verifies
    return hmac.new(key, prev.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def head_mac(key: AuditKey, seq: int, digest: str, ts: float) -> str:
    return key.mac(b"head", orjson.dumps([seq, digest, ts]))


def pending_mac(key: AuditKey, row: Sequence[Any]) -> str:
    """MAC of a ``tile_pending`` row: (hour, actor, resource, agreement, activation, charged,
    requests, bytes)."""
    return key.mac(b"tile", orjson.dumps(list(row[:8])))
