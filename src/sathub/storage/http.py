"""HTTP byte ranges and validators (RFC 9110), independent of any web framework."""

from __future__ import annotations

from dataclasses import dataclass

from sathub.errors import RangeNotSatisfiable


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range a ``Range`` header asks for; None means "send the whole file".

    Multiple ranges are answered with the whole file (allowed by RFC 9110 §14.2), a malformed
    header is ignored (§14.2: "a server MAY ignore the Range header"), an unsatisfiable one
    raises :class:`RangeNotSatisfiable` (416).
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":  # suffix range: the last N bytes
            n = int(last)
            if n <= 0:
                raise RangeNotSatisfiable(f"empty suffix range for a {size}-byte object", size=size)
            return ByteRange(max(0, size - n), size - 1)
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0 or (last and end < start):
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"range starts at {start}, object has {size} bytes", size=size)
    return ByteRange(start, min(end, size - 1))


def etag_matches(header: str | None, etag: str) -> bool:
    """Weak comparison for ``If-None-Match`` (a list of tags or ``*``)."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags
