"""TLE/3LE and OMM (JSON, XML, CSV, KVN) parsing; element history and staleness."""

from __future__ import annotations

import csv
import io
import json
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sgp4.api import Satrec
from sgp4.exporter import export_omm

from sathub.errors import NotFound, OrbitError
from sathub.orbits.elements import (
    ElementHistory,
    StaleElementsWarning,
    detect_format,
    parse_elements,
    parse_tle,
    tle_checksum,
)

NAME = "SENTINEL-2A"
L1 = "1 40697U 15028A   25276.64126228  .00000414  00000+0  17471-3 0  9996"
L2 = "2 40697  98.5698 350.1648 0001175  96.4135 263.7182 14.30817766537043"


def _omm_fields() -> dict[str, object]:
    return export_omm(Satrec.twoline2rv(L1, L2), NAME)


def _kvn(fields: dict[str, object]) -> str:
    lines = ["CCSDS_OMM_VERS = 2.0", "COMMENT made in a test"]
    lines += [f"{k} = {v}" for k, v in fields.items()]
    lines[-1] += " [unit]"  # units in brackets are allowed
    return "\n".join(lines) + "\n"


def _xml(fields: dict[str, object]) -> str:
    meta = ("OBJECT_NAME", "OBJECT_ID", "CENTER_NAME", "REF_FRAME", "TIME_SYSTEM",
            "MEAN_ELEMENT_THEORY")
    mean = ("EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "RA_OF_ASC_NODE",
            "ARG_OF_PERICENTER", "MEAN_ANOMALY")

    def block(keys: tuple[str, ...]) -> str:
        return "".join(f"<{k}>{fields[k]}</{k}>" for k in keys if k in fields)

    rest = tuple(k for k in fields if k not in meta + mean)
    return ('<?xml version="1.0"?><ndm><omm><body><segment>'
            f"<metadata>{block(meta)}</metadata><data><meanElements>{block(mean)}"
            f"</meanElements><tleParameters>{block(rest)}</tleParameters></data>"
            "</segment></body></omm></ndm>")


def _csv(fields: dict[str, object]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields))
    writer.writeheader()
    writer.writerow(fields)
    return buf.getvalue()


def test_tle_three_and_two_line() -> None:
    three = parse_tle(f"{NAME}\n{L1}\n{L2}\n")
    two = parse_tle(f"{L1}\n{L2}")
    zero = parse_tle(f"0 {NAME}\n{L1}\n{L2}")
    assert three[0].name == zero[0].name == NAME
    assert three[0].norad_id == two[0].norad_id == 40697
    assert three[0].cospar_id == "2015-028A"
    assert three[0].epoch.date().isoformat() == "2025-10-03"


@pytest.mark.parametrize("fmt", ["omm-json", "omm-xml", "omm-csv", "omm-kvn"])
def test_omm_encodings_agree_with_tle(fmt: str) -> None:
    fields = _omm_fields()
    text = {"omm-json": json.dumps([fields]), "omm-xml": _xml(fields),
            "omm-csv": _csv(fields), "omm-kvn": _kvn(fields)}[fmt]
    assert detect_format(text) == fmt
    (es,) = parse_elements(text)
    (ref,) = parse_tle(f"{L1}\n{L2}")
    assert es.norad_id == 40697 and es.name == NAME and es.source == fmt
    jd = np.array([ref.satrec.jdsatepoch + 1.0])
    fr = np.array([0.25])
    _, r1, _ = es.satrec.sgp4_array(jd, fr)
    _, r2, _ = ref.satrec.sgp4_array(jd, fr)
    assert np.abs(r1 - r2).max() < 1e-3  # km: OMM decimals vs TLE columns


def test_omm_catalog_number_beyond_tle_range() -> None:
    fields = _omm_fields() | {"NORAD_CAT_ID": 812345678}
    (es,) = parse_elements(json.dumps(fields))
    assert es.norad_id == 812345678
    e, r, _ = es.satrec.sgp4(es.satrec.jdsatepoch, 0.1)
    assert e == 0 and 6800 < np.linalg.norm(r) < 7300


def test_malformed_omm_names_the_field() -> None:
    fields = _omm_fields()
    del fields["MEAN_MOTION"]
    with pytest.raises(OrbitError, match="MEAN_MOTION"):
        parse_elements(json.dumps(fields))
    with pytest.raises(OrbitError, match="ECCENTRICITY"):
        parse_elements(json.dumps(_omm_fields() | {"ECCENTRICITY": "1.5"}))
    with pytest.raises(OrbitError, match="malformed OMM XML"):
        parse_elements("<ndm><omm>", "omm-xml")
    with pytest.raises(OrbitError, match="malformed OMM JSON"):
        parse_elements("[{", "omm-json")


def test_bad_checksum_names_the_line() -> None:
    bad = L2[:-1] + str((int(L2[-1]) + 1) % 10)
    with pytest.raises(OrbitError, match=r"line 3: bad TLE checksum"):
        parse_tle(f"{NAME}\n{L1}\n{bad}\n")
    with pytest.raises(OrbitError, match="line 2: TLE line 2 has"):
        parse_tle(f"{L1}\n{L2[:40]}")
    with pytest.raises(OrbitError, match="without line 1"):
        parse_tle(L2)


@settings(max_examples=60, deadline=None)
@given(col=st.integers(min_value=2, max_value=67), line_no=st.sampled_from([1, 2]),
       delta=st.integers(min_value=1, max_value=9))
def test_any_single_digit_change_is_caught(col: int, line_no: int, delta: int) -> None:
    line = L1 if line_no == 1 else L2
    if not line[col].isdigit():
        return
    changed = line[:col] + str((int(line[col]) + delta) % 10) + line[col + 1:]
    assert tle_checksum(changed) != int(line[68])
    text = f"{changed}\n{L2}" if line_no == 1 else f"{L1}\n{changed}"
    with pytest.raises(OrbitError):
        parse_tle(text)


def test_history_nearest_and_stale_warning() -> None:
    (base,) = parse_tle(f"{L1}\n{L2}")
    fields = _omm_fields()
    later = dict(fields, EPOCH=(base.epoch + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S.%f"))
    history = ElementHistory([base, *parse_elements(json.dumps(later))])
    assert len(history.history(40697)) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert history.nearest(40697, base.epoch + timedelta(days=2)) is base
        assert history.nearest(40697, base.epoch + timedelta(days=8)).epoch > base.epoch
    with pytest.warns(StaleElementsWarning):
        history.nearest(40697, base.epoch + timedelta(days=30))
    with pytest.raises(NotFound):
        history.nearest(1, datetime(2025, 1, 1, tzinfo=UTC))
