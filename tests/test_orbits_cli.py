"""``sathub passes`` / ``opportunities`` / ``design`` / ``orders`` through the real CLI app."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sathub.cli import app

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "orbits"
EO = str(DATA / "eo_satellites_2025-10-04.txt")
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared data not present")
runner = CliRunner()


def test_passes_json_csv_table() -> None:
    args = ["passes", "--tle", EO, "--station", "48.1,11.6,520", "--start",
            "2025-10-04T12:00:00Z", "--hours", "12", "--min-elevation", "10"]
    out = runner.invoke(app, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert rows and {"norad_id", "name", "aos", "tca", "los", "max_elevation_deg"} <= set(rows[0])
    assert all(r["aos"].endswith("Z") and r["max_elevation_deg"] >= 10 for r in rows)
    out = runner.invoke(app, [*args, "--format", "csv"])
    assert len(list(csv.DictReader(io.StringIO(out.stdout)))) == len(rows)
    out = runner.invoke(app, [*args, "--format", "table"])
    assert out.exit_code == 0 and "SENTINEL" in out.stdout


@pytest.mark.parametrize("extra,message", [
    (["--station", "91,0"], "latitude"),
    (["--station", "48,11", "--hours", "1000"], "hours"),
    (["--station", "48,11", "--norad", "1"], "unknown satellite"),
    (["--station", "48,11", "--format", "xml"], "--format"),
])
def test_passes_errors_exit_2(extra: list[str], message: str) -> None:
    out = runner.invoke(app, ["passes", "--tle", EO, "--start", "2025-10-04T12:00Z", *extra])
    assert out.exit_code == 2
    assert message in out.output and "Traceback" not in out.output


def test_bad_checksum_file_exit_2(tmp_path: Path) -> None:
    lines = (DATA / "eo_satellites_2025-10-04.txt").read_text().splitlines()
    lines[2] = lines[2][:-1] + str((int(lines[2][-1]) + 1) % 10)
    bad = tmp_path / "bad.tle"
    bad.write_text("\n".join(lines))
    out = runner.invoke(app, ["passes", "--tle", str(bad), "--station", "0,0", "--start",
                              "2025-10-04T00:00Z"])
    assert out.exit_code == 2 and "line 3: bad TLE checksum" in out.output


def test_opportunities_and_orders(tmp_path: Path) -> None:
    out = runner.invoke(app, ["opportunities", "--tle", EO, "--bbox", "96.0,19.7,96.2,19.9",
                              "--start", "2025-10-04T00:00Z", "--hours", "48",
                              "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)[0]["footprint"]["type"] in ("Polygon", "MultiPolygon")
    args = ["orders", "create", "--data", str(tmp_path), "--bbox", "96.0,19.7,96.2,19.9", "--start",
            "2025-10-04T00:00Z"]  # fmt: skip
    out = runner.invoke(app, args)
    assert out.exit_code == 2 and "not a sathub data directory" in out.output  # orders live in one
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    out = runner.invoke(app, ["orders", "create", "--data", str(tmp_path), "--bbox",
                              "96.0,19.7,96.2,19.9", "--start", "2025-10-04T00:00Z",
                              "--priority", "disaster"])
    oid = out.stdout.strip()
    assert out.exit_code == 0 and oid
    assert runner.invoke(app, ["orders", "plan", oid, "--tle", EO, "--data",
                               str(tmp_path)]).exit_code == 0
    out = runner.invoke(app, ["orders", "status", oid, "delivered", "--data", str(tmp_path)])
    assert out.exit_code == 2 and "cannot become delivered" in out.output
    out = runner.invoke(app, ["design", "sun-sync", "--epoch", "2025-10-04T00:00Z"])
    assert out.exit_code == 0 and out.stdout.splitlines()[1].startswith("1 00000U")


def test_opportunities_default_max_off_nadir_is_a_limit_for_every_sensor() -> None:
    """The default --max-off-nadir (30°) used to apply only to --swath-km sensors: the built-in
    Resurs-P and Kanopus sensors came back at up to 45° and 40°."""
    args = ["opportunities", "--tle", EO, "--bbox", "96,21,96.5,21.5", "--start",
            "2025-10-05T00:00:00Z", "--hours", "72", "--format", "json"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert rows and max(r["off_nadir_deg"] for r in rows) <= 30.0
    wide = json.loads(runner.invoke(app, [*args, "--max-off-nadir", "45"]).stdout)
    assert max(r["off_nadir_deg"] for r in wide) > 30.0  # the agile sensors do point further
    assert max(r["off_nadir_deg"] for r in wide) <= 45.0
    narrow = json.loads(runner.invoke(app, [*args, "--max-off-nadir", "10"]).stdout)
    assert narrow and max(r["off_nadir_deg"] for r in narrow) <= 10.0


@pytest.mark.parametrize("bbox,message", [
    ("96,22,96.5,21", "south (22) must be less than north (21)"),
    ("96,21,96,22", "no width"),
    ("96,21,200,22", "longitudes"),
    ("96,-95,97,22", "latitudes"),
])
def test_opportunities_bad_bbox_exit_2(bbox: str, message: str) -> None:
    out = runner.invoke(app, ["opportunities", "--tle", EO, "--bbox", bbox, "--start",
                              "2025-10-05T00:00:00Z", "--hours", "24"])
    assert out.exit_code == 2, out.output
    assert message in out.output and "Traceback" not in out.output


def test_opportunities_bad_off_nadir_exit_2() -> None:
    out = runner.invoke(app, ["opportunities", "--tle", EO, "--bbox", "96,21,96.5,21.5",
                              "--start", "2025-10-05T00:00:00Z", "--max-off-nadir", "75"])
    assert out.exit_code == 2 and "--max-off-nadir" in out.output


def test_sun_sync_readme_command_and_readable_numbers() -> None:
    """README: `sathub design sun-sync --altitude-km 600 --ltdn 10:30` (no --epoch)."""
    from datetime import UTC, datetime

    out = runner.invoke(app, ["design", "sun-sync", "--altitude-km", "600", "--ltdn", "10:30"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0] == "PLANNED" and lines[1].startswith("1 00000U")
    today = datetime.now(UTC)
    epoch_field = lines[1][18:32]  # YYDDD.DDDDDDDD
    assert epoch_field == f"{today.year % 100:02d}{today.timetuple().tm_yday:03d}.00000000"
    out = runner.invoke(app, ["design", "sun-sync", "--altitude-km", "600", "--ltdn", "10:30",
                              "--epoch", "2025-10-04T00:00Z", "--bbox", "96,21,97,22",
                              "--days", "3"])
    assert out.exit_code == 0, out.output
    import re

    summary = next(line for line in out.stderr.splitlines() if "revisit" in line)
    assert re.search(r"mean revisit \d+\.\d\d h \(\d+ d \d+ h \d\d min\)", summary), summary
    assert re.search(r"inclination 97\.\d\d°", out.stderr)
    assert not re.search(r"\d\.\d{5,}", summary)  # no 24.18420138888889
