"""Element sets: TLE/3LE and CCSDS OMM (JSON, XML, CSV, KVN) parsed into ``sgp4`` Satrec.

OMM is first-class: catalog numbers above 339,999 (no TLE/Alpha-5 form exists for them) are
kept in :attr:`ElementSet.norad_id` while SGP4 itself gets satnum 0 (it only labels output).
Every parse error names the line (TLE) or the record and field (OMM).

Accuracy: SGP4 mean elements are good for a week or two around their epoch; predictions
further than :data:`STALE_AFTER_DAYS` from the epoch raise :class:`StaleElementsWarning`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from sgp4.api import WGS72, Satrec

from sathub.errors import InvalidDatetime, OrbitError
from sathub.timeutil import parse_datetime

STALE_AFTER_DAYS = 14.0
"""A prediction further than this from the element epoch warns (TLE accuracy degrades)."""

_MAX_SGP4_SATNUM = 339_999
_JD_UNIX_EPOCH = 2_440_587.5

ElementFormat = Literal["tle", "omm-json", "omm-xml", "omm-csv", "omm-kvn"]


class StaleElementsWarning(UserWarning):
    """A prediction is more than STALE_AFTER_DAYS from its element-set epoch."""


@dataclass
class ElementSet:
    """One mean element set of one satellite, ready for SGP4."""

    norad_id: int
    name: str
    epoch: datetime
    satrec: Satrec
    cospar_id: str | None = None
    source: ElementFormat = "tle"
    line1: str | None = None
    line2: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def mean_motion_rev_per_day(self) -> float:
        return float(self.satrec.no_kozai) * 1440.0 / (2.0 * math.pi)

    @property
    def period_min(self) -> float:
        return 1440.0 / self.mean_motion_rev_per_day

    def age_days(self, when: datetime) -> float:
        """Signed days from the epoch to ``when``."""
        return (when - self.epoch).total_seconds() / 86_400.0


# --------------------------------------------------------------------------------------- TLE


def tle_checksum(line: str) -> int:
    """Modulo-10 checksum of columns 1–68: digits count their value, '-' counts 1."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


def _check_tle_line(line: str, number: str, lineno: int, where: str,
                    verify_checksum: bool = True) -> None:
    if len(line) < 69:
        raise OrbitError(f"{where}line {lineno}: TLE line {number} has {len(line)} characters, "
                         "expected 69", field="tle")
    if line[0] != number or line[1] != " ":
        raise OrbitError(f"{where}line {lineno}: expected TLE line {number}", field="tle")
    if verify_checksum and (not line[68].isdigit() or int(line[68]) != tle_checksum(line)):
        raise OrbitError(
            f"{where}line {lineno}: bad TLE checksum (found {line[68]!r}, "
            f"computed {tle_checksum(line)})", field="tle")


def _cospar_from_tle(designator: str) -> str | None:
    designator = designator.strip()
    m = re.fullmatch(r"(\d\d)(\d{3})([A-Z]{1,3})", designator)
    if not m:
        return None
    yy = int(m.group(1))
    year = 1900 + yy if yy >= 57 else 2000 + yy
    return f"{year}-{m.group(2)}{m.group(3)}"


def _epoch_of(sat: Satrec) -> datetime:
    seconds = ((sat.jdsatepoch - _JD_UNIX_EPOCH) + sat.jdsatepochF) * 86_400.0
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=round(seconds, 6))


def parse_tle(text: str, *, source_name: str = "", verify_checksum: bool = True
              ) -> list[ElementSet]:
    """Parse two-line or three-line element sets (a name line before each pair is optional).

    Raises :class:`OrbitError` naming the line for a bad checksum, a short line, a line 2
    whose catalog number differs from line 1, or anything SGP4 rejects.
    """
    where = f"{source_name}: " if source_name else ""
    lines = [ln.rstrip("\r\n ") for ln in text.splitlines()]
    out: list[ElementSet] = []
    name = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("1 ") and len(line) >= 60:
            if i + 1 >= len(lines):
                raise OrbitError(f"{where}line {i + 1}: TLE line 1 without line 2", field="tle")
            l1, l2 = line, lines[i + 1]
            _check_tle_line(l1, "1", i + 1, where, verify_checksum)
            _check_tle_line(l2, "2", i + 2, where, verify_checksum)
            if l1[2:7] != l2[2:7]:
                raise OrbitError(f"{where}line {i + 2}: catalog number {l2[2:7]!r} differs from "
                                 f"line 1 ({l1[2:7]!r})", field="tle")
            try:
                sat = Satrec.twoline2rv(l1[:69], l2[:69], WGS72)
            except Exception as exc:  # sgp4 raises ValueError with its own text
                raise OrbitError(f"{where}line {i + 1}: SGP4 rejected the TLE: {exc}",
                                 field="tle") from exc
            # sat.error != 0 (e.g. perigee below the surface) is kept: propagate() reports it
            # as an SGP4 failure for that satellite instead of the file failing to load.
            out.append(ElementSet(norad_id=int(sat.satnum), name=name or str(sat.satnum),
                                  epoch=_epoch_of(sat), satrec=sat,
                                  cospar_id=_cospar_from_tle(l1[9:17]), source="tle",
                                  line1=l1[:69], line2=l2[:69]))
            name = ""
            i += 2
            continue
        if line.startswith("2 ") and len(line) >= 60:
            raise OrbitError(f"{where}line {i + 1}: TLE line 2 without line 1", field="tle")
        if line.startswith("#"):  # comment (as in Vallado's SGP4-VER.TLE)
            i += 1
            continue
        name = line[2:].strip() if line.startswith("0 ") else line.strip()
        i += 1
    if name:
        raise OrbitError(f"{where}line {len(lines)}: name {name!r} without TLE lines", field="tle")
    return out


# --------------------------------------------------------------------------------------- OMM

_REQUIRED_OMM = ("EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "RA_OF_ASC_NODE",
                 "ARG_OF_PERICENTER", "MEAN_ANOMALY", "NORAD_CAT_ID")
_NDOT_UNITS = 1036800.0 / math.pi
_NDDOT_UNITS = 2985984000.0 / 2.0 / math.pi
_EPOCH0 = datetime(1949, 12, 31, tzinfo=UTC)


def _omm_epoch(text: str) -> datetime:
    raw = text.strip().rstrip("Zz")
    # Allow 'YYYY-DDDTHH:MM:SS' (day of year) as well as calendar dates.
    if re.fullmatch(r"\d{4}-\d{3}T.*", raw):
        year, rest = raw.split("-", 1)
        doy, clock = rest.split("T", 1)
        base = datetime(int(year), 1, 1, tzinfo=UTC) + timedelta(days=int(doy) - 1)
        h, m, s = clock.split(":")
        return base + timedelta(hours=int(h), minutes=int(m), seconds=float(s))
    return parse_datetime(raw, field="EPOCH")


def omm_to_element_set(fields: Mapping[str, object], *, where: str = "OMM record",
                       source: ElementFormat = "omm-json") -> ElementSet:
    """Build an :class:`ElementSet` from one OMM record's fields (CCSDS keyword names)."""
    flds = {str(k).strip().upper(): ("" if v is None else str(v).strip()) for k, v in fields.items()}
    missing = [k for k in _REQUIRED_OMM if not flds.get(k)]
    if missing:
        raise OrbitError(f"{where}: missing OMM field(s) {', '.join(missing)}", field=missing[0])
    theory = flds.get("MEAN_ELEMENT_THEORY", "SGP4").upper()
    if theory not in ("SGP4", "SGP/SGP4", ""):
        raise OrbitError(f"{where}: MEAN_ELEMENT_THEORY {theory!r} is not SGP4",
                         field="MEAN_ELEMENT_THEORY")

    def num(key: str, default: float | None = None) -> float:
        value = flds.get(key, "")
        if value == "" and default is not None:
            return default
        try:
            return float(value)
        except ValueError:
            raise OrbitError(f"{where}: {key} is not a number: {value!r}", field=key) from None

    try:
        epoch = _omm_epoch(flds["EPOCH"])
    except (ValueError, InvalidDatetime):
        raise OrbitError(f"{where}: EPOCH is not a time: {flds['EPOCH']!r}", field="EPOCH") from None
    try:
        norad_id = int(float(flds["NORAD_CAT_ID"]))
    except ValueError:
        raise OrbitError(f"{where}: NORAD_CAT_ID is not an integer", field="NORAD_CAT_ID") from None
    ecc = num("ECCENTRICITY")
    mean_motion = num("MEAN_MOTION")
    if not 0.0 <= ecc < 1.0:
        raise OrbitError(f"{where}: ECCENTRICITY {ecc} outside [0, 1)", field="ECCENTRICITY")
    if mean_motion <= 0.0:
        raise OrbitError(f"{where}: MEAN_MOTION must be > 0 rev/day", field="MEAN_MOTION")
    rad = math.pi / 180.0
    sat = Satrec()
    sat.sgp4init(WGS72, "i", norad_id if 0 < norad_id <= _MAX_SGP4_SATNUM else 0,
                 (epoch - _EPOCH0).total_seconds() / 86_400.0,
                 num("BSTAR", 0.0), num("MEAN_MOTION_DOT", 0.0) / _NDOT_UNITS,
                 num("MEAN_MOTION_DDOT", 0.0) / _NDDOT_UNITS, ecc,
                 num("ARG_OF_PERICENTER") * rad, num("INCLINATION") * rad,
                 num("MEAN_ANOMALY") * rad, mean_motion / 720.0 * math.pi,
                 num("RA_OF_ASC_NODE") * rad)
    return ElementSet(norad_id=norad_id, name=flds.get("OBJECT_NAME") or str(norad_id),
                      epoch=epoch, satrec=sat, cospar_id=flds.get("OBJECT_ID") or None,
                      source=source, fields=flds)


def _strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _omm_xml_records(text: str) -> Iterable[dict[str, str]]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise OrbitError(f"malformed OMM XML: {exc}", field="omm") from exc
    for elem in root.iter():
        if _strip_ns(elem.tag) != "segment":
            continue
        record: dict[str, str] = {}
        for child in elem.iter():
            if len(child) == 0 and child.text is not None:
                record[_strip_ns(child.tag)] = child.text
        yield record


def _omm_kvn_records(text: str) -> Iterable[dict[str, str]]:
    record: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("COMMENT"):
            continue
        if "=" not in stripped:
            raise OrbitError(f"OMM KVN line {lineno}: expected 'KEY = value'", field="omm")
        key, value = (part.strip() for part in stripped.split("=", 1))
        value = re.sub(r"\s*\[[^\]]*\]\s*$", "", value)  # drop a trailing [unit]
        if key == "CCSDS_OMM_VERS" and record:
            yield record
            record = {}
        record[key.upper()] = value
    if record:
        yield record


def detect_format(text: str) -> ElementFormat:
    """Guess the element format from the text's first characters."""
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith(("{", "[")):
        return "omm-json"
    if head.startswith("<"):
        return "omm-xml"
    first = head.splitlines()[0] if head else ""
    if "NORAD_CAT_ID" in first.upper() and "," in first:
        return "omm-csv"
    if re.match(r"^\s*(CCSDS_OMM_VERS|COMMENT|[A-Z_]+\s*=)", head):
        return "omm-kvn"
    return "tle"


def parse_elements(text: str, fmt: ElementFormat | None = None, *,
                   source_name: str = "") -> list[ElementSet]:
    """Parse TLE/3LE or OMM text (format detected when ``fmt`` is None)."""
    fmt = fmt or detect_format(text)
    label = f"{source_name}: " if source_name else ""
    if fmt == "tle":
        return parse_tle(text, source_name=source_name)
    records: list[Mapping[str, object]]
    if fmt == "omm-json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OrbitError(f"{label}malformed OMM JSON: {exc}", field="omm") from exc
        records = data if isinstance(data, list) else [data]
        if not all(isinstance(r, dict) for r in records):
            raise OrbitError(f"{label}OMM JSON must be an object or a list of objects", field="omm")
    elif fmt == "omm-xml":
        records = list(_omm_xml_records(text))
    elif fmt == "omm-csv":
        records = list(csv.DictReader(io.StringIO(text)))
    elif fmt == "omm-kvn":
        records = list(_omm_kvn_records(text))
    else:
        raise OrbitError(f"unknown element format {fmt!r}", field="format")
    return [omm_to_element_set(rec, where=f"{label}OMM record {n}", source=fmt)
            for n, rec in enumerate(records, 1)]


def load_elements(path: str | Path, fmt: ElementFormat | None = None) -> list[ElementSet]:
    """Read an element file (TLE/3LE or OMM in any of its four encodings)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise OrbitError(f"cannot read element file {p}: {exc.strerror}", field="file") from exc
    return parse_elements(text, fmt, source_name=p.name)


# ---------------------------------------------------------------------------- history


class ElementHistory:
    """Element sets per satellite, in epoch order; picks the one nearest a time."""

    def __init__(self, sets: Iterable[ElementSet] = ()) -> None:
        self._by_id: dict[int, list[ElementSet]] = {}
        self.extend(sets)

    def extend(self, sets: Iterable[ElementSet]) -> None:
        for es in sets:
            bucket = self._by_id.setdefault(es.norad_id, [])
            if not any(e.epoch == es.epoch for e in bucket):
                bucket.append(es)
                bucket.sort(key=lambda e: e.epoch)

    def norad_ids(self) -> list[int]:
        return sorted(self._by_id)

    def history(self, norad_id: int) -> list[ElementSet]:
        return list(self._by_id.get(norad_id, []))

    def nearest(self, norad_id: int, when: datetime, *, warn: bool = True) -> ElementSet:
        """The element set whose epoch is nearest ``when``; warns if over 14 days away."""
        bucket = self._by_id.get(norad_id)
        if not bucket:
            from sathub.errors import NotFound

            raise NotFound(f"no element sets for NORAD {norad_id}", field="norad_id")
        best = min(bucket, key=lambda e: abs((e.epoch - when).total_seconds()))
        if warn:
            warn_if_stale(best, when)
        return best


def warn_if_stale(es: ElementSet, when: datetime) -> bool:
    """Warn (and return True) when ``when`` is more than 14 days from the epoch."""
    age = es.age_days(when)
    if abs(age) > STALE_AFTER_DAYS:
        warnings.warn(f"NORAD {es.norad_id} ({es.name}): prediction is {age:+.1f} days from the "
                      f"element epoch; SGP4 accuracy degrades after about a week or two",
                      StaleElementsWarning, stacklevel=2)
        return True
    return False
