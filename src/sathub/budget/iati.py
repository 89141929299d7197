"""IATI activity XML 2.03 for cooperation reporting, validated against the activity schema
bundled in ``iati_schema/`` (from the pyIATI 0.4.1 source package; see docs/dependencies.md).

One ``iati-activity`` per project (``{org_ref}-{project}``): its budgets per fiscal year with an approved budget —
type 1 *original* (version 1) and, when the year was revised, type 2 *revised* (the current
version) — in the reporting currency at the year's budget rate, as the reports give them; and
every approved transaction in its own currency with its value date (incoming funds 1, outgoing
commitment 2, disbursement 3, expenditure 4, incoming commitment 11). Pending and rejected
commitments are left out. So each activity's transaction totals per type and currency are the
ledger's, exactly.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from lxml import etree

from sathub.budget import reports
from sathub.budget.config import BudgetConfig
from sathub.budget.model import IATI_TX_CODE, INCOMING
from sathub.budget.money import from_minor
from sathub.budget.store import BudgetReader
from sathub.errors import Conflict

SCHEMA = Path(__file__).parent / "iati_schema" / "iati-activities-schema.xsd"
ORG_TYPE_GOVERNMENT = "10"
ROLE_FUNDING, ROLE_IMPLEMENTING = "1", "4"
STATUS_IMPLEMENTATION = "2"
DATE_PLANNED_START, DATE_PLANNED_END = "1", "3"
BUDGET_ORIGINAL, BUDGET_REVISED, BUDGET_COMMITTED = "1", "2", "2"


def _narrative(parent: etree._Element, tag: str, text: str, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, **attrs)
    etree.SubElement(el, "narrative").text = text
    return el


def activities(r: BudgetReader, config: BudgetConfig, *, now: dt.datetime | None = None) -> bytes:
    """The IATI activities file of the whole ledger (UTF-8 XML)."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    root = etree.Element("iati-activities", version="2.03")
    root.set("generated-datetime", stamp)
    years = {y.code: y for y in r.years()}
    funding = {f.code: f for f in r.fundings()}
    rep = reports.report(r, config, ["project", "year"])
    for project in r.projects():
        txs = [t for t in r.transactions(project=project.code) if t.status == "approved"]
        budgets = [row for row in rep.rows if row["project"] == project.code]
        if not txs and not budgets:
            continue
        act = etree.SubElement(root, "iati-activity", hierarchy="2")
        act.set("last-updated-datetime", stamp)
        act.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        act.set("default-currency", config.currency)
        etree.SubElement(act, "iati-identifier").text = f"{config.org_ref}-{project.code}"
        _narrative(act, "reporting-org", config.org_name, ref=config.org_ref, type=ORG_TYPE_GOVERNMENT)
        _narrative(act, "title", project.name)
        _narrative(act, "description", project.description or f"{project.name} ({project.programme})")
        codes = sorted({ln.funding for ln in r.lines(project=project.code)} | {t.funding for t in txs})
        for code in codes:
            _narrative(act, "participating-org", funding[code].name, role=ROLE_FUNDING)
        _narrative(act, "participating-org", config.org_name, role=ROLE_IMPLEMENTING, ref=config.org_ref,
                   type=ORG_TYPE_GOVERNMENT)  # fmt: skip
        etree.SubElement(act, "activity-status", code=STATUS_IMPLEMENTATION)
        spans = [years[b["year"]] for b in budgets] or [years[t.year] for t in txs]
        act_start, act_end = min(y.start for y in spans), max(y.end for y in spans)
        etree.SubElement(act, "activity-date", type=DATE_PLANNED_START).set("iso-date", act_start.isoformat())
        etree.SubElement(act, "activity-date", type=DATE_PLANNED_END).set("iso-date", act_end.isoformat())
        for b in budgets:
            fy = years[b["year"]]
            approved = [v for v in r.versions(fy.code) if v.status == "approved"]
            if not approved:
                continue  # a draft budget is not reported
            revised = len(approved) > 1
            kinds = [(BUDGET_ORIGINAL, b["approved"])] + ([(BUDGET_REVISED, b["revised"])] if revised else [])
            for kind, value in kinds:
                el = etree.SubElement(act, "budget", type=kind, status=BUDGET_COMMITTED)
                etree.SubElement(el, "period-start").set("iso-date", fy.start.isoformat())
                etree.SubElement(el, "period-end").set("iso-date", fy.end.isoformat())
                v = etree.SubElement(el, "value", currency=config.currency)
                v.set("value-date", fy.start.isoformat())
                v.text = str(value)
        for t in txs:
            el = etree.SubElement(act, "transaction", ref=f"budget:tx:{t.id}")
            etree.SubElement(el, "transaction-type", code=IATI_TX_CODE[t.kind])
            etree.SubElement(el, "transaction-date").set("iso-date", t.value_date.isoformat())
            v = etree.SubElement(el, "value", currency=t.currency)
            v.set("value-date", t.value_date.isoformat())
            v.text = str(from_minor(t.amount_minor, t.currency))
            if t.description or t.reference:
                _narrative(el, "description", " — ".join(x for x in (t.reference, t.description) if x))
            if t.counterparty:
                _narrative(el, "provider-org" if t.kind in INCOMING else "receiver-org", t.counterparty)
    if len(root) == 0:  # the schema needs one activity at least
        raise Conflict("the budget holds no project with budgets or transactions to report yet",
                       field="budget")  # fmt: skip
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def validate(xml: bytes) -> list[str]:
    """Errors of ``xml`` against the bundled IATI activity schema 2.03 (empty: valid)."""
    schema = _schema()
    try:
        doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [f"not XML: {exc}"]
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]
