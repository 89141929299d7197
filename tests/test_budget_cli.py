"""``sathub budget …``: a whole workflow through the CLI, exit 2 on bad input with the field
named and nothing written, and links and revenue against a real data directory (orbits
registry, access store, audited downloads, catalog footprints)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sathub.cli import app

runner = CliRunner()


def sh(data: Path, *args: str, code: int = 0) -> str:
    r = runner.invoke(app, ["budget", *args, "--data", str(data)])
    assert r.exit_code == code, (args, r.output)
    return r.stdout


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    d = tmp_path / "d"
    assert runner.invoke(app, ["init", str(d)]).exit_code == 0
    rates = tmp_path / "rates.csv"
    rates.write_text("date,base,quote,rate\n2025-04-01,USD,MMK,2100\n2025-04-01,EUR,USD,1.12\n")
    sh(d, "rates", "load", str(rates))
    sh(d, "years", "add", "FY2025", "--start", "2025-04-01")
    sh(d, "projects", "add", "GS", "--name", "Ground station", "--kind", "ground_station", "--programme", "EO")
    sh(d, "refs", "add-funding", "UNION", "--name", "Union budget", "--kind", "government")
    assert sh(d, "lines", "add", "--year", "FY2025", "--project", "GS", "--category", "equipment",
              "--funding", "UNION", "--currency", "USD", "--amount", "100000").strip() == "1"  # fmt: skip
    return d


def _state(data: Path) -> tuple[str, ...]:
    return tuple(sh(data, *cmd, "--format", "json") for cmd in
                 (("transactions",), ("lines", "list"), ("versions", "history", "FY2025"), ("rates", "list")))  # fmt: skip


def test_workflow(data: Path) -> None:
    sh(data, "versions", "approve", "FY2025", code=2)  # cli:<login> added the year: the drafter
    sh(data, "versions", "approve", "FY2025", "--as", "approver:b")
    out = sh(data, "commitments", "add", "--line", "1", "--amount", "60000", "--currency", "USD", "--date",
             "2025-05-01", "--counterparty", "Antenna Co", "--as", "finance:a")  # fmt: skip
    tx = int(out)
    sh(data, "commitments", "approve", str(tx), "--as", "finance:a", code=2)  # the maker
    sh(data, "commitments", "approve", str(tx), "--as", "approver:b")
    sh(data, "commitments", "approve", str(tx), "--as", "approver:b", code=2)  # twice
    sh(data, "spend", "--kind", "expenditure", "--amount", "20000", "--currency", "USD", "--date", "2025-06-01",
       "--commitment", str(tx))  # fmt: skip
    rows = json.loads(sh(data, "lines", "list", "--format", "json"))
    assert rows[0]["committed"] == "60000.00" and rows[0]["spent"] == "20000.00" and rows[0]["available"] == "40000.00"
    rep = json.loads(sh(data, "report", "--by", "quarter", "--format", "json"))
    assert rep["total"]["committed"] == "60000.00"
    assert [r["quarter"] for r in rep["rows"]] == ["Q1", "Q2", "Q3", "Q4"]
    assert sum(Decimal(r["revised"]) for r in rep["rows"]) == Decimal("100000.00")
    csv_text = sh(data, "report", "--by", "category", "--format", "csv")
    assert csv_text.splitlines()[-1].startswith("total,100000.00,100000.00,60000.00")
    xml = sh(data, "iati")
    assert xml.startswith("<?xml") and "<transaction-type code=\"2\"/>" in xml
    fdp = data.parent / "fdp"
    sh(data, "fdp", "--output", str(fdp))
    assert json.loads((fdp / "datapackage.json").read_text())["model"]["measures"]["spent"]["phase"] == "executed"
    png = data.parent / "r.png"
    sh(data, "report", "--format", "png", "--output", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    f = json.loads(sh(data, "forecast", "--year", "FY2025", "--as-of", "2025-07-01", "--format", "json"))
    assert f["total"]["open_commitments"] == "40000.00"
    sh(data, "versions", "revise", "FY2025", "--reason", "more antennas", "--as", "finance:a")
    sh(data, "lines", "set-amount", "1", "120000", "--as", "finance:a")
    sh(data, "versions", "approve", "FY2025", "--as", "approver:b")
    hist = json.loads(sh(data, "versions", "history", "FY2025", "--format", "json"))
    assert [h["amounts"]["1"] for h in hist] == ["100000.00", "120000.00"] and hist[1]["reason"] == "more antennas"
    sh(data, "years", "close", "FY2025", "--as", "approver:b")
    r = runner.invoke(app, ["budget", "versions", "revise", "FY2025", "--reason", "late", "--data", str(data)])
    assert r.exit_code == 2 and "fiscal_year" in r.output and "closed" in r.output


BAD = [
    (["commitments", "add", "--line", "9", "--amount", "1", "--currency", "USD", "--date", "2025-05-01",
      "--counterparty", "x"], "line"),
    (["commitments", "add", "--line", "1", "--amount", "-1", "--currency", "USD", "--date", "2025-05-01",
      "--counterparty", "x"], "amount"),
    (["commitments", "add", "--line", "1", "--amount", "1", "--currency", "ZZZ", "--date", "2025-05-01",
      "--counterparty", "x"], "currency"),
    (["commitments", "add", "--line", "1", "--amount", "1", "--currency", "GBP", "--date", "2025-05-01",
      "--counterparty", "x"], "value_date"),
    (["commitments", "add", "--line", "1", "--amount", "200000", "--currency", "USD", "--date", "2025-05-01",
      "--counterparty", "x"], "amount"),
    (["lines", "add", "--year", "FY2025", "--project", "NOPE", "--category", "equipment", "--funding", "UNION",
      "--currency", "USD"], "project"),
    (["spend", "--kind", "expenditure", "--amount", "1", "--currency", "USD", "--date", "2025-05-01"], "line"),
    (["rates", "load", "/nonexistent.csv"], "file"),
    (["report", "--by", "colour"], "group_by"),
    (["commitments", "add", "--line", "1", "--amount", "1", "--currency", "USD", "--date", "2025-05-01",
      "--counterparty", "x", "--link", "satellite:424242"], "satellite"),
]  # fmt: skip


@pytest.mark.parametrize("args, field", BAD, ids=[f"{b[0][0]}-{b[1]}" for b in BAD])
def test_bad_input_exits_2_naming_the_field(data: Path, args: list[str], field: str) -> None:
    sh(data, "versions", "approve", "FY2025", "--as", "approver:b")
    before = _state(data)
    r = runner.invoke(app, ["budget", *args, "--data", str(data)])
    assert r.exit_code == 2, r.output
    assert field in r.output and "Traceback" not in r.output
    assert _state(data) == before


def test_not_a_data_directory(tmp_path: Path) -> None:
    r = runner.invoke(app, ["budget", "years", "list", "--data", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "not a sathub data directory" in r.output


def test_links_and_revenue_in_a_real_data_directory(data: Path) -> None:
    """Satellites from the orbits registry, agreements from the access store; revenue from
    audited downloads (per GB) and from the footprints of the items delivered (per km²)."""
    from pyproj import Geod
    from shapely.geometry import box

    from sathub.access.service import AccessService
    from sathub.catalog.sqlite import SQLiteStore
    from sathub.config import Settings
    from sathub.orbits.registry import Registry, Satellite

    reg = Registry(data)
    reg.upsert(Satellite(norad_id=62345, name="TESTSAT"))
    access = AccessService.for_layout(Settings(data=data).layout)
    org = access.store.add_org("Partner", "government")
    agreement = access.store.add_agreement(org.id, title="t", collections=("c",))
    store = SQLiteStore(Settings(data=data).layout.catalog_db)
    with store.transaction() as tx:
        tx.put_collection({"type": "Collection", "id": "c", "stac_version": "1.0.0", "description": "c",
                           "license": "proprietary", "links": [],
                           "extent": {"spatial": {"bbox": [[96, 16, 97, 17]]}, "temporal": {"interval": [[None, None]]}}},
                          mode="insert")  # fmt: skip
        for i, b in enumerate([(96.0, 16.0, 96.1, 16.1), (96.2, 16.2, 96.4, 16.3)]):
            tx.put_item({"type": "Feature", "stac_version": "1.0.0", "id": f"i{i}", "collection": "c",
                         "geometry": box(*b).__geo_interface__, "bbox": list(b), "links": [], "assets": {},
                         "properties": {"datetime": "2025-05-01T00:00:00Z"}}, mode="insert")  # fmt: skip
    store.close()
    ts = 1747000000.0  # 2025-05-11
    for item, nbytes in (("i0", 2_500_000_000), ("i0", 500_000_000), ("i1", 1_000_000_000)):
        access.audit.append("key:9", "download", f"c/{item}/data", nbytes=nbytes, agreement_id=agreement.id, ts=ts)
    access.audit.append("key:9", "download", "c/i1/data", nbytes=7, outcome="quota exceeded", agreement_id=agreement.id, ts=ts)
    sh(data, "link", "--owner", "project", "--id", "GS", "--to", "satellite:62345")
    sh(data, "link", "--owner", "line", "--id", "1", "--to", f"agreement:{agreement.id}")
    sh(data, "link", "--owner", "line", "--id", "1", "--to", "agreement:999", code=2)
    sh(data, "link", "--owner", "line", "--id", "1", "--to", "order:nope", code=2)
    sh(data, "refs", "add-funding", "REV", "--name", "Data sales", "--kind", "own_revenue")
    sh(data, "price", "--agreement", str(agreement.id), "--unit", "per_gb", "--price", "12.50",
       "--currency", "USD", "--project", "GS", "--funding", "REV")  # fmt: skip
    rev = json.loads(sh(data, "revenue", "--agreement", str(agreement.id), "--from", "2025-05-01", "--to", "2025-05-31"))
    assert rev["quantity"] == "4" and rev["amount"] == "50.00" and rev["deliveries"] == 3
    booked = json.loads(sh(data, "revenue", "--agreement", str(agreement.id), "--from", "2025-05-01",
                           "--to", "2025-05-31", "--book"))  # fmt: skip
    txs = json.loads(sh(data, "transactions", "--format", "json"))
    assert [(t["id"], t["kind"], t["amount"]) for t in txs] == [(booked["transaction"], "incoming_funds", "50.00")]
    sh(data, "revenue", "--agreement", str(agreement.id), "--from", "2025-05-15", "--to", "2025-06-15", "--book",
       code=2)  # overlaps the booked period  # fmt: skip
    sh(data, "price", "--agreement", str(agreement.id), "--unit", "per_km2", "--price", "0.80",
       "--currency", "USD", "--project", "GS", "--funding", "REV")  # fmt: skip
    rev = json.loads(sh(data, "revenue", "--agreement", str(agreement.id), "--from", "2025-05-01", "--to", "2025-05-31"))
    geod = Geod(ellps="WGS84")
    km2 = sum(abs(geod.geometry_area_perimeter(box(*b))[0]) / 1e6
              for b in [(96.0, 16.0, 96.1, 16.1), (96.2, 16.2, 96.4, 16.3)])  # fmt: skip
    assert abs(Decimal(rev["quantity"]) - Decimal(km2)) < Decimal("0.00001") and rev["items"] == 2
    assert Decimal(rev["amount"]) == (Decimal(rev["quantity"]) * Decimal("0.80")).quantize(Decimal("0.01"))
    cost = json.loads(sh(data, "satellite", "62345"))
    assert cost["projects"] == ["GS"] and cost["budget"]["revised"] == "0.00"  # FY2025 not approved here
