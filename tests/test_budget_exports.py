"""Exports of the demo budget: the IATI file validates against the bundled 2.03 schema and its
transaction totals equal the ledger's; the Fiscal Data Package validates against its profile;
CSV and XLSX carry the report's exact figures; charts are PNGs."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from budget_support import Env, make_env
from lxml import etree

from sathub.budget import charts, demo, exports, iati, reports
from sathub.budget.config import BudgetConfig
from sathub.budget.model import IATI_TX_CODE

DATA = Path(__file__).parent / "budget_data"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    root = tmp_path_factory.mktemp("budget") / "data"
    e = make_env(root, BudgetConfig(org_ref="XM-DAC-99999", org_name="Demo space agency"))
    demo.build(e.service, root)
    return e


def test_iati_validates_and_its_totals_are_the_ledgers(env: Env) -> None:
    s = env.service
    xml = iati.activities(s.store, s.config)
    assert iati.validate(xml) == []
    doc = etree.fromstring(xml)
    assert doc.get("version") == "2.03"
    got: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for act in doc.iter("iati-activity"):
        project = act.findtext("iati-identifier").removeprefix("XM-DAC-99999-")  # type: ignore[union-attr]
        for tx in act.iter("transaction"):
            value = tx.find("value")
            assert value is not None
            got[(project, tx.find("transaction-type").get("code"), value.get("currency"))] += Decimal(value.text)  # type: ignore[union-attr,arg-type]
    # the ledger, summed here from the store's rows (approved transactions only)
    want: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for t in s.store.transactions():
        if t.status == "approved":
            want[(t.project, IATI_TX_CODE[t.kind], t.currency)] += Decimal(t.amount_minor).scaleb(-2 if t.currency != "JPY" else 0)
    assert dict(got) == dict(want) and len(want) > 10
    # budgets: original and revised per project and year, as the report gives them
    rep = {(r["project"], r["year"]): r for r in reports.report(s.store, s.config, ["project", "year"]).rows}
    for act in doc.iter("iati-activity"):
        project = act.findtext("iati-identifier").removeprefix("XM-DAC-99999-")  # type: ignore[union-attr]
        for b in act.iter("budget"):
            start = b.find("period-start").get("iso-date")  # type: ignore[union-attr]
            year = {"2024-04-01": "FY2024", "2025-04-01": "FY2025", "2026-04-01": "FY2026"}[start]  # type: ignore[index]
            key = "approved" if b.get("type") == "1" else "revised"
            assert Decimal(b.findtext("value")) == rep[(project, year)][key]  # type: ignore[arg-type]
    # FY2025 was revised: its revised budget is there beside the original
    gs = [a for a in doc.iter("iati-activity") if a.findtext("iati-identifier").endswith("GS-YGN")][0]  # type: ignore[union-attr]
    assert sorted(b.get("type") for b in gs.iter("budget")) == ["1", "1", "2"]


def test_the_schema_is_really_applied() -> None:
    broken = b"""<?xml version="1.0"?><iati-activities version="2.03"><iati-activity>
      <reporting-org ref="x" type="10"><narrative>x</narrative></reporting-org></iati-activity></iati-activities>"""
    problems = iati.validate(broken)
    assert problems and "iati-identifier" in problems[0]
    assert iati.validate(b"<not xml") != []


def test_fiscal_data_package_validates_against_its_profile(env: Env) -> None:
    import jsonschema

    files = exports.fdp_files(env.service.store, env.service.config)
    descriptor = json.loads(files["datapackage.json"])
    profile = json.loads((DATA / "fiscal-data-package.json").read_text())
    jsonschema.Draft4Validator(profile).validate(descriptor)
    rows = list(csv.DictReader(io.StringIO(files["budget.csv"].decode())))
    names = [f["name"] for f in descriptor["resources"][0]["schema"]["fields"]]
    assert list(rows[0]) == names
    for m in descriptor["model"]["measures"].values():
        assert m["source"] in names
    rep = reports.report(env.service.store, env.service.config, ["line"])
    total_line_rows = [r for r in rep.rows if r["line"] != reports.NONE]
    assert len(rows) == len(total_line_rows)
    for measure in ("approved", "revised", "committed", "spent"):
        assert sum(Decimal(r[measure]) for r in rows) == sum(r[measure] for r in total_line_rows)
    # the profile rejects a package without its model: the check is not vacuous
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(profile).validate({k: v for k, v in descriptor.items() if k != "model"})


def test_csv_and_xlsx_carry_the_exact_figures(env: Env) -> None:
    from openpyxl import load_workbook

    s = env.service
    rep = reports.report(s.store, s.config, ["year", "category"])
    rows = list(csv.reader(io.StringIO(exports.report_csv(rep))))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    for i, m in enumerate(reports.MEASURES, start=2):
        assert header[i] == m
        assert sum(Decimal(r[i]) for r in body) == Decimal(total[i]) == rep.total[m]
    wb = load_workbook(io.BytesIO(exports.report_xlsx(rep, s.store)))
    sheet = wb["report"]
    values = list(sheet.iter_rows(min_row=2, max_row=1 + len(rep.rows), values_only=True))
    for row, r in zip(values, rep.rows, strict=True):
        assert row[:2] == (r["year"], r["category"])
        assert [Decimal(str(v)) for v in row[2:]] == [r[m] for m in reports.MEASURES]
    assert sheet.cell(2, 3).number_format == "#,##0.00"
    assert wb["transactions"].max_row == 1 + len(s.store.transactions())


def _is_png(data: bytes) -> Any:
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    return img.format == "PNG" and img.size[0] > 300


def test_charts_are_pngs(env: Env) -> None:
    import datetime as dt

    s = env.service
    assert _is_png(charts.report_chart(reports.report(s.store, s.config, ["project"])))
    assert _is_png(charts.burn_chart(s.store, s.config, "FY2025", dt.date(2025, 12, 15)))
