"""Exports: a report as CSV or XLSX (report, lines and transactions sheets, amounts written as
exact decimals with the currency's decimal places), and the Fiscal Data Package
(``datapackage.json`` + ``budget.csv``, valid under the Fiscal Data Package profile: measures approved,
adjusted (the revised figures) and executed (spent), with committed beside them; dimensions
fiscal year, programme, project, functional category and funding source)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from decimal import Decimal
from typing import Any

from sathub.budget import reports
from sathub.budget.config import BudgetConfig
from sathub.budget.money import from_minor, minor_units
from sathub.budget.reports import Report
from sathub.budget.store import BudgetReader


def report_csv(rep: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*rep.group_by, *reports.MEASURES, "currency"])
    for row in rep.rows:
        w.writerow([row[g] for g in rep.group_by] + [str(row[m]) for m in reports.MEASURES] + [rep.currency])
    w.writerow(["total"] + [""] * (len(rep.group_by) - 1) + [str(rep.total[m]) for m in reports.MEASURES]
               + [rep.currency])  # fmt: skip
    return buf.getvalue()


def _money_format(currency: str) -> str:
    digits = minor_units(currency)
    return "#,##0" + ("." + "0" * digits if digits else "")


def report_xlsx(rep: Report, r: BudgetReader) -> bytes:
    """The report, every line and every transaction, one sheet each."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "report"
    ws.append([*rep.group_by, *reports.MEASURES])
    fmt = _money_format(rep.currency)
    for row in [*rep.rows, {**dict.fromkeys(rep.group_by, ""), **rep.total, rep.group_by[0]: "total"}]:
        ws.append([row[g] for g in rep.group_by] + [row[m] for m in reports.MEASURES])
        for cell in ws[ws.max_row][len(rep.group_by):]:
            cell.number_format = fmt
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.append([])
    ws.append([f"amounts in {rep.currency} at each fiscal year's budget rate"])
    lines = wb.create_sheet("lines")
    lines.append(["id", "year", "project", "category", "funding", "currency", "revised", "committed",
                  "pending", "spent", "available", "control_commitment", "control_expenditure"])  # fmt: skip
    for ln in r.lines():
        p = r.position(ln.id)
        lines.append([ln.id, ln.year, ln.project, ln.category, ln.funding, ln.currency,
                      *(from_minor(v, ln.currency) for v in (p.revised, p.committed, p.pending, p.spent, p.available)),
                      ln.control_commitment, ln.control_expenditure])  # fmt: skip
        for cell in lines[lines.max_row][6:11]:
            cell.number_format = _money_format(ln.currency)
    txs = wb.create_sheet("transactions")
    txs.append(["id", "kind", "status", "year", "project", "funding", "line", "commitment", "value_date",
                "amount", "currency", "rate", "amount_line", "line_currency", "counterparty", "reference"])  # fmt: skip
    for t in r.transactions():
        txs.append([t.id, t.kind, t.status, t.year, t.project, t.funding, t.line_id, t.commitment_id,
                    t.value_date, from_minor(t.amount_minor, t.currency), t.currency, t.rate,
                    from_minor(t.amount_line_minor, t.line_currency), t.line_currency, t.counterparty,
                    t.reference])  # fmt: skip
        txs.cell(txs.max_row, 10).number_format = _money_format(t.currency)
        txs.cell(txs.max_row, 13).number_format = _money_format(t.line_currency)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -------------------------------------------------------------- fiscal data package
FDP_FIELDS = [
    ("fiscal_year", "string", "Fiscal year"), ("programme", "string", "Programme"),
    ("project", "string", "Project code"), ("project_name", "string", "Project"),
    ("category", "string", "Functional category code"), ("category_name", "string", "Functional category"),
    ("funding", "string", "Funding source code"), ("funding_kind", "string", "Kind of funding source"),
    ("line", "integer", "Budget line"), ("approved", "number", "Approved (original) budget"),
    ("revised", "number", "Revised (adjusted) budget"), ("committed", "number", "Committed"),
    ("spent", "number", "Spent (executed)"),
]  # fmt: skip


def fdp_rows(r: BudgetReader, config: BudgetConfig) -> list[dict[str, Any]]:
    projects = {p.code: p for p in r.projects()}
    cats = {c.code: c for c in r.categories()}
    funds = {f.code: f for f in r.fundings()}
    lines = {str(ln.id): ln for ln in r.lines()}
    rep = reports.report(r, config, ["line"])
    out = []
    for row in rep.rows:
        ln = lines.get(row["line"])
        if ln is None:
            continue  # incoming funds without a line: not a budget line
        out.append({"fiscal_year": ln.year, "programme": projects[ln.project].programme, "project": ln.project,
                    "project_name": projects[ln.project].name, "category": ln.category,
                    "category_name": cats[ln.category].name, "funding": ln.funding,
                    "funding_kind": funds[ln.funding].kind, "line": ln.id, "approved": row["approved"],
                    "revised": row["revised"], "committed": row["committed"], "spent": row["spent"]})  # fmt: skip
    return out


def fdp_descriptor(config: BudgetConfig, title: str = "Programme budget") -> dict[str, Any]:
    cur = config.currency
    return {
        # the published FDP profile (a JSON Schema) extends the Tabular Data Package's and so
        # requires this value; the ``model`` below is what makes the package fiscal
        "profile": "tabular-data-package",
        "name": "sathub-programme-budget",
        "title": title,
        "resources": [{
            "profile": "tabular-data-resource", "name": "budget", "path": "budget.csv",
            "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
            "schema": {"fields": [{"name": n, "type": t, "title": d} for n, t, d in FDP_FIELDS],
                       "primaryKey": ["line"]},
        }],
        "model": {
            "measures": {
                "approved": {"source": "approved", "currency": cur, "direction": "expenditure", "phase": "approved"},
                "revised": {"source": "revised", "currency": cur, "direction": "expenditure", "phase": "adjusted"},
                "committed": {"source": "committed", "currency": cur, "direction": "expenditure"},
                "spent": {"source": "spent", "currency": cur, "direction": "expenditure", "phase": "executed"},
            },
            "dimensions": {
                "fiscal_year": {"dimensionType": "datetime", "primaryKey": "fiscal_year",
                                "attributes": {"fiscal_year": {"source": "fiscal_year"}}},
                "programme": {"dimensionType": "activity", "primaryKey": "programme",
                              "attributes": {"programme": {"source": "programme"}}},
                "project": {"dimensionType": "activity", "primaryKey": "project",
                            "attributes": {"project": {"source": "project"},
                                           "project_name": {"source": "project_name", "labelfor": "project"}}},
                "category": {"dimensionType": "classification", "classificationType": "functional",
                             "primaryKey": "category",
                             "attributes": {"category": {"source": "category"},
                                            "category_name": {"source": "category_name", "labelfor": "category"}}},
                "funding": {"dimensionType": "entity", "primaryKey": "funding",
                            "attributes": {"funding": {"source": "funding"},
                                           "funding_kind": {"source": "funding_kind"}}},
                "line": {"dimensionType": "fact", "primaryKey": "line", "attributes": {"line": {"source": "line"}}},
            },
        },
    }  # fmt: skip


def fdp_files(r: BudgetReader, config: BudgetConfig) -> dict[str, bytes]:
    """``{"datapackage.json": …, "budget.csv": …}``."""
    rows = fdp_rows(r, config)
    buf = io.StringIO()
    w = csv.DictWriter(buf, [n for n, _, _ in FDP_FIELDS], lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()})
    return {"datapackage.json": json.dumps(fdp_descriptor(config), indent=2).encode(),
            "budget.csv": buf.getvalue().encode()}  # fmt: skip


def fdp_zip(r: BudgetReader, config: BudgetConfig) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in fdp_files(r, config).items():
            z.writestr(name, data)
    return buf.getvalue()
